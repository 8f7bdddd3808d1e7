//! One proxy running on its own, outside a lab: for the proxy's own tests and benches.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lab::plan::ProxyPlan;
use crate::lab::timeline::Timeline;
use crate::lab::world::World;

use super::{run, Proxy, ProxyError};

/// A running proxy bound on an ephemeral loopback port; dropping it cancels every task.
#[derive(Debug)]
pub struct StandaloneProxy {
    address: SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl StandaloneProxy {
    /// Bind 127.0.0.1:0 and serve `plan` over `world`, recording into `timeline`. Returns once the
    /// listener is bound.
    pub async fn start(
        plan: ProxyPlan,
        world: World,
        timeline: Timeline,
    ) -> Result<Self, ProxyError> {
        let wanted = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = TcpListener::bind(wanted)
            .await
            .map_err(|source| ProxyError::Bind {
                address: wanted,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ProxyError::Bind {
            address: wanted,
            source,
        })?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let proxy = Arc::new(Proxy {
            source: format!("proxy:{}", plan.name),
            plan: Arc::new(plan),
            world: Arc::new(world),
            timeline,
            port: address.port(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
        });
        tasks.spawn(run(listener, proxy));
        Ok(StandaloneProxy {
            address,
            shutdown,
            tasks,
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.address
    }

    /// The proxy URL for clients (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stop accepting, end every connection and wait for every task; the port is free afterwards.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for StandaloneProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.tasks.close();
    }
}
