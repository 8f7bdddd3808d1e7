//! The simulated world: endpoints, forward proxies, firewalls, names, UDP responders and the timeline.
//!
//! The lab serves; it never diagnoses.

mod bind;
mod builder;
mod cache;
pub mod capture;
pub(crate) mod context;
pub mod control;
mod dns;
pub(crate) mod endpoint;
pub mod error;
pub(crate) mod firewall;
mod handles;
pub(crate) mod live;
pub mod pattern;
pub mod plan;
pub(crate) mod proxy;
mod routes;
mod running;
mod setup;
mod spawn;
mod status;
pub mod timeline;
mod udp;
pub mod world;

pub use builder::LabBuilder;
pub use cache::CacheStats;
pub use capture::{Capture, CaptureError, CaptureOptions, CaptureStatus};
pub(crate) use context::Serving;
pub use endpoint::EndpointHandle;
pub use error::LabError;
pub use handles::ProxyHandle;
pub(crate) use live::gate::toxic_fits;
pub use live::{GateKind, ToxicMisfit};
pub use plan::*;
pub use proxy::ProxyTlsError;
pub use running::Lab;
pub use timeline::{Event, EventKind, Timeline, WaitTimedOut};
pub use world::{Route, RouteEntry, World};
