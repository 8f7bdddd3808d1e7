//! A client of the control API from outside the lab (what `egresslab ctl` speaks): Toxiproxy's
//! routes over HTTP/1.1 with hyper, one connection per call, each call bounded in time and size.
//!
//! It talks to any Toxiproxy-compatible API, so toxic types stay strings: the server is the one that
//! knows which it has, and its refusal comes back as [`ClientError::Api`] in its own words.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpStream;

use super::toxic::Stream;

/// How long one call may take from connect to the last byte. The API answers at once; this only
/// bounds a peer that accepts and then says nothing.
pub const CALL_LIMIT: Duration = Duration::from_secs(10);

/// The largest answer read; a listing of a few thousand links fits.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// How much of a non-JSON error body is kept in [`ClientError::Api`].
const MAX_ERROR_TEXT: usize = 200;

/// What went wrong talking to the control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The address given is not `http://HOST:PORT` (or `HOST:PORT`).
    #[error("`{url}` is not a control API address: {reason}")]
    BadUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A link or toxic name that cannot stand in a URL path as it is.
    #[error("`{name}` cannot be named in a request path (only letters, digits and -._~!$&'()*+,;=:@ can)")]
    BadName {
        /// The name.
        name: String,
    },
    /// No TCP connection to the API.
    #[error("cannot connect to the control API at {address}")]
    Connect {
        /// `HOST:PORT` tried.
        address: String,
        /// Why not; `ConnectionRefused` when nothing listens there.
        #[source]
        source: std::io::Error,
    },
    /// Connected, but the HTTP exchange failed (the peer closed early, did not speak HTTP, or sent
    /// more than the answer limit).
    #[error("the HTTP exchange with {address} failed")]
    Http {
        /// `HOST:PORT`.
        address: String,
        /// hyper's error, or the size limit's.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No complete answer within [`CALL_LIMIT`].
    #[error("no answer from {address} within {limit:?}")]
    TimedOut {
        /// `HOST:PORT`.
        address: String,
        /// The limit that ran out.
        limit: Duration,
    },
    /// The API refused: its `{"error": "...", "status": N}` answer.
    #[error("{message} (HTTP {status})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's `error` text (or the start of a body that was not that JSON).
        message: String,
    },
    /// A request body that could not be written as JSON.
    #[error("cannot write the body of {method} {path}")]
    Encode {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// serde's words for what did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// A success whose body is not the JSON expected.
    #[error("unexpected answer to {method} {path}")]
    Decode {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// serde's words for what did not fit.
        #[source]
        source: serde_json::Error,
    },
}

/// A link as the API shows it: Toxiproxy's proxy JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LinkInfo {
    /// Its name.
    pub name: String,
    /// Where it listens, `HOST:PORT` with the real port.
    pub listen: String,
    /// Where it relays to, as it was given.
    pub upstream: String,
    /// False while it refuses connections.
    pub enabled: bool,
    /// Its toxics, in the order they were added.
    #[serde(default)]
    pub toxics: Vec<ToxicInfo>,
}

/// A toxic as the API shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToxicInfo {
    /// Its name, unique on its link.
    pub name: String,
    /// Its type (`latency`, `bandwidth`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The direction it acts on.
    pub stream: Stream,
    /// The chance, per connection, that it acts.
    pub toxicity: f64,
    /// Its attributes, in the server's units.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// A toxic to add: what `POST /proxies/{proxy}/toxics` takes. Fields left `None` get the server's
/// defaults (name `TYPE_STREAM`, toxicity 1.0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewToxic {
    /// Its name; `None` lets the server name it `TYPE_STREAM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The direction it acts on.
    pub stream: Stream,
    /// The chance per connection; `None` for the server's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f64>,
    /// Its attributes.
    pub attributes: Map<String, Value>,
}

/// A change to a toxic: `attributes` are merged into its own, `toxicity` replaces its own when given.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToxicChange {
    /// A new chance per connection, or `None` to keep it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f64>,
    /// Attributes to set; those not named keep their values.
    pub attributes: Map<String, Value>,
}

/// A client of one control API, at the address `egresslab up --control` printed.
///
/// ```
/// use egresslab::lab::control::client::ControlClient;
/// use egresslab::lab::control::ControlOptions;
/// use egresslab::lab::{EndpointPlan, Lab};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let lab = Lab::builder()
///     .endpoint(EndpointPlan::http("portal", &["portal.egresslab.test"], 80))
///     .start()
///     .await
///     .unwrap();
/// let control = lab.start_control(ControlOptions::default()).unwrap();
/// let client = ControlClient::new(&format!("http://{}", control.address())).unwrap();
/// let link = client.create("portal-slow", "127.0.0.1:0", "portal").await.unwrap();
/// assert!(link.enabled && !link.listen.ends_with(":0"));
/// // The lab's own endpoint is listed beside the link.
/// let links = client.links().await.unwrap();
/// assert_eq!(links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["portal", "portal-slow"]);
/// assert_eq!(links[1], link);
/// lab.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ControlClient {
    /// `HOST:PORT`, for the connection and the `Host` header.
    authority: String,
}

