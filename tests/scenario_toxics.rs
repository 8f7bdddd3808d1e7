//! The catalog scenarios made with `[[toxic]]` keys and their healthy twins, through the library
//! runner: each gives its diagnosis, its twin is healthy, and with the default seed two runs draw
//! the same connections and datagrams, so they report the same codes and the same shares.

use std::time::Duration;

use egresslab::scenario::find;
use egresslab::scenario::runner::{run_scenario, Outcome};

/// (scenario, the code it must report, its healthy twin).
const PAIRS: &[(&str, &str, &str)] = &[
    (
        "backend-slow-link",
        "app.backend_timeout",
        "backend-link-healthy",
    ),
    (
        "registration-bandwidth-starved",
        "net.slow_path",
        "registration-link-healthy",
    ),
    ("proxy-flapping", "proxy.flapping", "proxy-tunnels-healthy"),
    ("vpn-ike-lossy", "vpn.ike_lossy", "vpn-healthy"),
];

async fn run(id: &str) -> Outcome {
    let scenarios = find(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(scenarios.len(), 1, "{id}");
    run_scenario(&scenarios[0], None, Duration::from_secs(10)).await
}

fn show(outcome: &Outcome) -> String {
    format!(
        "{}: expected {}, got {:?}, problems {:?}\n{:#?}",
        outcome.id, outcome.expected, outcome.got, outcome.problems, outcome.report
    )
}

/// The summary of the finding with `code`.
fn summary(outcome: &Outcome, code: &str) -> String {
    outcome
        .report
        .as_ref()
        .and_then(|r| r.with_code(code).next().map(|f| f.summary.clone()))
        .unwrap_or_else(|| panic!("no {code}: {}", show(outcome)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_toxic_scenario_gives_its_diagnosis_and_its_twin_is_healthy() {
    for (id, code, twin) in PAIRS {
        let sick = run(id).await;
        assert!(sick.passed(), "{}", show(&sick));
        assert!(
            sick.got.iter().any(|c| c.as_str() == *code),
            "{}",
            show(&sick)
        );
        let healthy = run(twin).await;
        assert!(healthy.passed(), "{}", show(&healthy));
        assert!(
            !healthy
                .report
                .as_ref()
                .is_some_and(|r| r.has_errors() || r.with_code(code).next().is_some()),
            "{}",
            show(&healthy)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_findings_say_what_was_measured() {
    let slow = run("registration-bandwidth-starved").await;
    let text = summary(&slow, "net.slow_path");
    assert!(
        text.contains("KB/s measured") && text.contains("enterpriseregistration.windows.net"),
        "{text}"
    );
    let flapping = run("proxy-flapping").await;
    let text = summary(&flapping, "proxy.flapping");
    assert!(
        text.contains("of 8 connections through the proxy") && text.contains("were reset"),
        "{text}"
    );
    let lossy = run("vpn-ike-lossy").await;
    let text = summary(&lossy, "vpn.ike_lossy");
    assert!(text.contains("went unanswered"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_seed_replays_the_same_draws() {
    for id in ["proxy-flapping", "vpn-ike-lossy"] {
        let first = run(id).await;
        let second = run(id).await;
        assert_eq!(first.got, second.got, "{}\n{}", show(&first), show(&second));
        let code = if id == "proxy-flapping" {
            "proxy.flapping"
        } else {
            "vpn.ike_lossy"
        };
        // The share and the attempts; the proxy's port differs from lab to lab.
        let share = |o: &Outcome| summary(o, code).split(" through").next().map(str::to_owned);
        assert_eq!(share(&first), share(&second));
    }
}

/// A scenario's toxics are on its gates when the lab starts, the control API lists them, and
/// `POST /reset` puts them back after a client changed them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_toxics_are_listed_and_reset_goes_back_to_them() {
    use egresslab::lab::control::{ControlOptions, Toxic};
    use egresslab::lab::Lab;

    let scenario = find("proxy-flapping").unwrap().remove(0);
    let lab = Lab::start(scenario.plan.clone()).await.unwrap();
    let control = lab.start_control(ControlOptions::default()).unwrap();
    let names = |control: &egresslab::lab::control::Control| -> Vec<String> {
        control
            .get("corp")
            .unwrap()
            .toxics
            .iter()
            .map(|t| t.name.clone())
            .collect()
    };
    assert_eq!(names(&control), ["reset_peer_downstream"]);
    control
        .remove_toxic("corp", "reset_peer_downstream")
        .unwrap();
    let extra = Toxic::from_body(br#"{"type":"latency","attributes":{"latency":5}}"#).unwrap();
    control.add_toxic("corp", extra).unwrap();
    assert_eq!(names(&control), ["latency_downstream"]);
    control.reset().unwrap();
    assert_eq!(names(&control), ["reset_peer_downstream"]);
    lab.shutdown().await;
}

/// A plan written in code that puts a toxic on a listener the lab does not have, or one that does
/// not fit its listener, fails the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_toxic_that_cannot_be_placed_fails_the_start() {
    use egresslab::lab::control::Toxic;
    use egresslab::lab::{EndpointPlan, Lab, LabError};

    let start = |on: &'static str, body: &'static [u8]| async move {
        Lab::builder()
            .endpoint(EndpointPlan::http("app", &["app.egresslab.test"], 80))
            .toxic(on, Toxic::from_body(body).unwrap())
            .start()
            .await
            .unwrap_err()
    };
    let error = start("ap", br#"{"type":"latency"}"#).await;
    assert!(
        matches!(&error, LabError::UnknownToxicTarget { on, known, .. } if on == "ap" && known == &["app"]),
        "{error}"
    );
    let error = start("app", br#"{"type":"packet_loss"}"#).await;
    assert!(
        matches!(&error, LabError::ToxicMisfit { on, .. } if on == "app"),
        "{error}"
    );
}
