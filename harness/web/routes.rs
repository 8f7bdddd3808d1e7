//! The web view's HTTP routes, served by hyper: the embedded page, `/api/...` (topology, events,
//! connections, stories, the control API) and `/download/...`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{assets, events, guard, topology, WebLab};

/// The largest body the page posts to the control API.
const MAX_BODY: usize = 64 * 1024;

/// The policy every answer carries: nothing but this origin, no framing by another site.
const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

type Body = BoxBody<Bytes, Infallible>;

/// Serve `lab` on `listener` (which is bound to `address`) until the task is aborted.
pub(super) async fn serve(listener: TcpListener, lab: Arc<WebLab>, address: SocketAddr) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let lab = lab.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let lab = lab.clone();
                async move { Ok::<_, Infallible>(answer(&lab, address, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "web view connection ended");
            }
        });
    }
}

fn respond(status: StatusCode, media_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = hyper::header::HeaderValue::from_str(media_type) {
        headers.insert(hyper::header::CONTENT_TYPE, value);
    }
    headers.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        hyper::header::HeaderValue::from_static(CSP),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn text(status: StatusCode, message: String) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", full(message + "\n"))
}

fn json(value: &serde_json::Value) -> Response<Body> {
    respond(StatusCode::OK, "application/json", full(value.to_string()))
}

fn download(name: &str, media_type: &str, bytes: Vec<u8>) -> Response<Body> {
    let mut response = respond(StatusCode::OK, media_type, full(bytes));
    if let Ok(value) =
        hyper::header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn answer(lab: &WebLab, address: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let method = request.method().clone();
    if let Some(why) = guard::refusal(request.headers(), address) {
        tracing::warn!(%path, %why, "web view refused a request");
        return text(StatusCode::FORBIDDEN, why);
    }
    if let Some(api) = path.strip_prefix("/api/control") {
        let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {error}"),
                )
            }
        };
        return lab
            .control
            .call(&method, api, &body)
            .await
            .map(|b| b.boxed());
    }
    if method != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} {path}: only GET here (the control API is under /api/control/)"),
        );
    }
    if let Some(asset) = assets::find(&path) {
        return respond(StatusCode::OK, asset.media_type, full(asset.text));
    }
    match path.as_str() {
        "/api/topology" => json(&topology::live_json(&lab.topology, &lab.control).await),
        "/api/connections" => json(&events::connections(&lab.timeline)),
        "/api/events" => {
            let from = match query_u64(&query, "from") {
                Ok(from) => from.unwrap_or(0),
                Err(why) => return text(StatusCode::BAD_REQUEST, why),
            };
            let stream = StreamBody::new(events::stream(lab.timeline.clone(), from));
            respond(StatusCode::OK, "text/event-stream", BodyExt::boxed(stream))
        }
        "/download/ca.pem" => download(
            "egresslab-ca.pem",
            "application/x-pem-file",
            lab.ca_pem.clone().into_bytes(),
        ),
        "/download/ca.cer" => match pem::parse(&lab.ca_pem) {
            Ok(block) => download(
                "egresslab-ca.cer",
                "application/pkix-cert",
                block.into_contents(),
            ),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the lab CA is not PEM: {error}"),
            ),
        },
        "/download/scenario.toml" => file(
            lab.scenario_file.as_deref(),
            "scenario.toml",
            "the scenario came from the built-in catalog, not a file on disk",
        ),
        "/download/lab.har" => file(
            lab.har.as_deref(),
            "lab.har",
            "the lab is not recording HAR (start it with --har FILE)",
        ),
        "/download/lab.pcapng" => {
            // What is buffered goes to the file first, so the download holds every whole block.
            if let Some((_, capture)) = &lab.capture {
                capture.flush();
            }
            file(
                lab.capture.as_ref().map(|(path, _)| path.as_path()),
                "lab.pcapng",
                "the lab is not capturing (start it with --capture FILE.pcapng)",
            )
        }
        _ => match path.strip_prefix("/api/connections/") {
            Some(id) => match id.parse::<u64>() {
                Ok(id) => json(&events::story(&lab.timeline, id)),
                Err(_) => text(
                    StatusCode::BAD_REQUEST,
                    format!("/api/connections/{id}: expected a connection id (a number)"),
                ),
            },
            None => text(StatusCode::NOT_FOUND, format!("{path}: no such page")),
        },
    }
}

fn file(path: Option<&std::path::Path>, name: &str, missing: &str) -> Response<Body> {
    let Some(path) = path else {
        return text(StatusCode::NOT_FOUND, missing.to_owned());
    };
    match std::fs::read(path) {
        Ok(bytes) => download(name, "application/octet-stream", bytes),
        Err(error) => text(
            StatusCode::NOT_FOUND,
            format!("{}: {error}", path.display()),
        ),
    }
}

/// The number `name=N` in a query string, if there.
fn query_u64(query: &str, name: &str) -> Result<Option<u64>, String> {
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            return value
                .parse()
                .map(Some)
                .map_err(|_| format!("?{name}={value}: expected a number (an event's seq)"));
        }
    }
    Ok(None)
}
