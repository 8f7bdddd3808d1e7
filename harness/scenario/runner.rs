//! Running one scenario as `egresslab run` does, through [`Live`]: start, judge the checks (and an
//! optional external command) against the expectations, shut down; and the typed outcome.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::check::{Code, Report};
use crate::lab::CaptureOptions;

use super::expand::{ExecExpectation, Expanded};
use super::live::{error_chain, Live, LiveError};

/// One way a run differed from the scenario's expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// An expected diagnosis code was not reported.
    Missing {
        /// The code.
        code: String,
    },
    /// A code the scenario expects absent was reported.
    Unexpected {
        /// The code.
        code: String,
    },
    /// The scenario expects a healthy client, and a finding is at error level.
    NotHealthy,
    /// The scenario could not be started; the reason carries the whole error chain.
    NotStarted {
        /// What went wrong, with every cause.
        reason: String,
    },
    /// An external command did not do what `[[expect.exec]]` says.
    Exec {
        /// The command's client (its first word).
        client: String,
        /// The difference.
        problem: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { code } => write!(f, "expected {code}, not reported"),
            Problem::Unexpected { code } => write!(f, "{code} reported, expected absent"),
            Problem::NotHealthy => f.write_str("expected healthy, got findings at error level"),
            Problem::NotStarted { reason } => f.write_str(reason),
            Problem::Exec { client, problem } => write!(f, "exec {client}: {problem}"),
        }
    }
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario id.
    pub id: String,
    /// What was expected, as text (codes, or `healthy`).
    pub expected: String,
    /// The non-ok codes the checks produced.
    pub got: Vec<Code>,
    /// Every way the run differed from the expectations; empty means pass.
    pub problems: Vec<Problem>,
    /// What the reader should know that is no failure (an `--exec` command nothing judged).
    pub notes: Vec<String>,
    /// Wall-clock time, lab start included.
    pub elapsed: Duration,
    /// The checks' report; `None` when the scenario did not start.
    pub report: Option<Report>,
}

impl Outcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The expectations as text: the codes, and `healthy` when no error may appear.
    pub fn expected_text(scenario: &Expanded) -> String {
        let mut expected: Vec<&str> = scenario
            .expect
            .diagnoses
            .iter()
            .map(|code| code.as_str())
            .collect();
        if scenario.expect.healthy {
            expected.push("healthy");
        }
        expected.join(", ")
    }

    /// The outcome of a scenario that could not be started.
    pub fn not_started(scenario: &Expanded, error: &LiveError, elapsed: Duration) -> Outcome {
        Outcome {
            id: scenario.id.clone(),
            expected: Outcome::expected_text(scenario),
            got: Vec::new(),
            problems: vec![Problem::NotStarted {
                reason: error_chain(error),
            }],
            notes: Vec::new(),
            elapsed,
            report: None,
        }
    }
}

/// Compare the codes the checks produced with the expectations; returns the problems.
pub fn compare(scenario: &Expanded, got: &[Code], has_errors: bool) -> Vec<Problem> {
    let e = &scenario.expect;
    let reported = |code: &str| got.iter().any(|g| g.as_str() == code);
    let mut problems = Vec::new();
    for code in &e.diagnoses {
        if !reported(code.as_str()) {
            problems.push(Problem::Missing {
                code: code.as_str().to_owned(),
            });
        }
    }
    for code in &e.absent {
        if reported(code.as_str()) {
            problems.push(Problem::Unexpected {
                code: code.as_str().to_owned(),
            });
        }
    }
    if e.healthy && has_errors {
        problems.push(Problem::NotHealthy);
    }
    problems
}

/// Run `scenario`; `exec` is an external command judged against `[[expect.exec]]` for its client.
pub async fn run_scenario(
    scenario: &Expanded,
    exec: Option<&str>,
    exec_timeout: Duration,
) -> Outcome {
    run_scenario_recorded(scenario, exec, exec_timeout, None, &Recording::default()).await
}

/// Where a scenario's run is recorded: its timeline and its HTTP Archive.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// The timeline as JSON lines, written once the lab has stopped (so the closes are in it).
    pub timeline: Option<PathBuf>,
    /// Every HTTP exchange as HAR 1.2, written as the exchanges happen.
    pub har: Option<PathBuf>,
    /// The packet capture and TLS key log.
    pub capture: CaptureOptions,
}

impl Recording {
    /// The recording of scenario `id` under the folders `timeline` and `har` (`ID.jsonl`,
    /// `ID.har`).
    pub fn in_folders(
        id: &str,
        timeline: Option<&Path>,
        har: Option<&Path>,
        capture: CaptureOptions,
    ) -> Recording {
        Recording {
            timeline: timeline.map(|dir| dir.join(format!("{id}.jsonl"))),
            har: har.map(|dir| dir.join(format!("{id}.har"))),
            capture,
        }
    }

    fn is_empty(&self) -> bool {
        self.timeline.is_none() && self.har.is_none()
    }
}

/// [`run_scenario`], recorded as `recording` asks, with `exec_fallback` judging a command no
/// `[[expect.exec]]` names (see [`Live::run_judged`]). A failed write is a problem of the outcome,
/// not a panic.
pub async fn run_scenario_recorded(
    scenario: &Expanded,
    exec: Option<&str>,
    exec_timeout: Duration,
    exec_fallback: Option<&ExecExpectation>,
    recording: &Recording,
) -> Outcome {
    let started = Instant::now();
    match Live::start_captured(scenario.clone(), recording.capture.clone()).await {
        Ok(live) => {
            let events = live.lab().timeline().clone();
            let mut failures = Vec::new();
            if let Some(path) = &recording.har {
                if let Err(error) = events.har_to(path) {
                    failures.push(format!(
                        "cannot write the HAR file {}: {error}",
                        path.display()
                    ));
                }
            }
            let mut outcome = live.run_judged(exec, exec_timeout, exec_fallback).await;
            if !recording.is_empty() {
                // Let connections the checks just ended finish their story before the lab stops.
                events
                    .settle(Duration::from_millis(25), Duration::from_millis(300))
                    .await;
            }
            live.shutdown().await;
            if let Some(path) = &recording.timeline {
                if let Err(error) = std::fs::write(path, events.to_json_lines()) {
                    failures.push(format!(
                        "cannot write the timeline to {}: {error}",
                        path.display()
                    ));
                }
            }
            outcome.problems.extend(
                failures
                    .into_iter()
                    .map(|reason| Problem::NotStarted { reason }),
            );
            outcome
        }
        Err(error) => Outcome::not_started(scenario, &error, started.elapsed()),
    }
}
