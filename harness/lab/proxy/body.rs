//! A forwarded request's body: read from the client connection as its framing says (so that the
//! next request on a kept-alive connection starts where the body ends) and fed to hyper's client.
//!
//! The client side stays on the proxy's own head parser (Squid's byte-exact refusals need it), so
//! the body's framing is decoded here: `Content-Length` by counting, chunked with
//! `httparse::parse_chunk_size` for each size line. hyper re-frames it towards the origin.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::request::Framing;

/// How many body pieces may wait between the client reader and hyper (back-pressure).
const QUEUE: usize = 4;
/// The largest piece read from the client at once.
const PIECE: usize = 16 * 1024;
/// The longest chunk-size line (with extensions) or trailer block accepted.
const MAX_LINE: usize = 4096;

/// Why a request body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The client closed before the body ended.
    #[error("the client closed after {read} of the body's bytes")]
    Truncated {
        /// Body bytes read before the close.
        read: u64,
    },
    /// A chunk-size line or the trailers were not valid chunked coding.
    #[error("invalid chunked coding in the request body")]
    BadChunk,
    /// No byte came within the idle time-out.
    #[error("the request body stalled for {0:?}")]
    Stalled(Duration),
    /// Reading the client failed.
    #[error("reading the request body failed: {0}")]
    Io(#[source] std::io::Error),
}

/// The body hyper sends to the origin: pieces from [`pump`], with the exact size when the client
/// gave a `Content-Length` (so hyper sends that length, and chunks only a chunked body).
#[derive(Debug)]
pub(crate) struct Feed {
    pieces: Option<mpsc::Receiver<Result<Bytes, std::io::Error>>>,
    size: Option<u64>,
}

impl Feed {
    /// A feed for a body with this framing, and the sender [`pump`] fills (`None` without a body).
    pub(crate) fn new(
        framing: Framing,
    ) -> (Feed, Option<mpsc::Sender<Result<Bytes, std::io::Error>>>) {
        let size = match framing {
            Framing::None => Some(0),
            Framing::Length(n) => Some(n),
            Framing::Chunked => None,
        };
        if size == Some(0) {
            return (Feed { pieces: None, size }, None);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            Feed {
                pieces: Some(rx),
                size,
            },
            Some(tx),
        )
    }
}

