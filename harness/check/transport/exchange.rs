//! One HTTP/1.1 GET spoken by hyper's client over a stream the checks opened (a direct TCP
//! connection, a CONNECT or SOCKS5 tunnel, a TLS session), with what the network did kept for the
//! diagnosis when the exchange fails.
//!
//! hyper frames the request and parses the answer; what it does not keep after a failure — how many
//! bytes came before the peer closed, the first bytes of a foreign answer, the TLS alert that ended
//! the session — the stream wrapper [`SharedIo`] records, so "closed mid-answer", "not an HTTP
//! response" and a lost client certificate stay told apart.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::http::{content_length, NOT_HTTP};
use super::tcp::BoxIo;
use super::tls::{self, HsOutcome};

/// How a failed exchange's reason starts when nothing came back in time (the connection stayed open).
pub const NO_ANSWER: &str = "no answer within";

/// The largest answer head accepted; hyper refuses a larger one as a parse error.
const HEAD_LIMIT: usize = 64 * 1024;

/// How long a failed write waits for a TLS alert that had not been read yet.
const ALERT_WAIT: Duration = Duration::from_millis(200);

/// An answer whose head arrived: its status line and headers, and the body still to be read.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Reason phrase as the server sent it (the canonical one when it sent none hyper kept).
    pub reason: String,
    /// Headers in the order they came (name, value).
    pub headers: Vec<(String, String)>,
    body: Incoming,
    _connection: Driver,
}

/// Why an exchange produced no answer head, in the checks' words, and the TLS alert that ended the
/// session if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened ("closed without answering", "not an HTTP response: …", "no answer within …").
    pub why: String,
    /// The alert the TLS peer sent, when the stream was TLS and the session ended with one.
    pub alert: Option<AlertDescription>,
}

/// How much of an answer's body arrived, and how long that took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRead {
    /// Body bytes received.
    pub bytes: u64,
    /// What `Content-Length` announced (0 when it announced nothing).
    pub announced: u64,
    /// From the request to the last byte read.
    pub elapsed: Duration,
}

/// Send `GET path` for `host` over `io` (HTTP/1.1, `Connection: close`) and wait at most `timeout`
/// for the answer's head.
pub async fn get(io: BoxIo, host: &str, path: &str, timeout: Duration) -> Result<Answer, Failure> {
    let shared = SharedIo::new(io);
    let record = shared.record.clone();
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(HEAD_LIMIT)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(shared.clone()))
            .await
            .map_err(|e| describe(&e, &record))?;
        let driver = Driver(tokio::spawn(async move {
            // The error, if any, reaches the sender's future as well; it is read there.
            let _ = connection.await;
        }));
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, host)
            .header(hyper::header::USER_AGENT, "egresslab-check")
            .header(hyper::header::ACCEPT, "*/*")
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("the request for {host}{path} could not be formed: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| describe(&e, &record))?;
        Ok::<_, String>((response, driver))
    };
    let outcome = tokio::time::timeout(timeout, exchange).await;
    let failure = |why: String| Failure {
        alert: record.lock_or_poisoned().alert,
        why,
    };
    let (response, driver) = match outcome {
        Err(_) => return Err(failure(format!("{NO_ANSWER} {timeout:?}"))),
        Ok(Err(why)) => {
            wait_for_alert(&shared, &record).await;
            return Err(failure(why));
        }
        Ok(Ok(x)) => x,
    };
    let (parts, body) = response.into_parts();
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| parts.status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    Ok(Answer {
        status: parts.status.as_u16(),
        reason,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        _connection: driver,
    })
}

impl Answer {
    /// The `Content-Length` the answer announces, if any.
    pub fn content_length(&self) -> Option<u64> {
        content_length(&self.headers)
    }

    /// Read the body, at most `limit` bytes, until it ends or `budget` since `sent` (when the
    /// request went out) is spent; a slow body is measured, not waited for.
    pub async fn read_body(&mut self, limit: u64, sent: Instant, budget: Duration) -> BodyRead {
        let deadline = tokio::time::Instant::from_std(sent + budget);
        let bytes = self.frames(limit, deadline, |_| {}).await;
        BodyRead {
            bytes,
            announced: self.content_length().unwrap_or(0),
            elapsed: sent.elapsed(),
        }
    }

    /// Collect the body, at most `limit` bytes, within `budget`; what arrived by then is returned.
    pub async fn collect(&mut self, limit: u64, budget: Duration) -> Vec<u8> {
        let mut body = Vec::new();
        let deadline = tokio::time::Instant::now() + budget;
        self.frames(limit, deadline, |data| body.extend_from_slice(data))
            .await;
        body
    }

