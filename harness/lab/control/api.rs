//! The HTTP side of the control API: Toxiproxy's routes, status codes and JSON, served by hyper.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::error::ApiError;
use super::toxic::Toxic;
use super::{Control, LinkView};
use crate::lab::context::Serving;

/// The largest body the API reads: a populate of a few thousand links fits.
const MAX_BODY: usize = 1024 * 1024;

/// What `GET /version` reports.
const VERSION: &str = concat!("egresslab ", env!("CARGO_PKG_VERSION"));

/// Serve the API on `listener` until `shutdown`.
pub(super) async fn serve(listener: TcpListener, control: Control, serving: Serving) {
    let shutdown = serving.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let control = control.clone();
        let shutdown = shutdown.clone();
        serving.tasks.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let control = control.clone();
                async move { Ok::<_, Infallible>(answer(&control, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = shutdown.cancelled() => {}
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "control API connection ended");
                    }
                }
            }
        });
    }
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn error_response(error: &ApiError) -> Response<Full<Bytes>> {
    json_response(error.status, &error.to_json())
}

/// Toxiproxy's JSON for a link.
pub(super) fn link_json(link: &LinkView) -> Value {
    json!({
        "name": link.name,
        "listen": link.listen.to_string(),
        "upstream": link.upstream,
        "enabled": link.enabled,
        "toxics": link.toxics.iter().map(Toxic::to_json).collect::<Vec<_>>(),
    })
}

async fn answer(control: &Control, request: Request<Incoming>) -> Response<Full<Bytes>> {
    // Toxiproxy refuses browsers, so that a web page cannot drive the API by cross-site requests.
    let browser = request
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with("Mozilla/"));
    if browser {
        let mut response = Response::new(Full::new(Bytes::from("User agent not allowed\n")));
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return error_response(&ApiError::bad_body(format!(
                "cannot read the body: {error}"
            )))
        }
    };
    control.call(&method, &path, &body).await
}

impl Control {
    /// Answer one API request as the HTTP listener would (without its refusal of browsers), so
    /// that another front (the web view, which checks the page's origin instead) serves the same
    /// routes with the same status codes and JSON.
    pub async fn call(&self, method: &Method, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
        match route(self, method, path, body).await {
            Ok(response) => response,
            Err(error) => error_response(&error),
        }
    }
}

/// A link as a client posts it to `POST /proxies`, `/populate` or `POST|PATCH /proxies/{proxy}`
/// (where only `listen`, `upstream` and `enabled` count, as in Toxiproxy).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    name: Option<String>,
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
    /// Sent back by some clients; ignored, as in Toxiproxy.
    #[serde(default)]
    #[allow(dead_code)]
    toxics: Option<Value>,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::from_json)
}

fn create(control: &Control, new: LinkBody) -> Result<LinkView, ApiError> {
    let name = new
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let upstream = new
        .upstream
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::missing("upstream"))?;
    control.create_link(
        &name,
        new.listen.as_deref().unwrap_or("127.0.0.1:0"),
        &upstream,
        new.enabled.unwrap_or(true),
    )
}

fn populate(control: &Control, body: &[u8]) -> Result<Vec<LinkView>, ApiError> {
    let links: Vec<LinkBody> = parse(body)?;
    let mut out = Vec::with_capacity(links.len());
    for new in links {
        let name = new.name.clone().unwrap_or_default();
        // As Toxiproxy: a link of that name with the same listen address and upstream is kept,
        // one that differs is replaced.
        if let Ok(existing) = control.get(&name) {
            let same_upstream = new.upstream.as_deref() == Some(existing.upstream.as_str());
            let same_listen = new
                .listen
                .as_deref()
                .is_none_or(|l| l == existing.listen.to_string() || l.ends_with(":0"));
            if same_upstream && same_listen {
                out.push(existing);
                continue;
            }
            control.delete_link(&name)?;
        }
        out.push(create(control, new)?);
    }
    Ok(out)
}

