//! Live control of a running lab through Toxiproxy's REST API, so every Toxiproxy client drives a
//! lab unchanged: links (Toxiproxy's "proxies") relay from a loopback port to a lab name or a
//! loopback address, and toxics on them slow, cut, hold or reset the traffic while it flows.
//!
//! Opt-in and loopback-only by default: [`crate::lab::Lab::start_control`]. Every change made
//! through the API is a `control` event in the lab's timeline; every connection through a link is
//! recorded under `link:NAME`.
//!
//! ```
//! use egresslab::lab::{control::ControlOptions, EndpointPlan, Lab};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let lab = Lab::builder()
//!     .endpoint(EndpointPlan::http("portal", &["portal.egresslab.test"], 80))
//!     .start()
//!     .await
//!     .unwrap();
//! let control = lab.start_control(ControlOptions::default()).unwrap();
//! let link = control
//!     .create_link("portal-slow", "127.0.0.1:0", "portal", true)
//!     .unwrap();
//! assert!(link.listen.ip().is_loopback());
//! assert_eq!(link.upstream_address, lab.expect_endpoint("portal").address());
//! lab.shutdown().await;
//! # });
//! ```

mod api;
pub mod client;
pub(crate) mod draw;
mod error;
mod lab;
mod link;
pub(crate) mod pipe;
mod toxic;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

pub use error::{ApiError, ControlError};
pub(crate) use toxic::{check_destination, check_name, check_toxicity};
pub use toxic::{Stream, Toxic, ToxicKind, MAX_TOXIC_MILLIS, TOXIC_TYPES};

use super::context::Serving;
use super::firewall::blackhole::BlackHole;
use super::live::gate::toxic_fits;
use super::live::{Gate, Switchboard};
use super::timeline::EventKind;
use super::world::World;
use link::{Link, Settings};

/// How the control API is started.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// Where the API listens; port 0 picks one. Loopback unless `allow_remote`.
    pub address: SocketAddr,
    /// Allow a non-loopback API address (a warning is logged): anyone who reaches it can change the lab.
    pub allow_remote: bool,
    /// The seed of every toxicity and jitter draw, so that a run replays.
    pub seed: u64,
}

impl Default for ControlOptions {
    fn default() -> Self {
        ControlOptions {
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            allow_remote: false,
            seed: 0,
        }
    }
}

/// The names an upstream may be given by: each lab endpoint and proxy by its name, and each
/// endpoint host (not a wildcard) with the endpoint's port.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upstreams {
    pub(crate) names: Vec<(String, SocketAddr)>,
    pub(crate) hosts: Vec<(String, u16, SocketAddr)>,
}

impl Upstreams {
    /// Where `upstream` goes, or why the lab must not relay there.
    fn resolve(&self, upstream: &str) -> Result<SocketAddr, ApiError> {
        if let Some((_, address)) = self.names.iter().find(|(name, _)| name == upstream) {
            return Ok(*address);
        }
        if let Ok(address) = upstream.parse::<SocketAddr>() {
            if address.ip().is_loopback() && address.port() != 0 {
                return Ok(address);
            }
        }
        if let Some((host, port)) = upstream.rsplit_once(':') {
            if let Ok(port) = port.parse::<u16>() {
                if let Some((_, _, address)) = self
                    .hosts
                    .iter()
                    .find(|(h, p, _)| h.eq_ignore_ascii_case(host) && *p == port)
                {
                    return Ok(*address);
                }
                if host == "localhost" && port != 0 {
                    return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
                }
            }
        }
        Err(ApiError::forbidden(format!(
            "upstream {upstream:?} is neither a lab name (an endpoint or proxy name, or an endpoint \
             host:port) nor a loopback address: egresslab relays only inside the lab"
        )))
    }
}

/// A link's state as the API shows it.
#[derive(Debug, Clone)]
pub struct LinkView {
    /// Its name.
    pub name: String,
    /// Where it listens (the real port).
    pub listen: SocketAddr,
    /// The upstream as given.
    pub upstream: String,
    /// Where the upstream is.
    pub upstream_address: SocketAddr,
    /// Whether it accepts connections.
    pub enabled: bool,
    /// Its toxics, in order.
    pub toxics: Vec<Toxic>,
}

