//! A proxy's live plan: what the control API may change while the proxy runs (rules,
//! authentication, interception). The accept loop takes the current plan for each new connection;
//! a connection keeps the plan it started with.

use std::sync::Arc;

use egresslab_certs::Factory;
use tokio::sync::watch;

use crate::lab::plan::ProxyPlan;
use crate::lab::proxy::intercept::Interceptor;
use crate::lab::proxy::{LabAuthority, ProxyTlsError};

/// The plan and interception a new connection of the proxy gets.
#[derive(Clone)]
pub(crate) struct ProxyState {
    pub(crate) plan: Arc<ProxyPlan>,
    pub(crate) interceptor: Option<Arc<Interceptor>>,
}

/// One proxy's changeable state.
pub(crate) struct LiveProxy {
    pub(crate) name: String,
    state: watch::Sender<ProxyState>,
    /// What the scenario started it with (`POST /reset` goes back to it).
    at_start: ProxyState,
    certs: Arc<Factory>,
}

impl LiveProxy {
    pub(crate) fn new(state: ProxyState, certs: Arc<Factory>) -> LiveProxy {
        LiveProxy {
            name: state.plan.name.clone(),
            state: watch::Sender::new(state.clone()),
            at_start: state,
            certs,
        }
    }

    /// Follow the state (the proxy's accept loop does).
    pub(crate) fn subscribe(&self) -> watch::Receiver<ProxyState> {
        self.state.subscribe()
    }

    /// The plan new connections get.
    pub(crate) fn plan(&self) -> Arc<ProxyPlan> {
        Arc::clone(&self.state.borrow().plan)
    }

    /// The plan the scenario started it with.
    pub(crate) fn plan_at_start(&self) -> &ProxyPlan {
        &self.at_start.plan
    }

    /// Go back to the scenario's plan and interception.
    pub(crate) fn reset(&self) {
        self.state.send_replace(self.at_start.clone());
    }

    /// Change the plan for new connections. Interception turned on for a proxy that had none gets
    /// an interceptor issuing from the lab's inspection CA.
    pub(crate) fn change(&self, change: impl FnOnce(&mut ProxyPlan)) -> Result<(), ProxyTlsError> {
        let current = self.state.borrow().clone();
        let mut plan = (*current.plan).clone();
        change(&mut plan);
        let interceptor = match (&plan.intercept, current.interceptor) {
            (None, _) => None,
            (Some(_), Some(interceptor)) => Some(interceptor),
            (Some(_), None) => {
                let authority = LabAuthority::new(Arc::clone(&self.certs));
                Some(Arc::new(Interceptor::new(
                    &self.certs,
                    Arc::new(authority),
                )?))
            }
        };
        self.state.send_replace(ProxyState {
            plan: Arc::new(plan),
            interceptor,
        });
        Ok(())
    }
}