impl ControlClient {
    /// A client of the API at `url`: `http://HOST:PORT`, `http://HOST:PORT/` or `HOST:PORT` (port 80
    /// when none is given, as for any HTTP URL). Nothing is sent until the first call.
    pub fn new(url: &str) -> Result<ControlClient, ClientError> {
        let bad = |reason| ClientError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some("https") => return Err(bad("https is not supported: the API speaks plain HTTP")),
            Some(_) => return Err(bad("the scheme must be http")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not supported"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("a path is not supported"));
        }
        let port = authority.port_u16().unwrap_or(80);
        Ok(ControlClient {
            authority: format!("{}:{port}", authority.host()),
        })
    }

    /// The `HOST:PORT` this client connects to.
    pub fn address(&self) -> &str {
        &self.authority
    }

    /// Every link, sorted by name (`GET /proxies`).
    pub async fn links(&self) -> Result<Vec<LinkInfo>, ClientError> {
        let all: std::collections::BTreeMap<String, LinkInfo> =
            self.call(Method::GET, "/proxies", None).await?;
        Ok(all.into_values().collect())
    }

    /// One link with its toxics (`GET /proxies/{name}`).
    pub async fn link(&self, name: &str) -> Result<LinkInfo, ClientError> {
        let path = format!("/proxies/{}", segment(name)?);
        self.call(Method::GET, &path, None).await
    }

    /// Create a link listening on `listen` (port 0 picks one) and relaying to `upstream`
    /// (`POST /proxies`).
    pub async fn create(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<LinkInfo, ClientError> {
        let body = serde_json::json!({ "name": name, "listen": listen, "upstream": upstream });
        self.call(Method::POST, "/proxies", Some(body)).await
    }

    /// Enable or disable a link (`POST /proxies/{name}`, the verb Toxiproxy's own clients use).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<LinkInfo, ClientError> {
        let path = format!("/proxies/{}", segment(name)?);
        let body = serde_json::json!({ "enabled": enabled });
        self.call(Method::POST, &path, Some(body)).await
    }

    /// Delete a link and its toxics (`DELETE /proxies/{name}`).
    pub async fn delete(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{}", segment(name)?);
        self.call_empty(Method::DELETE, &path, None).await
    }

    /// Add a toxic to a link (`POST /proxies/{link}/toxics`); the answer has the server's defaults
    /// filled in.
    pub async fn add_toxic(&self, link: &str, toxic: &NewToxic) -> Result<ToxicInfo, ClientError> {
        let path = format!("/proxies/{}/toxics", segment(link)?);
        let body = encode(Method::POST, &path, toxic)?;
        self.call(Method::POST, &path, Some(body)).await
    }

    /// Change a toxic (`PATCH /proxies/{link}/toxics/{toxic}`).
    pub async fn update_toxic(
        &self,
        link: &str,
        toxic: &str,
        change: &ToxicChange,
    ) -> Result<ToxicInfo, ClientError> {
        let path = format!("/proxies/{}/toxics/{}", segment(link)?, segment(toxic)?);
        let body = encode(Method::PATCH, &path, change)?;
        self.call(Method::PATCH, &path, Some(body)).await
    }

    /// Remove a toxic from a link (`DELETE /proxies/{link}/toxics/{toxic}`).
    pub async fn remove_toxic(&self, link: &str, toxic: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{}/toxics/{}", segment(link)?, segment(toxic)?);
        self.call_empty(Method::DELETE, &path, None).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let answer = self.exchange(method.clone(), path, body).await?;
        serde_json::from_slice(&answer).map_err(|source| ClientError::Decode {
            method,
            path: path.to_owned(),
            source,
        })
    }

    async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(), ClientError> {
        self.exchange(method, path, body).await.map(drop)
    }

    /// One request on a fresh connection; a success's body, or the API's error.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Bytes, ClientError> {
        tracing::debug!(%method, path, address = %self.authority, "control API call");
        let exchange = self.exchange_unbounded(method, path, body);
        let (status, answer) =
            tokio::time::timeout(CALL_LIMIT, exchange)
                .await
                .map_err(|_| ClientError::TimedOut {
                    address: self.authority.clone(),
                    limit: CALL_LIMIT,
                })??;
        if status.is_success() {
            Ok(answer)
        } else {
            Err(api_error(status, &answer))
        }
    }

    async fn exchange_unbounded(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let http = |source: Box<dyn std::error::Error + Send + Sync>| ClientError::Http {
            address: self.authority.clone(),
            source,
        };
        let stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|source| ClientError::Connect {
                address: self.authority.clone(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http(e.into()))?;
        let mut request = Request::new(Full::new(
            body.map(|b| Bytes::from(b.to_string())).unwrap_or_default(),
        ));
        *request.method_mut() = method;
        *request.uri_mut() = path
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| http(e.into()))?;
        let headers = request.headers_mut();
        let host = HeaderValue::from_str(&self.authority).map_err(|e| http(e.into()))?;
        headers.insert(HOST, host);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("egresslab-ctl/", env!("CARGO_PKG_VERSION"))),
        );
        let answer = async move {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
            // `sender` is dropped here, which lets `connection` finish.
        };
        // The connection is driven here rather than spawned, so nothing outlives the call.
        // A connection error after a complete answer changes nothing, so only the answer counts.
        let (answer, _connection) = tokio::join!(answer, connection);
        answer.map_err(http)
    }
}

