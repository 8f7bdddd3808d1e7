//! Scenario files: parse, validate, and expand into a lab plan, a client profile and expectations.
//!
//! Loading runs in fixed steps ([`load_str`]): the TOML is parsed into [`model`] types that keep source
//! spans, [`validate`] checks the scenario-wide names, and [`expand`](expand::expand) converts each
//! part (checking its values, resolving its names to types) into an [`Expanded`] scenario. The
//! built-in catalog ([`catalog`]) is embedded in the binary. A loaded scenario runs as a [`Live`]: its
//! lab started, its client completed ([`prepare`]), the checks and an external command run and judged,
//! the lab stopped.

pub mod catalog;
mod convert;
mod convert_access;
mod convert_socks;
pub mod error;
pub mod expand;
pub mod import;
pub mod load;
pub mod model;
pub mod names;
pub mod partition;
mod toxics;
pub mod triage;
pub mod validate;

pub use catalog::{find, Catalog, CatalogEntry};
pub use error::{Location, ScenarioError};
pub use expand::{
    ArtifactSpecs, ClientProxy, ClientSpec, ExecExpectation, Expanded, Expectations, ProbeSpec,
};
pub use live::{Live, LiveError};
pub use load::{load_file, load_str};
pub use names::{ProxyWord, Vocabulary};
pub use runner::{Outcome, Problem};
pub mod artifacts;
pub mod exec;
pub(crate) mod files;
pub mod generate;
pub mod live;
pub mod prepare;
pub mod runner;
