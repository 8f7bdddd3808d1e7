//! Running one scenario as `egresslab run` does, through [`Live`]: start, judge the checks (and an
//! optional external command) against the expectations, shut down; and the typed outcome.

use std::fmt;
use std::time::{Duration, Instant};

use crate::check::{Code, Report};
use crate::lab::CaptureOptions;

use super::expand::Expanded;
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
    run_scenario_captured(scenario, exec, exec_timeout, CaptureOptions::default()).await
}

/// Run `scenario` as [`run_scenario`] does, capturing its lab's traffic as `capture` says.
pub async fn run_scenario_captured(
    scenario: &Expanded,
    exec: Option<&str>,
    exec_timeout: Duration,
    capture: CaptureOptions,
) -> Outcome {
    let started = Instant::now();
    match Live::start_captured(scenario.clone(), capture).await {
        Ok(live) => {
            let outcome = live.run(exec, exec_timeout).await;
            live.shutdown().await;
            outcome
        }
        Err(error) => Outcome::not_started(scenario, &error, started.elapsed()),
    }
}
