//! The simulated world: endpoints, forward proxies, firewalls, names, UDP responders and the timeline.
//!
//! The lab serves; it never diagnoses.

mod bind;
mod builder;
mod cache;
pub(crate) mod context;
pub mod control;
mod dns;
pub(crate) mod endpoint;
pub mod error;
pub(crate) mod exchange;
pub(crate) mod firewall;
mod handles;
pub mod har;
pub(crate) mod leg;
pub(crate) mod live;
pub mod pattern;
pub mod plan;
pub(crate) mod proxy;
mod routes;
mod running;
mod setup;
mod spawn;
mod status;
pub mod stories;
pub mod timeline;
mod udp;
pub mod world;

pub(crate) use bind::{api_listener, ApiListenError};
pub use builder::LabBuilder;
pub use cache::CacheStats;
pub(crate) use context::Serving;
pub use endpoint::EndpointHandle;
pub use error::LabError;
pub use firewall::watch::can_watch_syns;
pub use handles::ProxyHandle;
pub(crate) use live::gate::toxic_fits;
pub use live::{GateKind, ToxicMisfit};
pub use plan::*;
pub use proxy::ProxyTlsError;
pub use running::Lab;
pub use timeline::{ConnId, Event, EventKind, Leg, Timeline, WaitTimedOut, SCHEMA_VERSION};
pub use world::{Decision, FirewallTag, Route, RouteEntry, World};
