//! A tapped connection: the lab's handler gets the inner end of a loopback pair, and a relay between
//! the real socket and the pair's outer end writes every byte, FIN and RST to the capture. The
//! handler still holds a real `TcpStream`, so no serving code changes type.
//!
//! The pair costs two more trips through the kernel for every byte, which a bulk tunnel feels. So
//! a handler about to move bulk data (the proxy's blind tunnel, the echo endpoint) takes the real
//! socket back with [`take_over`]: the tap stops at a clean point, hands over the socket and the
//! connection's [`TcpFlow`], and the handler records what it relays itself
//! ([`super::Recording`]).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::TcpStream;
use tokio::sync::oneshot;
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

impl Leg {
    /// The direction of the bytes the lab's socket receives.
    fn inbound(self) -> Direction {
        match self {
            Leg::Accepted => Direction::FromClient,
            Leg::Connected => Direction::FromServer,
        }
    }
}

/// How much one direction reads at a time (a read takes what the socket has, up to this).
const CHUNK: usize = 128 * 1024;

/// A read shorter than this is an interactive exchange: the buffer is given back after it.
const IDLE_BELOW: usize = 16 * 1024;

/// The most bytes a take-over collects from the pair (what was in flight to the handler when the
/// tap stopped: at most one read of the tap and the pair's socket buffers).
const PENDING_LIMIT: usize = 16 * 1024 * 1024;

/// A tapped connection handed back to its handler by [`take_over`].
#[derive(Debug)]
pub(crate) struct Taken {
    /// The real socket.
    pub(crate) stream: TcpStream,
    /// The connection in the capture.
    pub(crate) flow: Arc<TcpFlow>,
    /// Which end of the connection the lab's socket is.
    pub(crate) leg: Leg,
    /// Bytes the peer sent that were in flight to the handler: they come before anything read
    /// from `stream` (already recorded).
    pub(crate) pending: Vec<u8>,
}

/// A handler's request to take its connection over: the tap acknowledges it, then (once the pair
/// is drained) hands the socket over, or `None` when the connection failed meanwhile.
#[derive(Debug)]
struct Handover {
    ack: oneshot::Sender<()>,
    done: oneshot::Sender<Option<Taken>>,
}

/// The taps that can hand their connection over, by the inner end's (local, peer) addresses.
#[derive(Debug, Default)]
pub(crate) struct Handovers {
    waiting: Mutex<HashMap<(SocketAddr, SocketAddr), oneshot::Sender<Handover>>>,
    handed: AtomicU64,
}

impl Handovers {
    /// How many connections were handed over.
    pub(crate) fn handed(&self) -> u64 {
        self.handed.load(Ordering::Relaxed)
    }

    fn put(&self, key: (SocketAddr, SocketAddr), sender: oneshot::Sender<Handover>) {
        self.lock().insert(key, sender);
    }

