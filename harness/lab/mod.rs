//! The simulated world: endpoints, forward proxies, firewalls, names, UDP responders and the timeline.
//!
//! The lab serves; it never diagnoses.

pub mod pattern;
pub mod plan;
pub mod proxy;
pub mod timeline;
pub mod world;

pub use plan::*;
pub use timeline::{Event, EventKind, Timeline};
pub use world::{Route, RouteEntry, World};