impl Body for Feed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let Some(pieces) = self.pieces.as_mut() else {
            return Poll::Ready(None);
        };
        match pieces.poll_recv(cx) {
            Poll::Ready(Some(piece)) => Poll::Ready(Some(piece.map(Frame::data))),
            Poll::Ready(None) => {
                self.pieces = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.size
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// Reads of one body from the client: `buf` holds what already came after the head and, once the
/// body is read, what follows it (the next request).
pub(crate) struct Reader<'a, C> {
    client: &'a mut C,
    buf: &'a mut Vec<u8>,
    idle: Duration,
    read: u64,
}

impl<'a, C: AsyncRead + Unpin> Reader<'a, C> {
    /// A reader that waits at most `idle` for each read.
    pub(crate) fn new(client: &'a mut C, buf: &'a mut Vec<u8>, idle: Duration) -> Self {
        Reader {
            client,
            buf,
            idle,
            read: 0,
        }
    }

    /// Read the body framed as `framing` and send its bytes to `to` (dropped at the end, which
    /// ends the feed); a failure is sent too, so hyper aborts the request. Returns the body's
    /// length. Bytes go on being read when the origin stopped taking them, so the connection
    /// stays in step for the next request.
    pub(crate) async fn pump(
        mut self,
        framing: Framing,
        to: Option<mpsc::Sender<Result<Bytes, std::io::Error>>>,
    ) -> Result<u64, BodyError> {
        let Some(to) = to else { return Ok(0) };
        let result = match framing {
            Framing::None => Ok(()),
            Framing::Length(n) => self.relay(n, &to).await,
            Framing::Chunked => self.chunks(&to).await,
        };
        if let Err(error) = &result {
            let _ = to.send(Err(std::io::Error::other(error.to_string()))).await;
        }
        result.map(|()| self.read)
    }

    /// Decode a chunked body: size lines, data, the last chunk and its trailers (dropped).
    async fn chunks(
        &mut self,
        to: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> Result<(), BodyError> {
        // Bounded: every round consumes at least one size line from the client.
        loop {
            let size = loop {
                match httparse::parse_chunk_size(self.buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.buf.drain(..used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() < MAX_LINE => {
                        self.fill().await?
                    }
                    Ok(httparse::Status::Partial) | Err(_) => return Err(BodyError::BadChunk),
                }
            };
            if size == 0 {
                return self.trailers().await;
            }
            self.relay(size, to).await?;
            while self.buf.len() < 2 {
                self.fill().await?;
            }
            match &self.buf[..2] {
                b"\r\n" => self.buf.drain(..2),
                [b'\n', _] => self.buf.drain(..1),
                _ => return Err(BodyError::BadChunk),
            };
        }
    }

    /// Skip the trailer fields up to and including the empty line that ends the body.
    async fn trailers(&mut self) -> Result<(), BodyError> {
        let mut seen = 0;
        loop {
            let Some(end) = self.buf.iter().position(|b| *b == b'\n') else {
                if self.buf.len() + seen > MAX_LINE {
                    return Err(BodyError::BadChunk);
                }
                self.fill().await?;
                continue;
            };
            let empty = end == 0 || (end == 1 && self.buf[0] == b'\r');
            self.buf.drain(..=end);
            seen += end + 1;
            if empty {
                return Ok(());
            }
            if seen > MAX_LINE {
                return Err(BodyError::BadChunk);
            }
        }
    }

    /// Pass `n` body bytes on.
    async fn relay(
        &mut self,
        mut n: u64,
        to: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> Result<(), BodyError> {
        while n > 0 {
            if self.buf.is_empty() {
                self.fill().await?;
            }
            let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len());
            let piece = Bytes::copy_from_slice(&self.buf[..take]);
            self.buf.drain(..take);
            n -= take as u64;
            self.read += take as u64;
            // The origin may have answered and stopped reading: keep draining the client.
            let _ = to.send(Ok(piece)).await;
        }
        Ok(())
    }

    /// Read more from the client into the buffer.
    async fn fill(&mut self) -> Result<(), BodyError> {
        self.buf.reserve(PIECE);
        match tokio::time::timeout(self.idle, self.client.read_buf(&mut *self.buf)).await {
            Err(_) => Err(BodyError::Stalled(self.idle)),
            Ok(Err(error)) => Err(BodyError::Io(error)),
            Ok(Ok(0)) => Err(BodyError::Truncated { read: self.read }),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn decode(framing: Framing, input: &[u8]) -> (Result<u64, BodyError>, Vec<u8>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(64);
        let owned = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = client.write_all(&owned).await;
        });
        let (mut feed, tx) = Feed::new(framing);
        let mut buf = Vec::new();
        let reader = Reader::new(&mut server, &mut buf, Duration::from_secs(5));
        let collect = async {
            let mut body = Vec::new();
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut feed).poll_frame(cx)).await
            {
                if let Ok(data) = frame.map(|f| f.into_data()) {
                    body.extend_from_slice(&data.unwrap_or_default());
                }
            }
            body
        };
        let (result, body) = tokio::join!(reader.pump(framing, tx), collect);
        writer.await.unwrap();
        (result, body, buf)
    }

    #[tokio::test]
    async fn a_chunked_body_is_decoded_and_the_next_request_stays_in_the_buffer() {
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET http://next/";
        let (result, body, rest) = decode(Framing::Chunked, input).await;
        assert_eq!(result.unwrap(), 11);
        assert_eq!(body, b"hello world");
        assert!(rest.starts_with(b"GET http://next/"), "{rest:?}");
    }

    #[tokio::test]
    async fn a_length_body_stops_at_its_length() {
        let (result, body, rest) = decode(Framing::Length(4), b"abcdGET").await;
        assert_eq!(result.unwrap(), 4);
        assert_eq!(body, b"abcd");
        assert_eq!(rest, b"GET");
    }

    #[tokio::test]
    async fn a_broken_chunk_size_and_a_short_body_are_errors() {
        let (result, _, _) = decode(Framing::Chunked, b"zz\r\nhello\r\n0\r\n\r\n").await;
        assert!(matches!(result, Err(BodyError::BadChunk)), "{result:?}");
        let (result, _, _) = decode(Framing::Length(10), b"abc").await;
        assert!(
            matches!(result, Err(BodyError::Truncated { read: 3 })),
            "{result:?}"
        );
    }
}
