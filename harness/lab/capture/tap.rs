//! A tapped connection: the lab's handler gets the inner end of a loopback pair, and a relay between
//! the real socket and the pair's outer end writes every byte, FIN and RST to the capture. The
//! handler still holds a real `TcpStream`, so no serving code changes type.

use std::io::ErrorKind;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::flow::{Direction, TcpFlow};
use super::Capture;
use crate::lab::context::Serving;
use crate::lab::live::gate::pair;

/// Which end of a connection the lab's socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leg {
    /// Accepted by a lab listener: the peer is the client.
    Accepted,
    /// Opened by the lab (a proxy to an origin or parent, a relay to its endpoint): the lab is the
    /// client.
    Connected,
}

/// How much one direction reads at a time (a read takes what the socket has, up to this).
const CHUNK: usize = 128 * 1024;

/// A read shorter than this is an interactive exchange: the buffer is given back after it.
const IDLE_BELOW: usize = 16 * 1024;

/// `stream` as the lab's handler should use it: itself when the capture is off, else the inner end
/// of a loopback pair whose relay records the connection under `reason` (a pcapng comment on its
/// SYN). The relay runs on `tasks` and resets both ends when `shutdown` is cancelled.
pub(crate) async fn tap(
    capture: &Capture,
    stream: TcpStream,
    leg: Leg,
    reason: &str,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> TcpStream {
    if !capture.is_recording() {
        return stream;
    }
    let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
        return stream;
    };
    let (client, server) = match leg {
        Leg::Accepted => (peer, local),
        Leg::Connected => (local, peer),
    };
    if leg == Leg::Connected && capture.is_own(server) {
        // The lab's own listener taps it as it accepts it: one connection, written once.
        return stream;
    }
    let (outer, inner) = match pair().await {
        Ok(pair) => pair,
        Err(error) => {
            tracing::warn!(%error, %client, %server, "cannot tap a connection for the capture; it goes on unrecorded");
            return stream;
        }
    };
    // The relay writes what it read as soon as it read it; Nagle on any of its sockets would hold
    // a sub-MSS write back until the previous one is acknowledged (on loopback, often a delayed
    // ACK's 40 ms). The real socket too: a handler sets TCP_NODELAY on the inner end it is given,
    // which is not the socket the relay writes to.
    for socket in [&stream, &outer, &inner] {
        let _ = socket.set_nodelay(true);
    }
    let flow = Arc::new(TcpFlow::open(capture, client, server, reason));
    // The real socket is the client's side for an accepted leg, the server's for an opened one.
    let (client_side, server_side) = match leg {
        Leg::Accepted => (stream, outer),
        Leg::Connected => (outer, stream),
    };
    tasks.spawn(relay(flow, client_side, server_side, shutdown.clone()));
    inner
}

impl Serving {
    /// `stream` tapped for the lab's capture (see [`tap`]); `reason` is only formed when the
    /// capture is on.
    pub(crate) async fn tapped(
        &self,
        stream: TcpStream,
        leg: Leg,
        reason: impl FnOnce() -> String,
    ) -> TcpStream {
        if !self.capture.is_recording() {
            return stream;
        }
        tap(
            &self.capture,
            stream,
            leg,
            &reason(),
            &self.tasks,
            &self.shutdown,
        )
        .await
    }
}

/// Carry bytes both ways between the two sockets, recording them, until both directions ended, one
/// side reset (the other is then reset too), or the lab stops (both are reset, as the lab's own
/// sockets are).
async fn relay(
    flow: Arc<TcpFlow>,
    client: TcpStream,
    server: TcpStream,
    shutdown: CancellationToken,
) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let stop = shutdown.child_token();
    let ends = Ends {
        flow: &flow,
        stop: &stop,
        shutdown: &shutdown,
    };
    tokio::join!(
        ends.pump(Direction::FromClient, client_read, server_write),
        ends.pump(Direction::FromServer, server_read, client_write),
    );
    if shutdown.is_cancelled() {
        flow.rst(Direction::FromServer, Some("the lab stopped"));
    }
}

/// What both directions of one relay share.
struct Ends<'a> {
    flow: &'a TcpFlow,
    /// Cancelled when either direction saw a reset, or the lab stops.
    stop: &'a CancellationToken,
    shutdown: &'a CancellationToken,
}

impl Ends<'_> {
    /// One direction: read, record, write. An end of stream becomes a FIN and a half-close of the
    /// other socket; a reset becomes an RST, a reset of the other socket and the end of both
    /// directions. The sockets close when both directions have returned.
    async fn pump(&self, direction: Direction, from: OwnedReadHalf, mut to: OwnedWriteHalf) {
        let mut buffer = Vec::new();
        loop {
            let read = tokio::select! {
                () = self.stop.cancelled() => {
                    if self.shutdown.is_cancelled() {
                        linger_zero(from.as_ref());
                        linger_zero(to.as_ref());
                    }
                    to.forget();
                    return;
                }
                ready = from.readable() => match ready {
                    Ok(()) => {
                        // Allocated when data is there and never zeroed: only the bytes read
                        // touch its pages.
                        buffer.clear();
                        buffer.reserve(CHUNK);
                        from.try_read_buf(&mut buffer)
                    }
                    Err(error) => Err(error),
                },
            };
            match read {
                Ok(0) => {
                    self.flow.fin(direction);
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => {
                    self.flow.data(direction, &buffer[..n]);
                    if to.write_all(&buffer[..n]).await.is_err() {
                        // The other side is gone with a reset: pass it on to this one.
                        self.flow.rst(direction.other(), None);
                        linger_zero(from.as_ref());
                        to.forget();
                        self.stop.cancel();
                        return;
                    }
                    if n < IDLE_BELOW {
                        // A short exchange, not bulk: a connection that goes quiet now should
                        // hold no buffer (bulk keeps its buffer from read to read).
                        buffer = Vec::new();
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
                Err(error) => {
                    if !is_reset(&error) {
                        tracing::debug!(%error, "tapped connection failed");
                    }
                    self.flow.rst(direction, None);
                    linger_zero(to.as_ref());
                    to.forget();
                    self.stop.cancel();
                    return;
                }
            }
        }
    }
}

fn is_reset(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Make the socket's close a reset (SO_LINGER 0).
fn linger_zero(stream: &TcpStream) {
    if let Err(error) = stream.set_zero_linger() {
        tracing::debug!(%error, "cannot set SO_LINGER 0");
    }
}
