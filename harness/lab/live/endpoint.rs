//! An endpoint's live TLS: the control API may give an endpoint a certificate of another profile
//! while the lab runs; new connections get the new certificate, open ones keep theirs.

use std::sync::Arc;

use egresslab_certs::{Factory, Profile};
use tokio::sync::watch;

use crate::lab::endpoint::TlsSetup;
use crate::lab::error::LabError;
use crate::lab::plan::EndpointPlan;

/// One endpoint's changeable TLS.
pub(crate) struct LiveEndpoint {
    pub(crate) plan: Arc<EndpointPlan>,
    tls: watch::Sender<Option<TlsSetup>>,
    certs: Arc<Factory>,
}

impl LiveEndpoint {
    pub(crate) fn new(
        plan: Arc<EndpointPlan>,
        tls: Option<TlsSetup>,
        certs: Arc<Factory>,
    ) -> LiveEndpoint {
        LiveEndpoint {
            plan,
            tls: watch::Sender::new(tls),
            certs,
        }
    }

    /// Follow the TLS setup (the endpoint's accept loop does).
    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<TlsSetup>> {
        self.tls.subscribe()
    }

    /// Whether the endpoint speaks TLS at all.
    pub(crate) fn has_tls(&self) -> bool {
        self.plan.tls.is_some()
    }

    /// Serve the scenario's certificate profile again (a fresh leaf of it).
    pub(crate) fn reset(&self) -> Result<(), LabError> {
        match &self.plan.tls {
            Some(tls) => self.set_profile(tls.profile),
            None => Ok(()),
        }
    }

    /// Serve a freshly minted certificate of `profile` to new connections.
    pub(crate) fn set_profile(&self, profile: Profile) -> Result<(), LabError> {
        let Some(tls) = &self.plan.tls else {
            return Ok(());
        };
        let mut tls = tls.clone();
        tls.profile = profile;
        let setup = crate::lab::endpoint::tls::setup(&self.plan, &tls, &self.certs)?;
        self.tls.send_replace(Some(setup));
        Ok(())
    }
}
