//! The live web view of a running lab: one page served from the binary itself (no CDN, no external
//! font), a JSON topology, the timeline as a server-sent event stream, the connections' summaries
//! and stories, downloads, and the control API behind the page's fault toggles. And [`report`]:
//! the same topology drawn into one self-contained HTML file of a run's outcomes.
//!
//! Loopback only unless [`WebOptions::allow_remote`]; every `/api/` and `/download/` request from
//! another origin (or for another `Host`) is refused with 403, so another web page the browser has
//! open cannot read the lab or flip its faults.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let live = egresslab::scenario::Live::start(
//!     egresslab::scenario::find("proxy-auth-required").unwrap().remove(0),
//! )
//! .await
//! .unwrap();
//! let control = live
//!     .lab()
//!     .start_control(egresslab::lab::control::ControlOptions::default())
//!     .unwrap();
//! let web = egresslab::web::Web::start(
//!     egresslab::web::WebOptions::default(),
//!     egresslab::web::WebLab::from_live(&live, control, None, None),
//! )
//! .unwrap();
//! assert!(web.address().ip().is_loopback());
//! drop(web);
//! live.shutdown().await;
//! # });
//! ```

mod assets;
mod events;
mod guard;
pub mod report;
mod routes;
mod svg;
mod topology;

pub use topology::plan_json;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::certs::CaRole;
use crate::lab::control::Control;
use crate::lab::{Capture, Timeline};
use crate::scenario::Live;

/// How the web view is started.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Where it listens; port 0 picks one. Loopback unless `allow_remote`.
    pub address: SocketAddr,
    /// Allow a non-loopback address (a warning is logged): anyone who reaches it sees the lab and
    /// can flip its faults.
    pub allow_remote: bool,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            allow_remote: false,
        }
    }
}

/// Why the web view did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// A non-loopback address without `allow_remote`.
    #[error("--web {address}: not a loopback address; add --web-remote to serve the lab to other machines")]
    NotLoopback {
        /// The address asked for.
        address: SocketAddr,
    },
    /// The address could not be bound.
    #[error("--web {address}: cannot listen: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What the web view shows of one running lab: taken once when it starts (the topology's plan,
/// the CA, the scenario file) plus live handles (the timeline, the control API).
#[derive(Clone)]
pub struct WebLab {
    timeline: Timeline,
    control: Control,
    topology: serde_json::Value,
    ca_pem: String,
    scenario_file: Option<PathBuf>,
    har: Option<PathBuf>,
    /// The pcapng the lab captures to, and the capture (flushed before a download).
    capture: Option<(PathBuf, Capture)>,
}

impl std::fmt::Debug for WebLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLab")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl WebLab {
    /// The view of `live`, whose faults are flipped through `control`; `har` and `pcapng` are the
    /// HAR file and the capture file the lab records to, if any (offered as downloads).
    pub fn from_live(
        live: &Live,
        control: Control,
        har: Option<&Path>,
        pcapng: Option<&Path>,
    ) -> WebLab {
        let scenario = live.scenario();
        let source = PathBuf::from(&scenario.source);
        WebLab {
            timeline: live.lab().timeline().clone(),
            control,
            topology: topology::plan_json(scenario, Some(live.lab())),
            ca_pem: live.lab().ca_pem(CaRole::Lab),
            scenario_file: source.is_file().then_some(source),
            har: har.map(Path::to_path_buf),
            capture: pcapng.map(|path| (path.to_path_buf(), live.lab().capture().clone())),
        }
    }
}

/// The running web view. It stops when dropped.
#[derive(Debug)]
pub struct Web {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Web {
    /// Bind `options.address` and serve `lab` there, on the current tokio runtime.
    pub fn start(options: WebOptions, lab: WebLab) -> Result<Web, WebError> {
        let (listener, address) = crate::lab::api_listener(
            options.address,
            options.allow_remote,
            "the web view listens on a non-loopback address: anyone who reaches it sees the lab and can change it",
        )
        .map_err(|error| match error {
            crate::lab::ApiListenError::NotLoopback => WebError::NotLoopback {
                address: options.address,
            },
            crate::lab::ApiListenError::Bind(source) => WebError::Bind {
                address: options.address,
                source,
            },
        })?;
        let task = tokio::spawn(routes::serve(listener, Arc::new(lab), address));
        Ok(Web { address, task })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.task.abort();
    }
}