struct State {
    links: Mutex<BTreeMap<String, Arc<Link>>>,
    upstreams: Upstreams,
    serving: Serving,
    /// The lab's routing table (live firewall rules and names).
    world: Arc<World>,
    /// Where a live `drop` rule sends connections, once one was set.
    black_hole: tokio::sync::Mutex<Option<BlackHole>>,
}

/// What a toxic can be put on: a link made through the API, or the gate of a lab listener.
enum Target {
    Link(Arc<Link>),
    Gate(Arc<Gate>),
}

impl Target {
    fn toxics(&self) -> Arc<Vec<Toxic>> {
        match self {
            Target::Link(link) => link.toxics(),
            Target::Gate(gate) => gate.toxics(),
        }
    }

    fn set_toxics(&self, toxics: Vec<Toxic>) {
        match self {
            Target::Link(link) => link.set_toxics(toxics),
            Target::Gate(gate) => gate.set_toxics(toxics),
        }
    }

    /// Whether `toxic` may act here ([`toxic_fits`]).
    fn accepts(&self, toxic: &Toxic) -> Result<(), ApiError> {
        let kind = match self {
            Target::Link(_) => None,
            Target::Gate(gate) => Some(gate.kind),
        };
        toxic_fits(kind, toxic).map_err(|misfit| ApiError::bad_body(misfit.to_string()))
    }
}

/// The running control API of one lab. It stops with the lab.
#[derive(Clone)]
pub struct Control {
    address: SocketAddr,
    state: Arc<State>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn parse_listen(listen: &str) -> Result<SocketAddr, ApiError> {
    let address = if let Some(port) = listen.strip_prefix("localhost:") {
        format!("127.0.0.1:{port}")
    } else if listen.is_empty() {
        "127.0.0.1:0".to_owned()
    } else {
        listen.to_owned()
    };
    let address: SocketAddr = address.parse().map_err(|_| {
        ApiError::bad_body(format!(
            "listen {listen:?}: expected ADDRESS:PORT, e.g. 127.0.0.1:0"
        ))
    })?;
    if !address.ip().is_loopback() {
        return Err(ApiError::forbidden(format!(
            "listen {listen:?}: a link listens on loopback only"
        )));
    }
    Ok(address)
}

impl Control {
    pub(crate) fn start(
        options: ControlOptions,
        upstreams: Upstreams,
        serving: Serving,
        world: Arc<World>,
    ) -> Result<Control, ControlError> {
        let (listener, address) = crate::lab::api_listener(
            options.address,
            options.allow_remote,
            "the control API listens on a non-loopback address: anyone who reaches it can change the lab",
        )
        .map_err(|error| match error {
            crate::lab::ApiListenError::NotLoopback => ControlError::NotLoopback {
                address: options.address,
            },
            crate::lab::ApiListenError::Bind(source) => ControlError::Bind {
                address: options.address,
                source,
            },
        })?;
        let control = Control {
            address,
            state: Arc::new(State {
                links: Mutex::new(BTreeMap::new()),
                upstreams,
                serving,
                world,
                black_hole: tokio::sync::Mutex::new(None),
            }),
        };
        let serving = control.state.serving.clone();
        serving.live.set_seed(options.seed);
        serving
            .tasks
            .spawn(api::serve(listener, control.clone(), serving.clone()));
        control.event(format!("control API listening on {address}"));
        Ok(control)
    }

    /// Where the API listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    fn links(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Link>>> {
        self.state
            .links
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn event(&self, message: String) {
        tracing::info!(target: "egresslab::control", "{message}");
        self.state
            .serving
            .timeline
            .record("control", EventKind::Note { message });
    }

    fn view(link: &Link) -> LinkView {
        let settings = link.settings();
        LinkView {
            name: link.name.clone(),
            listen: settings.listen,
            upstream: settings.upstream,
            upstream_address: settings.upstream_address,
            enabled: settings.enabled,
            toxics: link.toxics().to_vec(),
        }
    }

    fn gate_view(gate: &Gate) -> LinkView {
        LinkView {
            name: gate.name.clone(),
            listen: gate.address,
            upstream: gate.upstream.clone(),
            upstream_address: gate.address,
            enabled: gate.enabled(),
            toxics: gate.toxics().to_vec(),
        }
    }

