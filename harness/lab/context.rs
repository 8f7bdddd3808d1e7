//! What a lab hands to each forward proxy it starts.
//!
//! The proxy gets its plan, the lab's routing table (to resolve and reach origins as the proxy's
//! vantage sees them), the timeline, the certificate factory (for interception and an `https://`
//! listener) and the lab's shutdown signal and task tracker, so every task it spawns is tracked.

use std::sync::Arc;

use egresslab_certs::Factory;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::plan::ProxyPlan;
use super::timeline::Timeline;
use super::world::World;

/// Everything a proxy task needs from its lab.
#[derive(Clone)]
#[allow(dead_code)] // Read by the proxy; the placeholder in proxy/mod.rs uses only part of it.
pub(crate) struct ProxyContext {
    /// The proxy's plan (rules, authentication, interception, faults).
    pub plan: Arc<ProxyPlan>,
    /// The lab's routing table; the proxy routes origins with `Vantage::Proxy(plan.name)`.
    pub world: Arc<World>,
    /// The lab's timeline; the proxy records under `proxy:<name>`.
    pub timeline: Timeline,
    /// The lab's certificate factory: the inspection CA mints interception leaves, and an
    /// `https://` proxy its own certificate.
    pub certs: Arc<Factory>,
    /// Cancelled when the lab shuts down; every proxy task must stop soon after.
    pub shutdown: CancellationToken,
    /// The lab's task tracker; every task the proxy spawns goes through it.
    pub tasks: TaskTracker,
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
}

/// A second handle on an accepted connection, so a task cancelled by shutdown can reset it (RST, no
/// FIN_WAIT socket left holding the lab's port) even though the stream itself is owned elsewhere.
#[derive(Debug)]
pub(crate) struct ResetOnShutdown(tokio::net::TcpSocket);

impl ResetOnShutdown {
    /// Split an accepted stream into itself and its reset handle.
    pub(crate) fn guard(
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<(tokio::net::TcpStream, ResetOnShutdown)> {
        let std = stream.into_std()?;
        let handle = tokio::net::TcpSocket::from_std_stream(std.try_clone()?);
        Ok((
            tokio::net::TcpStream::from_std(std)?,
            ResetOnShutdown(handle),
        ))
    }

    /// Make the connection's close an RST.
    pub(crate) fn reset(&self) {
        if let Err(error) = self.0.set_zero_linger() {
            tracing::debug!(%error, "cannot set SO_LINGER 0");
        }
    }
}
