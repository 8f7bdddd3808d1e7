//! The diagnosis codes: the [`Code`] type and one constant per entry of diagnoses.toml, generated at
//! build time (build.rs), so the constants and the taxonomy cannot disagree.

use std::fmt;

use serde::Serialize;

/// A stable diagnosis code, a dotted string such as `net.tcp.filtered`; documented in docs/diagnoses.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Code(pub &'static str);

impl Code {
    /// The dotted string.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

include!(concat!(env!("OUT_DIR"), "/codes.rs"));