    fn live(&self) -> &Switchboard {
        &self.state.serving.live
    }

    /// Every lab listener (endpoints, proxies, routes to parent proxies, UDP responders) and
    /// every link, by name.
    pub fn list(&self) -> Vec<LinkView> {
        let mut all: Vec<LinkView> = self
            .live()
            .gates()
            .iter()
            .map(|g| Control::gate_view(g))
            .collect();
        all.extend(self.links().values().map(|l| Control::view(l)));
        all
    }

    /// One lab listener or link.
    pub fn get(&self, name: &str) -> Result<LinkView, ApiError> {
        if let Some(gate) = self.live().gate(name) {
            return Ok(Control::gate_view(&gate));
        }
        self.links()
            .get(name)
            .map(|l| Control::view(l))
            .ok_or_else(ApiError::proxy_not_found)
    }

    fn settings(&self, listen: &str, upstream: &str, enabled: bool) -> Result<Settings, ApiError> {
        Ok(Settings {
            listen: parse_listen(listen)?,
            upstream: upstream.to_owned(),
            upstream_address: self.state.upstreams.resolve(upstream)?,
            enabled,
        })
    }

    /// Create a link (Toxiproxy's `POST /proxies`).
    pub fn create_link(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
        enabled: bool,
    ) -> Result<LinkView, ApiError> {
        toxic::check_name(name)?;
        let settings = self.settings(listen, upstream, enabled)?;
        let mut links = self.links();
        if links.contains_key(name) || self.live().gate(name).is_some() {
            return Err(ApiError::proxy_exists());
        }
        let link = Link::start(
            name.to_owned(),
            settings,
            self.live().seed(),
            self.state.serving.clone(),
        )?;
        let view = Control::view(&link);
        links.insert(name.to_owned(), link);
        drop(links);
        self.event(format!(
            "link {name} created: {} -> {upstream} ({}), {}",
            view.listen,
            view.upstream_address,
            if enabled { "enabled" } else { "disabled" }
        ));
        Ok(view)
    }

