//! Findings: the data every check produces (a diagnosis code, a severity, evidence and steps).

use std::time::Duration;

use serde::Serialize;

pub use super::codes::Code;
pub use super::taxonomy::Severity;

use super::taxonomy;

/// One thing tried and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// What was tried ("TCP connect 10.0.0.1:443", "CONNECT login.windows.net:443").
    pub what_tried: String,
    /// What came back ("timed out after 2s", "HTTP/1.1 407 ...").
    pub what_came_back: String,
    /// How long it took.
    #[serde(serialize_with = "ser_duration_ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

impl Evidence {
    /// Evidence from its parts.
    pub fn new(
        what_tried: impl Into<String>,
        what_came_back: impl Into<String>,
        elapsed: Duration,
    ) -> Self {
        Evidence {
            what_tried: what_tried.into(),
            what_came_back: what_came_back.into(),
            elapsed,
        }
    }
}

fn ser_duration_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// One diagnosis about one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The diagnosis code.
    pub code: Code,
    /// How bad it is (the taxonomy's severity unless a check says otherwise).
    pub severity: Severity,
    /// What it is about ("login.windows.net:443", a file path).
    pub target: String,
    /// One sentence naming the specifics (issuer seen, status, hosts).
    pub summary: String,
    /// What was tried and what came back.
    pub evidence: Vec<Evidence>,
    /// What to do, in the project's words (from the taxonomy).
    pub steps: Vec<String>,
    /// The seed section the diagnosis comes from.
    pub source: &'static str,
}

impl Finding {
    /// A finding with the taxonomy's severity, steps and source for `code`.
    pub fn new(code: Code, target: impl Into<String>, summary: impl Into<String>) -> Self {
        let entry = taxonomy::lookup(code.0);
        Finding {
            code,
            severity: entry.map(|e| e.severity).unwrap_or(Severity::Error),
            target: target.into(),
            summary: summary.into(),
            evidence: Vec::new(),
            steps: entry.map(|e| e.steps.clone()).unwrap_or_default(),
            source: entry.map(|e| e.source.as_str()).unwrap_or(""),
        }
    }

    /// Add one piece of evidence.
    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    /// Add several pieces of evidence.
    pub fn with_all_evidence(mut self, evidence: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }

    /// Override the severity (e.g. an `ok` code reported as info).
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// The result of a run: every finding and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every finding, in probe order.
    pub findings: Vec<Finding>,
    /// Wall-clock time of the run.
    #[serde(serialize_with = "ser_duration_ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

impl Report {
    /// The codes of the findings that are not `Ok`, in order, without repeats.
    pub fn codes(&self) -> Vec<Code> {
        let mut out: Vec<Code> = Vec::new();
        for f in &self.findings {
            if f.severity != Severity::Ok && !out.contains(&f.code) {
                out.push(f.code);
            }
        }
        out
    }

    /// Every code, `Ok` ones included.
    pub fn all_codes(&self) -> Vec<Code> {
        let mut out: Vec<Code> = Vec::new();
        for f in &self.findings {
            if !out.contains(&f.code) {
                out.push(f.code);
            }
        }
        out
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this code.
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code.0 == code)
    }
}