    fn take(&self, key: &(SocketAddr, SocketAddr)) -> Option<oneshot::Sender<Handover>> {
        self.lock().remove(key)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(SocketAddr, SocketAddr), oneshot::Sender<Handover>>>
    {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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
    let Some(handovers) = capture.handovers() else {
        return stream;
    };
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
    let (asks, asked) = oneshot::channel();
    let key = match (inner.local_addr(), inner.peer_addr()) {
        (Ok(local), Ok(peer)) => Some((local, peer)),
        _ => None,
    };
    if let Some(key) = key {
        handovers.put(key, asks);
    }
    let relay = Relay {
        flow,
        real: stream,
        outer,
        leg,
        shutdown: shutdown.clone(),
    };
    tasks.spawn(async move {
        relay.run(asked).await;
        if let Some(key) = key {
            handovers.take(&key);
        }
    });
    inner
}

/// What [`take_over`] found.
#[derive(Debug)]
pub(crate) enum TakeOver {
    /// The stream is not tapped (the capture is off, or the stream is not a tap's inner end).
    NotTapped,
    /// The real socket, handed over.
    Taken(Taken),
    /// The connection failed while it was being handed over.
    Gone,
}

/// Take the real socket behind `inner` back from its tap. Whatever the handler wrote to `inner`
/// before has reached the peer; what the peer sent that the handler has not read is in
/// [`Taken::pending`]. Once taken, `inner` must not be used again (it reads end of stream).
pub(crate) async fn take_over(capture: &Capture, inner: &TcpStream) -> TakeOver {
    let Some(handovers) = capture.handovers() else {
        return TakeOver::NotTapped;
    };
    let (Ok(local), Ok(peer)) = (inner.local_addr(), inner.peer_addr()) else {
        return TakeOver::NotTapped;
    };
    let Some(asks) = handovers.take(&(local, peer)) else {
        return TakeOver::NotTapped;
    };
    match hand_over(asks, inner).await {
        Some(taken) => {
            handovers.handed.fetch_add(1, Ordering::Relaxed);
            TakeOver::Taken(taken)
        }
        None => TakeOver::Gone,
    }
}

async fn hand_over(asks: oneshot::Sender<Handover>, inner: &TcpStream) -> Option<Taken> {
    let (ack, acked) = oneshot::channel();
    let (done, handed) = oneshot::channel();
    asks.send(Handover { ack, done }).ok()?;
    // Once the tap has stopped reading the real socket, end what the handler sends (the tap then
    // knows it has carried all of it) and collect what was still on its way in.
    acked.await.ok()?;
    shutdown_write(inner);
    let mut pending = Vec::new();
    loop {
        if inner.readable().await.is_err() {
            return None;
        }
        pending.reserve(IDLE_BELOW);
        match inner.try_read_buf(&mut pending) {
            Ok(0) => break,
            Ok(_) if pending.len() > PENDING_LIMIT => return None,
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
    }
    let mut taken = handed.await.ok()??;
    taken.pending = pending;
    Some(taken)
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

/// One tap: the real socket, the outer end of the pair, and the connection in the capture.
struct Relay {
    flow: Arc<TcpFlow>,
    real: TcpStream,
    outer: TcpStream,
    leg: Leg,
    shutdown: CancellationToken,
}

/// How one direction of a tap ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// End of stream, carried on as a FIN.
    Fin,
    /// A reset or failure (both directions end).
    Reset,
    /// Stopped for a hand-over.
    Handed,
}

impl Relay {
    /// Carry bytes both ways, recording them, until both directions ended, one side reset (the
    /// other is then reset too), the lab stops (both are reset, as the lab's own sockets are), or
    /// the handler takes the connection over.
    async fn run(self, mut asked: oneshot::Receiver<Handover>) {
        let stop = self.shutdown.child_token();
        let handing = CancellationToken::new();
        let inbound = self.leg.inbound();
        let (into_lab, out_of_lab, request) = {
            let pumps = async {
                tokio::join!(
                    self.pump(inbound, &self.real, &self.outer, &stop, &handing),
                    self.pump(inbound.other(), &self.outer, &self.real, &stop, &handing),
                )
            };
            tokio::pin!(pumps);
            let mut request = None;
            let mut asking = true;
            loop {
                tokio::select! {
                    (into_lab, out_of_lab) = &mut pumps => break (into_lab, out_of_lab, request),
                    asked = &mut asked, if asking => {
                        asking = false;
                        if let Ok(Handover { ack, done }) = asked {
                            // The direction into the lab stops before the handler is told to end
                            // its own.
                            handing.cancel();
                            let _ = ack.send(());
                            request = Some(done);
                        }
                    }
                }
            }
        };
        if self.shutdown.is_cancelled() {
            self.flow
                .rst(Direction::FromServer, Some("the lab stopped"));
        }
        let Some(done) = request else {
            return;
        };
        let handed = into_lab != Ended::Reset
            && out_of_lab == Ended::Handed
            && !self.shutdown.is_cancelled();
        let taken = handed.then(|| Taken {
            stream: self.real,
            flow: self.flow,
            leg: self.leg,
            pending: Vec::new(),
        });
        let _ = done.send(taken);
    }

    /// One direction: read, record, write. An end of stream becomes a FIN and a half-close of the
    /// other socket; a reset becomes an RST, a reset of the other socket and the end of both
    /// directions. On a hand-over, the direction into the lab stops reading the real socket and
    /// ends the pair's stream; the direction out of the lab carries what the handler wrote until
    /// the handler ends it.
    async fn pump(
        &self,
        direction: Direction,
        from: &TcpStream,
        to: &TcpStream,
        stop: &CancellationToken,
        handing: &CancellationToken,
    ) -> Ended {
        let into_lab = direction == self.leg.inbound();
        let mut buffer = Vec::new();
        // The size of the last read: bulk keeps its buffer from read to read.
        let mut last = 0;
        loop {
            let read = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    if self.shutdown.is_cancelled() {
                        linger_zero(from);
                        linger_zero(to);
                    }
                    return Ended::Reset;
                }
                () = handing.cancelled(), if into_lab => {
                    shutdown_write(to);
                    return Ended::Handed;
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
                    if !into_lab && handing.is_cancelled() {
                        // The handler ended its stream to take the connection over, not to close it.
                        return Ended::Handed;
                    }
                    self.flow.fin(direction);
                    shutdown_write(to);
                    return Ended::Fin;
                }
                Ok(n) => {
                    last = n;
                    self.flow.data(direction, &buffer[..n]);
                    if write_all(to, &buffer[..n]).await.is_err() {
                        // The other side is gone with a reset: pass it on to this one.
                        self.flow.rst(direction.other(), None);
                        linger_zero(from);
                        stop.cancel();
                        return Ended::Reset;
                    }
                    if n < IDLE_BELOW {
                        // A short exchange, not bulk: a connection that goes quiet now should
                        // hold no buffer (bulk keeps its buffer from read to read).
                        buffer = Vec::new();
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    // Stale readiness: wait again, without the buffer unless this is bulk.
                    if last < IDLE_BELOW {
                        buffer = Vec::new();
                    }
                    continue;
                }
                Err(error) => {
                    if !is_reset(&error) {
                        tracing::debug!(%error, "tapped connection failed");
                    }
                    self.flow.rst(direction, None);
                    linger_zero(to);
                    stop.cancel();
                    return Ended::Reset;
                }
            }
        }
    }
}

/// Write all of `bytes` to `to`, waiting for writability as needed.
pub(crate) async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Shut `to` down for writing: the peer sees the end of stream.
pub(crate) fn shutdown_write(to: &TcpStream) {
    // SAFETY: the descriptor is owned by `to`, which outlives this call; shutdown(2) neither
    // closes nor invalidates it. A failure means the peer is already gone, which the other
    // direction reports.
    unsafe {
        libc::shutdown(to.as_raw_fd(), libc::SHUT_WR);
    }
}

pub(crate) fn is_reset(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Make the socket's close a reset (SO_LINGER 0).
pub(crate) fn linger_zero(stream: &TcpStream) {
    if let Err(error) = stream.set_zero_linger() {
        tracing::debug!(%error, "cannot set SO_LINGER 0");
    }
}
