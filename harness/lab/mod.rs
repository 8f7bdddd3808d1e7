//! The simulated world: endpoints, forward proxies, firewalls, names, UDP responders and the timeline.
//!
//! The lab serves; it never diagnoses.

pub mod access;
mod bind;
mod builder;
mod cache;
pub mod capture;
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
pub mod net;
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

pub use access::{
    parse_acl, AccessLine, Acl, AclError, AclKind, BadAccessLine, BadIpRange, Credentials,
    DenyInfo, DenyPage, IpRange, RequestFacts, Resolver, SquidAccess, SquidRegex, Verdict,
    ACL_TYPES, BUILTIN_ACLS,
};
pub(crate) use bind::{api_listener, ApiListenError};
pub use builder::LabBuilder;
pub use cache::CacheStats;
pub use capture::{Capture, CaptureError, CaptureOptions, CaptureStatus};
pub(crate) use context::Serving;
pub use endpoint::EndpointHandle;
pub use error::LabError;
pub use firewall::watch::can_watch_syns;
pub use handles::ProxyHandle;
pub(crate) use live::gate::toxic_fits;
pub use live::{GateKind, ToxicMisfit};
pub use net::{Addresses, Door, DoorKind, HostAddress, NetworkInfo, NetworkOptions, PortMode};
pub use plan::*;
pub use proxy::ProxyTlsError;
pub use running::Lab;
pub use timeline::{ConnId, Event, EventKind, Leg, Timeline, WaitTimedOut, SCHEMA_VERSION};
pub use world::{Decision, FirewallTag, Route, RouteEntry, World};