    /// Hand the body's data to `keep`, at most `limit` bytes, until it ends, fails or `deadline`
    /// passes; how many bytes were handed.
    async fn frames(
        &mut self,
        limit: u64,
        deadline: tokio::time::Instant,
        mut keep: impl FnMut(&[u8]),
    ) -> u64 {
        let mut bytes = 0u64;
        while bytes < limit {
            let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, self.body.frame()).await
            else {
                break;
            };
            if let Some(data) = frame.data_ref() {
                let room = usize::try_from(limit - bytes).unwrap_or(usize::MAX);
                let data = &data[..data.len().min(room)];
                keep(data);
                bytes += data.len() as u64;
            }
        }
        bytes
    }
}

/// The task that drives hyper's connection; the connection is dropped with the answer.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// hyper's error in the checks' words, with what the stream recorded.
fn describe(error: &hyper::Error, record: &Mutex<Record>) -> String {
    let record = record.lock_or_poisoned();
    if error.is_parse_too_large() {
        return format!("{NOT_HTTP}: head larger than 64 KiB");
    }
    if error.is_parse() || error.is_parse_status() {
        return format!(
            "{NOT_HTTP}: {:?}",
            String::from_utf8_lossy(&record.first_bytes)
        );
    }
    if let Some(why) = &record.read_error {
        return format!("read failed: {why}");
    }
    if let Some(why) = &record.write_error {
        return format!("write failed: {why}");
    }
    if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        return if record.bytes_read == 0 {
            "closed without answering".to_owned()
        } else {
            format!("closed mid-answer after {} bytes", record.bytes_read)
        };
    }
    error.to_string()
}

/// After a failed write with no alert seen yet, read the stream once more, briefly: a TLS server
/// that refused the client's certificate may have sent its alert before the write failed. After a
/// failed read nothing more can come (rustls repeats its error; an alert would already be the one
/// read), so nothing is waited for then, nor after an answer that was not HTTP.
async fn wait_for_alert(shared: &SharedIo, record: &Mutex<Record>) {
    {
        let record = record.lock_or_poisoned();
        if record.alert.is_some() || record.write_error.is_none() {
            return;
        }
    }
    let mut io = shared.clone();
    let mut byte = [0u8; 1];
    let _ = tokio::time::timeout(ALERT_WAIT, io.read(&mut byte)).await;
}

/// What the stream saw while hyper used it.
#[derive(Debug, Default)]
struct Record {
    bytes_read: u64,
    first_bytes: Vec<u8>,
    read_error: Option<String>,
    write_error: Option<String>,
    alert: Option<AlertDescription>,
}

impl Record {
    fn error(&mut self, error: &io::Error) {
        if let HsOutcome::Alert(alert) = tls::classify_io(error) {
            self.alert.get_or_insert(alert);
        }
    }
}

/// How many leading bytes of an answer are kept to show a foreign one.
const FIRST_BYTES: usize = 40;

trait LockOrPoisoned<T> {
    fn lock_or_poisoned(&self) -> MutexGuard<'_, T>;
}

impl<T> LockOrPoisoned<T> for Mutex<T> {
    /// The guard, also when a panicking holder poisoned the lock (the record stays usable).
    fn lock_or_poisoned(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The checks' stream handed to hyper, shared with the failure path that reads it again; it
/// records what it carries into the shared [`Record`].
#[derive(Clone)]
struct SharedIo {
    io: Arc<Mutex<BoxIo>>,
    record: Arc<Mutex<Record>>,
}

impl SharedIo {
    fn new(io: BoxIo) -> Self {
        Self {
            io: Arc::new(Mutex::new(io)),
            record: Arc::new(Mutex::new(Record::default())),
        }
    }
}

impl AsyncRead for SharedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut **self.io.lock_or_poisoned()).poll_read(cx, buf);
        let mut record = self.record.lock_or_poisoned();
        match &polled {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                record.bytes_read += new.len() as u64;
                let room = FIRST_BYTES.saturating_sub(record.first_bytes.len());
                record
                    .first_bytes
                    .extend_from_slice(&new[..new.len().min(room)]);
            }
            Poll::Ready(Err(e)) => {
                record.error(e);
                record.read_error.get_or_insert_with(|| e.to_string());
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl AsyncWrite for SharedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut **self.io.lock_or_poisoned()).poll_write(cx, data);
        if let Poll::Ready(Err(e)) = &polled {
            let mut record = self.record.lock_or_poisoned();
            record.error(e);
            record.write_error.get_or_insert_with(|| e.to_string());
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.io.lock_or_poisoned()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.io.lock_or_poisoned()).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
