//! Relaying a tunnel both ways, carrying each side's half-close through and counting bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::sync::CancellationToken;

/// How a tunnel ended and what crossed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relayed {
    /// Bytes from the client to the origin.
    pub up: u64,
    /// Bytes from the origin to the client.
    pub down: u64,
    /// Why it ended, in words for the timeline.
    pub reason: String,
}

impl Relayed {
    /// A tunnel that ended before any byte crossed it, for `reason`.
    pub(crate) fn gone(reason: &str) -> Relayed {
        Relayed {
            up: 0,
            down: 0,
            reason: reason.to_owned(),
        }
    }

    /// Whether both directions reached their end of stream, so each side's write half is already
    /// shut down (by the relay, carrying the other side's FIN): a further shutdown would only
    /// fail with ENOTCONN, one wasted system call per tunnel.
    pub(crate) fn both_shut(&self) -> bool {
        self.reason.ends_with(CLOSED_FIRST)
    }
}

/// The end of the reason of a tunnel whose two directions both ended with a FIN.
const CLOSED_FIRST: &str = " closed first";

/// How one direction ended.
pub(crate) enum End {
    /// The reader reached end of stream and the writer was shut down.
    Eof,
    /// Reading or writing failed.
    Failed(&'static str, std::io::Error),
}

/// Copy `from` into `to` until end of stream, then shut `to` down (the half-close goes through).
async fn pump<R, W>(from: &mut R, to: &mut W, count: &mut u64, reader: &'static str) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                // The peer may already be gone; the other direction reports that.
                let _ = to.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(error) => return End::Failed(reader, error),
        };
        if let Err(error) = to.write_all(&buf[..n]).await {
            return End::Failed(
                if reader == "client" {
                    "origin"
                } else {
                    "client"
                },
                error,
            );
        }
        if let Err(error) = to.flush().await {
            return End::Failed(
                if reader == "client" {
                    "origin"
                } else {
                    "client"
                },
                error,
            );
        }
        *count += n as u64;
    }
}

/// Relay between `client` and `origin` until both directions have ended, one side fails, or
/// `shutdown` is cancelled.
pub(crate) async fn relay<C, O>(client: C, origin: O, shutdown: &CancellationToken) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin,
    O: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut origin_read, mut origin_write) = tokio::io::split(origin);
    let (mut up, mut down) = (0u64, 0u64);
    let reason = {
        let upward = pump(&mut client_read, &mut origin_write, &mut up, "client");
        let downward = pump(&mut origin_read, &mut client_write, &mut down, "origin");
        drive(upward, downward, shutdown).await
    };
    Relayed { up, down, reason }
}

/// Drive both directions of a tunnel until both have ended, one failed, or `shutdown` is cancelled;
/// returns the close reason recorded in the timeline.
pub(crate) async fn drive<U, D>(upward: U, downward: D, shutdown: &CancellationToken) -> String
where
    U: std::future::Future<Output = End>,
    D: std::future::Future<Output = End>,
{
    tokio::pin!(upward, downward);
    let (mut up_done, mut down_done) = (false, false);
    let mut first_eof = None;
    loop {
        let end = tokio::select! {
            () = shutdown.cancelled() => return "shutdown".to_owned(),
            end = &mut upward, if !up_done => { up_done = true; (end, "client") }
            end = &mut downward, if !down_done => { down_done = true; (end, "origin") }
        };
        match end {
            (End::Failed(side, error), _) => return format!("{side} error: {error}"),
            (End::Eof, side) => {
                first_eof.get_or_insert(side);
            }
        }
        if up_done && down_done {
            return format!("{}{CLOSED_FIRST}", first_eof.unwrap_or("client"));
        }
    }
}

/// A stream that first yields bytes already read from it (the peeked ClientHello).
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    offset: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Replay `prefix` before reading from `inner`.
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            offset: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.offset < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.offset);
            let start = self.offset;
            buf.put_slice(&self.prefix[start..start + n]);
            self.offset += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn half_close_is_carried_through_and_the_late_reply_arrives() {
        let (client, mut client_far) = tokio::io::duplex(1024);
        let (origin, mut origin_far) = tokio::io::duplex(1024);
        let shutdown = CancellationToken::new();
        let relay = tokio::spawn(async move { relay(client, origin, &shutdown).await });

        client_far.write_all(b"question").await.unwrap();
        client_far.shutdown().await.unwrap();
        let mut asked = Vec::new();
        origin_far.read_to_end(&mut asked).await.unwrap();
        assert_eq!(asked, b"question", "the origin sees the FIN after the data");
        origin_far
            .write_all(b"answer after your FIN")
            .await
            .unwrap();
        origin_far.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client_far.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer after your FIN");

        let relayed = relay.await.unwrap();
        assert_eq!((relayed.up, relayed.down), (8, 21));
        assert_eq!(relayed.reason, "client closed first");
    }

    #[tokio::test]
    async fn cancellation_ends_an_idle_tunnel() {
        let (client, _client_far) = tokio::io::duplex(64);
        let (origin, _origin_far) = tokio::io::duplex(64);
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let relayed = relay(client, origin, &shutdown).await;
        assert_eq!(relayed.reason, "shutdown");
    }

    #[tokio::test]
    async fn prefixed_replays_then_reads_through() {
        let inner: &[u8] = b" world";
        let mut stream = Prefixed::new(b"hello".to_vec(), inner);
        let mut all = String::new();
        stream.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }
}