fn encode(method: Method, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
    serde_json::to_value(body).map_err(|source| ClientError::Encode {
        method,
        path: path.to_owned(),
        source,
    })
}

/// A name as one path segment, refused when it has a character a path segment cannot carry as it is
/// (the API does not decode percent escapes, so an escaped name would name something else).
fn segment(name: &str) -> Result<&str, ClientError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c);
    if name.is_empty() || !name.chars().all(plain) {
        return Err(ClientError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(name)
}

/// The API's `{"error": "...", "status": N}`, or the start of whatever else came back.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(Deserialize)]
    struct Answer {
        error: String,
    }
    let message = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => answer.error,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                text.chars().take(MAX_ERROR_TEXT).collect()
            }
        }
    };
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(url: &str) -> String {
        ControlClient::new(url).unwrap().address().to_owned()
    }

    fn refusal(url: &str) -> &'static str {
        match ControlClient::new(url).unwrap_err() {
            ClientError::BadUrl { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_as_toxiproxy_clients_write_them() {
        assert_eq!(address("http://127.0.0.1:8474"), "127.0.0.1:8474");
        assert_eq!(address("http://localhost:8474/"), "localhost:8474");
        assert_eq!(address("127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(address("http://[::1]:8474"), "[::1]:8474");
        assert_eq!(address("http://127.0.0.1"), "127.0.0.1:80");
    }

    #[test]
    fn urls_that_would_mean_something_else_are_refused() {
        assert!(refusal("https://127.0.0.1:8474").contains("https"));
        assert!(refusal("ftp://127.0.0.1:8474").contains("scheme"));
        assert!(refusal("http://127.0.0.1:8474/api").contains("path"));
        assert!(refusal("http://user@127.0.0.1:8474").contains("user"));
        assert_eq!(refusal("not a url"), "not a URL");
    }

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        assert_eq!(segment("site-slow").unwrap(), "site-slow");
        assert_eq!(segment("latency_downstream").unwrap(), "latency_downstream");
        assert_eq!(segment("db:5432").unwrap(), "db:5432");
        for name in ["", "a/b", "a b", "50%", "a?b", "a#b", "a\nb", "é"] {
            assert!(
                matches!(segment(name), Err(ClientError::BadName { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn an_error_answer_keeps_the_api_words() {
        let error = api_error(
            StatusCode::NOT_FOUND,
            br#"{"error":"proxy not found","status":404}"#,
        );
        assert_eq!(error.to_string(), "proxy not found (HTTP 404)");
        let text = api_error(StatusCode::FORBIDDEN, b"User agent not allowed\n");
        assert_eq!(text.to_string(), "User agent not allowed (HTTP 403)");
        let empty = api_error(StatusCode::BAD_GATEWAY, b"");
        assert_eq!(empty.to_string(), "Bad Gateway (HTTP 502)");
        let long = api_error(StatusCode::BAD_REQUEST, &[b'x'; 10_000]);
        assert!(
            matches!(long, ClientError::Api { message, .. } if message.len() == MAX_ERROR_TEXT)
        );
    }

    /// A loopback peer that accepts, writes `answer` and then holds the connection open.
    async fn peer(answer: &'static [u8]) -> (ControlClient, tokio::task::JoinHandle<()>) {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = ControlClient::new(&listener.local_addr().unwrap().to_string()).unwrap();
        let held = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(answer).await.unwrap();
            std::future::pending::<()>().await;
        });
        (client, held)
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_says_nothing_is_given_up_on() {
        let (client, held) = peer(b"").await;
        let error = client.links().await.unwrap_err();
        assert!(
            matches!(error, ClientError::TimedOut { limit, .. } if limit == CALL_LIMIT),
            "{error:?}"
        );
        held.abort();
    }

    #[tokio::test]
    async fn a_peer_that_is_not_http_is_an_http_error() {
        let (client, held) = peer(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        let error = client.links().await.unwrap_err();
        assert!(matches!(error, ClientError::Http { .. }), "{error:?}");
        held.abort();
    }

    #[test]
    fn a_new_toxic_leaves_defaults_to_the_server() {
        let toxic = NewToxic {
            name: None,
            kind: "latency".to_owned(),
            stream: Stream::Downstream,
            toxicity: None,
            attributes: Map::from_iter([("latency".to_owned(), Value::from(100))]),
        };
        assert_eq!(
            serde_json::to_value(&toxic).unwrap(),
            serde_json::json!({"type": "latency", "stream": "downstream", "attributes": {"latency": 100}})
        );
    }
}
