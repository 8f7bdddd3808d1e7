//! Running one scenario: start its lab, complete the client, run the checks (and an optional external
//! command), compare with the expectations, shut the lab down.

use std::time::{Duration, Instant};

use crate::check;
use crate::lab::Lab;

use super::exec::{client_of, judge, run_command};
use super::expand::Expanded;
use super::prepare::{exec_env, prepare, target_url};

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario id.
    pub id: String,
    /// What was expected, as text (codes, or `healthy`).
    pub expected: String,
    /// The non-ok codes the checks produced.
    pub got: Vec<String>,
    /// Every way the run differed from the expectations; empty means pass.
    pub problems: Vec<String>,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// The checks' report as JSON.
    pub report_json: String,
}

impl Outcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compare codes with the expectations; returns the problems.
pub fn compare(scenario: &Expanded, got: &[String], has_errors: bool) -> Vec<String> {
    let e = &scenario.expect;
    let mut problems = Vec::new();
    for code in &e.diagnoses {
        if !got.iter().any(|g| g == code.as_str()) {
            problems.push(format!("expected {code}, not reported"));
        }
    }
    for code in &e.absent {
        if got.iter().any(|g| g == code.as_str()) {
            problems.push(format!("{code} reported, expected absent"));
        }
    }
    if e.healthy && has_errors {
        problems.push("expected healthy, got findings at error level".to_owned());
    }
    problems
}

/// Run `scenario`; `exec` is an external command judged against `[[expect.exec]]` for its client.
pub async fn run_scenario(
    scenario: &Expanded,
    exec: Option<&str>,
    exec_timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let mut expected: Vec<String> = scenario
        .expect
        .diagnoses
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    if scenario.expect.healthy {
        expected.push("healthy".to_owned());
    }
    let mut outcome = Outcome {
        id: scenario.id.clone(),
        expected: expected.join(", "),
        got: Vec::new(),
        problems: Vec::new(),
        elapsed: Duration::ZERO,
        report_json: String::new(),
    };
    let lab = match Lab::start(scenario.plan.clone()).await {
        Ok(lab) => lab,
        Err(error) => {
            outcome
                .problems
                .push(format!("the lab did not start: {error}"));
            outcome.elapsed = started.elapsed();
            return outcome;
        }
    };
    match prepare(&lab, scenario) {
        Err(error) => outcome
            .problems
            .push(format!("cannot prepare the client: {error}")),
        Ok(prepared) => {
            let report = check::run(&prepared.config, &prepared.probes).await;
            outcome.got = report
                .codes()
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect();
            outcome.problems = compare(scenario, &outcome.got, report.has_errors());
            outcome.report_json = check::report::json(&report);
            if let Some(command) = exec {
                let client = client_of(command);
                for expectation in scenario.expect.exec.iter().filter(|x| x.client == client) {
                    let url = target_url(scenario, expectation.url.as_deref());
                    let env = exec_env(scenario, &prepared, &lab, url.as_deref(), None);
                    match run_command(command, &env, exec_timeout).await {
                        Ok(result) => outcome.problems.extend(
                            judge(expectation, &result)
                                .into_iter()
                                .map(|p| format!("exec {client}: {p}")),
                        ),
                        Err(error) => outcome
                            .problems
                            .push(format!("exec {client}: cannot run: {error}")),
                    }
                }
            }
        }
    }
    lab.shutdown().await;
    outcome.elapsed = started.elapsed();
    outcome
}
