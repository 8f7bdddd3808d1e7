//! What of a running lab can change while it runs, and the registry the control API reaches it by:
//! a gate in front of every listener (on/off and toxics) and each proxy's live plan (rules,
//! authentication, interception). The serving tasks read from here; only the control API writes.

pub(crate) mod endpoint;
pub(crate) mod gate;
pub(crate) mod proxy;
mod start;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) use endpoint::LiveEndpoint;
pub(crate) use gate::{Gate, GatedListener};
pub use gate::{GateKind, ToxicMisfit};
pub(crate) use proxy::LiveProxy;
pub(crate) use start::apply_toxics;

/// The live parts of one lab, shared by its serving tasks and its control API.
#[derive(Clone, Default)]
pub(crate) struct Switchboard {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    gates: Mutex<Vec<Arc<Gate>>>,
    proxies: Mutex<Vec<Arc<LiveProxy>>>,
    endpoints: Mutex<Vec<Arc<LiveEndpoint>>>,
    /// The seed of every toxicity draw; the control API sets it when it starts.
    seed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Switchboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switchboard")
            .field("gates", &lock(&self.inner.gates).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Switchboard {
    /// The seed cell gates draw from.
    pub(crate) fn seed_cell(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.inner.seed)
    }

    /// Set the seed of every toxicity draw from now on.
    pub(crate) fn set_seed(&self, seed: u64) {
        self.inner.seed.store(seed, Ordering::Relaxed);
    }

    /// Register a gate.
    pub(crate) fn add_gate(&self, gate: Arc<Gate>) {
        lock(&self.inner.gates).push(gate);
    }

    /// Every gate, in the order the lab started them.
    pub(crate) fn gates(&self) -> Vec<Arc<Gate>> {
        lock(&self.inner.gates).clone()
    }

    /// A gate by name.
    pub(crate) fn gate(&self, name: &str) -> Option<Arc<Gate>> {
        lock(&self.inner.gates)
            .iter()
            .find(|g| g.name == name)
            .cloned()
    }

    /// Register a proxy's live plan.
    pub(crate) fn add_proxy(&self, proxy: Arc<LiveProxy>) {
        lock(&self.inner.proxies).push(proxy);
    }

    /// Register an endpoint's live TLS.
    pub(crate) fn add_endpoint(&self, endpoint: Arc<LiveEndpoint>) {
        lock(&self.inner.endpoints).push(endpoint);
    }

    /// An endpoint's live TLS by name.
    pub(crate) fn endpoint(&self, name: &str) -> Option<Arc<LiveEndpoint>> {
        lock(&self.inner.endpoints)
            .iter()
            .find(|e| e.plan.name == name)
            .cloned()
    }

    /// The names of the endpoints, in plan order (for an error that lists them).
    pub(crate) fn endpoint_names(&self) -> Vec<String> {
        lock(&self.inner.endpoints)
            .iter()
            .map(|e| e.plan.name.clone())
            .collect()
    }

    /// The names of the proxies, in plan order (for an error that lists them).
    pub(crate) fn proxy_names(&self) -> Vec<String> {
        lock(&self.inner.proxies)
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    /// The seed of every toxicity draw.
    pub(crate) fn seed(&self) -> u64 {
        self.inner.seed.load(Ordering::Relaxed)
    }

    /// Every proxy's plan and every endpoint's certificate as the scenario started them.
    pub(crate) fn reset_plans(&self) {
        for proxy in lock(&self.inner.proxies).iter() {
            proxy.reset();
        }
        for endpoint in lock(&self.inner.endpoints).iter() {
            if let Err(error) = endpoint.reset() {
                tracing::warn!(endpoint = %endpoint.plan.name, %error, "cannot mint the scenario's certificate again");
            }
        }
    }

    /// A proxy's live plan by name.
    pub(crate) fn proxy(&self, name: &str) -> Option<Arc<LiveProxy>> {
        lock(&self.inner.proxies)
            .iter()
            .find(|p| p.name == name)
            .cloned()
    }
}
