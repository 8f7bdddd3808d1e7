//! What a lab hands to each forward proxy it starts.
//!
//! The proxy gets its live plan, the lab's routing table (to resolve and reach origins as the proxy's
//! vantage sees them), the timeline, its TLS (interception and an `https://` listener, ready before
//! the lab binds) and the lab's shutdown signal and task tracker, so every task it spawns is tracked.

use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::capture::Capture;
use super::live::{Gate, LiveProxy, Switchboard};
use super::setup::ProxyTls;
use super::timeline::Timeline;
use super::world::World;

/// Everything a proxy task needs from its lab.
#[derive(Clone)]
pub(crate) struct ProxyContext {
    /// The lab's routing table; the proxy routes origins with `Vantage::Proxy(name)`.
    pub world: Arc<World>,
    /// The lab's timeline; the proxy records under `proxy:<name>`.
    pub timeline: Timeline,
    /// The proxy's `https://` listener and interception, set up before its port was bound.
    pub tls: ProxyTls,
    /// Cancelled when the lab shuts down; every proxy task must stop soon after.
    pub shutdown: CancellationToken,
    /// The lab's task tracker; every task the proxy spawns goes through it.
    pub tasks: TaskTracker,
    /// The proxy's plan (rules, authentication, interception, faults) as it is now: the control
    /// API may change it while the proxy runs.
    pub live: Arc<LiveProxy>,
    /// The gate of the proxy's route to its parent, if it has one.
    pub route: Option<Arc<Gate>>,
}

/// What every serving task of a lab shares: where to record, when to stop, and who tracks it.
#[derive(Clone, Debug)]
pub(crate) struct Serving {
    /// The lab's timeline.
    pub timeline: Timeline,
    /// Cancelled when the lab shuts down.
    pub shutdown: CancellationToken,
    /// The lab's task tracker.
    pub tasks: TaskTracker,
    /// What the control API may change while the lab runs.
    pub live: Switchboard,
    /// The lab's packet capture (off unless asked for).
    pub capture: Capture,
}

/// An accepted connection that closes with RST (SO_LINGER 0) when it is dropped after the lab's
/// shutdown began, so no FIN_WAIT or TIME_WAIT socket keeps the lab's port; before shutdown it
/// closes normally. It owns the one file descriptor of the connection: the linger option is set on
/// that socket just before its close, never on a descriptor number that may have been reused.
#[derive(Debug)]
pub(crate) struct ResetOnShutdown {
    stream: TcpStream,
    shutdown: CancellationToken,
}

impl ResetOnShutdown {
    /// Wrap an accepted stream; `shutdown` is the lab's shutdown signal.
    pub(crate) fn new(stream: TcpStream, shutdown: &CancellationToken) -> ResetOnShutdown {
        ResetOnShutdown {
            stream,
            shutdown: shutdown.clone(),
        }
    }
}

impl Drop for ResetOnShutdown {
    fn drop(&mut self) {
        if self.shutdown.is_cancelled() {
            if let Err(error) = self.stream.set_zero_linger() {
                tracing::debug!(%error, "cannot set SO_LINGER 0");
            }
        }
    }
}

impl Deref for ResetOnShutdown {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl DerefMut for ResetOnShutdown {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

impl AsyncRead for ResetOnShutdown {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetOnShutdown {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