    /// Change a link's listen address, upstream or state (Toxiproxy's `POST|PATCH /proxies/{proxy}`).
    pub fn update_link(
        &self,
        name: &str,
        listen: Option<&str>,
        upstream: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<LinkView, ApiError> {
        if let Some(gate) = self.live().gate(name) {
            return self.update_gate(&gate, listen, upstream, enabled);
        }
        let link = self
            .links()
            .get(name)
            .cloned()
            .ok_or_else(ApiError::proxy_not_found)?;
        let old = link.settings();
        let new = Settings {
            listen: match listen {
                Some(listen) => parse_listen(listen)?,
                None => old.listen,
            },
            upstream: upstream.map_or(old.upstream.clone(), str::to_owned),
            upstream_address: match upstream {
                Some(upstream) => self.state.upstreams.resolve(upstream)?,
                None => old.upstream_address,
            },
            enabled: enabled.unwrap_or(old.enabled),
        };
        link.update(new)?;
        let view = Control::view(&link);
        self.event(format!(
            "link {name} updated: {} -> {} ({}), {}",
            view.listen,
            view.upstream,
            view.upstream_address,
            if view.enabled { "enabled" } else { "disabled" }
        ));
        Ok(view)
    }

    /// A lab listener can be turned off and on; it cannot move. A client that sends the whole
    /// proxy back (as Toxiproxy clients do) may repeat its listen address and upstream.
    fn update_gate(
        &self,
        gate: &Gate,
        listen: Option<&str>,
        upstream: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<LinkView, ApiError> {
        let moves_listen = listen.is_some_and(|l| parse_listen(l).ok() != Some(gate.address));
        let moves_upstream = upstream.is_some_and(|u| u != gate.upstream);
        if moves_listen || moves_upstream {
            return Err(ApiError::bad_body(format!(
                "{} is a lab listener: it can be enabled or disabled but not moved; create a link \
                 with \"upstream\": \"{}\" to listen elsewhere",
                gate.name, gate.name
            )));
        }
        if let Some(enabled) = enabled {
            if enabled != gate.enabled() {
                gate.set_enabled(enabled);
                self.event(format!(
                    "{} {}",
                    gate.upstream,
                    if enabled { "turned on" } else { "turned off" }
                ));
            }
        }
        Ok(Control::gate_view(gate))
    }

    /// Remove a link: its port closes and its connections drop.
    pub fn delete_link(&self, name: &str) -> Result<(), ApiError> {
        if self.live().gate(name).is_some() {
            return Err(ApiError::forbidden(format!(
                "{name} is part of the lab and cannot be deleted; disable it with {{\"enabled\": false}}"
            )));
        }
        let link = self
            .links()
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        link.stop();
        self.event(format!("link {name} deleted"));
        Ok(())
    }

    /// Enable every link and remove every toxic (Toxiproxy's `POST /reset`).
    pub fn reset(&self) -> Result<(), ApiError> {
        let links: Vec<Arc<Link>> = self.links().values().cloned().collect();
        for link in links {
            link.set_toxics(Vec::new());
            let settings = link.settings();
            if !settings.enabled {
                link.update(Settings {
                    enabled: true,
                    ..settings
                })?;
            }
        }
        for gate in self.live().gates() {
            gate.reset_toxics();
            gate.set_enabled(gate.enabled_at_start());
        }
        self.live().reset_plans();
        self.state.world.reset_live();
        self.event(
            "reset: every link enabled, every toxic removed, the lab as the scenario started it (with its own toxics)"
                .to_owned(),
        );
        Ok(())
    }

    fn target(&self, name: &str) -> Result<Target, ApiError> {
        if let Some(gate) = self.live().gate(name) {
            return Ok(Target::Gate(gate));
        }
        self.links()
            .get(name)
            .cloned()
            .map(Target::Link)
            .ok_or_else(ApiError::proxy_not_found)
    }

    /// Add a toxic to a link; open connections feel it from their next chunk.
    pub fn add_toxic(&self, link_name: &str, toxic: Toxic) -> Result<Toxic, ApiError> {
        let link = self.target(link_name)?;
        link.accepts(&toxic)?;
        let mut toxics = link.toxics().to_vec();
        if toxics.iter().any(|t| t.name == toxic.name) {
            return Err(ApiError::toxic_exists());
        }
        toxics.push(toxic.clone());
        link.set_toxics(toxics);
        self.event(format!(
            "toxic {} added to link {link_name}: {} {} toxicity {} {}",
            toxic.name,
            toxic.kind.word(),
            toxic.stream.word(),
            toxic.toxicity,
            serde_json::Value::Object(toxic.kind.attributes())
        ));
        Ok(toxic)
    }

    /// One toxic of a link.
    pub fn toxic(&self, link_name: &str, toxic_name: &str) -> Result<Toxic, ApiError> {
        let link = self.target(link_name)?;
        let toxics = link.toxics();
        toxics
            .iter()
            .find(|t| t.name == toxic_name)
            .cloned()
            .ok_or_else(ApiError::toxic_not_found)
    }

    /// Change a toxic with `change`, keeping its place in the list.
    pub fn update_toxic(
        &self,
        link_name: &str,
        toxic_name: &str,
        change: impl FnOnce(&Toxic) -> Result<Toxic, ApiError>,
    ) -> Result<Toxic, ApiError> {
        let link = self.target(link_name)?;
        let mut toxics = link.toxics().to_vec();
        let slot = toxics
            .iter_mut()
            .find(|t| t.name == toxic_name)
            .ok_or_else(ApiError::toxic_not_found)?;
        let updated = change(slot)?;
        link.accepts(&updated)?;
        *slot = updated.clone();
        link.set_toxics(toxics);
        self.event(format!(
            "toxic {toxic_name} of link {link_name} updated: toxicity {} {}",
            updated.toxicity,
            serde_json::Value::Object(updated.kind.attributes())
        ));
        Ok(updated)
    }

    /// Remove a toxic from a link.
    pub fn remove_toxic(&self, link_name: &str, toxic_name: &str) -> Result<(), ApiError> {
        let link = self.target(link_name)?;
        let mut toxics = link.toxics().to_vec();
        let before = toxics.len();
        toxics.retain(|t| t.name != toxic_name);
        if toxics.len() == before {
            return Err(ApiError::toxic_not_found());
        }
        link.set_toxics(toxics);
        self.event(format!("toxic {toxic_name} removed from link {link_name}"));
        Ok(())
    }
}