async fn route(
    control: &Control,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Response<Full<Bytes>>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_allowed = || ApiError::method(method.as_str(), path);
    match segments.as_slice() {
        ["version"] => match *method {
            Method::GET => Ok(json_response(200, &json!({ "version": VERSION }))),
            _ => Err(not_allowed()),
        },
        ["reset"] => match *method {
            Method::POST => control.reset().map(|()| empty(StatusCode::NO_CONTENT)),
            _ => Err(not_allowed()),
        },
        ["populate"] => match *method {
            Method::POST => {
                let links = populate(control, body)?;
                let list: Vec<Value> = links.iter().map(link_json).collect();
                Ok(json_response(201, &json!({ "proxies": list })))
            }
            _ => Err(not_allowed()),
        },
        ["proxies"] => match *method {
            Method::GET => {
                let all: serde_json::Map<String, Value> = control
                    .list()
                    .iter()
                    .map(|l| (l.name.clone(), link_json(l)))
                    .collect();
                Ok(json_response(200, &Value::Object(all)))
            }
            Method::POST => {
                let link = create(control, parse(body)?)?;
                Ok(json_response(201, &link_json(&link)))
            }
            _ => Err(not_allowed()),
        },
        ["proxies", name] => match *method {
            Method::GET => Ok(json_response(200, &link_json(&control.get(name)?))),
            Method::POST | Method::PATCH => {
                control.get(name)?;
                let change: LinkBody = parse(body)?;
                let link = control.update_link(
                    name,
                    change.listen.as_deref(),
                    change.upstream.as_deref(),
                    change.enabled,
                )?;
                Ok(json_response(200, &link_json(&link)))
            }
            Method::DELETE => control
                .delete_link(name)
                .map(|()| empty(StatusCode::NO_CONTENT)),
            _ => Err(not_allowed()),
        },
        ["proxies", name, "toxics"] => match *method {
            Method::GET => {
                let link = control.get(name)?;
                let list: Vec<Value> = link.toxics.iter().map(Toxic::to_json).collect();
                Ok(json_response(200, &Value::Array(list)))
            }
            Method::POST => {
                control.get(name)?;
                let toxic = control.add_toxic(name, Toxic::from_body(body)?)?;
                Ok(json_response(200, &toxic.to_json()))
            }
            _ => Err(not_allowed()),
        },
        ["proxies", name, "toxics", toxic] => match *method {
            Method::GET => Ok(json_response(200, &control.toxic(name, toxic)?.to_json())),
            Method::POST | Method::PATCH => {
                let updated = control.update_toxic(name, toxic, |t| t.updated(body))?;
                Ok(json_response(200, &updated.to_json()))
            }
            Method::DELETE => control
                .remove_toxic(name, toxic)
                .map(|()| empty(StatusCode::NO_CONTENT)),
            _ => Err(not_allowed()),
        },
        ["egresslab", rest @ ..] => egresslab_route(control, method, path, rest, body).await,
        _ => Err(ApiError::no_route(method.as_str(), path)),
    }
}

/// egresslab's own routes (see [`super::lab`]), under a prefix no Toxiproxy route uses.
async fn egresslab_route(
    control: &Control,
    method: &Method,
    path: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Response<Full<Bytes>>, ApiError> {
    let not_allowed = || ApiError::method(method.as_str(), path);
    let post = *method == Method::POST;
    let answer = match rest {
        ["proxies", name] if *method == Method::GET => control.proxy_state(name)?,
        ["proxies", name, word @ ("up" | "down")] if post => {
            control.proxy_state(name)?;
            control.update_link(name, None, None, Some(*word == "up"))?;
            control.proxy_state(name)?
        }
        ["proxies", name, "rules"] if post => control.add_rule(name, parse(body)?)?,
        ["proxies", name, "rules"] if *method == Method::DELETE => control.restore_rules(name)?,
        ["proxies", name, "auth"] if post => control.set_auth(name, parse(body)?)?,
        ["proxies", name, "interception"] if post => {
            control.set_interception(name, parse(body)?)?
        }
        ["firewall"] if post => control.set_firewall(parse(body)?).await?,
        ["endpoints", name, "certificate"] if post => {
            control.set_certificate(name, parse(body)?)?
        }
        ["names", name] if post => control.set_name(name, parse(body)?)?,
        ["proxies", _]
        | ["proxies", _, _]
        | ["firewall"]
        | ["endpoints", _, "certificate"]
        | ["names", _] => return Err(not_allowed()),
        _ => return Err(ApiError::no_route(method.as_str(), path)),
    };
    Ok(json_response(200, &answer))
}
