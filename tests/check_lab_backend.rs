//! The back-end application time-out against a lab application that answers after a delay: between
//! the default and the long time-out is `app.backend_timeout`, below the default is `app.ok`, beyond
//! the long one is `app.no_answer` (connected, silent), which a dead host (`app.unreachable`) is not.

mod common;

use std::time::Duration;

use common::checklab::{assert_healthy, assert_problems, client, show, the};
use egresslab::certs::Profile;
use egresslab::check::{run, Probe};
use egresslab::lab::control::{ControlOptions, Toxic};
use egresslab::lab::{EndpointPlan, EventKind, HttpAnswer, Lab};

const DEFAULT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_millis(1500);

async fn app(delay: Duration) -> Lab {
    Lab::builder()
        .endpoint(
            EndpointPlan::http("app", &["app.internal.egresslab.test"], 80).answer(HttpAnswer {
                delay,
                ..HttpAnswer::default()
            }),
        )
        .endpoint(
            EndpointPlan::https(
                "secure",
                &["secure.internal.egresslab.test"],
                Profile::Valid,
            )
            .answer(HttpAnswer {
                delay,
                ..HttpAnswer::default()
            }),
        )
        .start()
        .await
        .unwrap()
}

fn probes() -> Vec<Probe> {
    [
        "http://app.internal.egresslab.test/",
        "https://secure.internal.egresslab.test/",
    ]
    .into_iter()
    .map(|url| Probe::Backend {
        url: url.into(),
        default_timeout: DEFAULT,
        long_timeout: LONG,
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slower_than_default_but_within_long_is_a_backend_timeout() {
    let lab = app(Duration::from_millis(700)).await;
    let report = run(&client(&lab), &probes()).await;
    assert_problems(&report, &["app.backend_timeout"]);
    assert_eq!(
        report.with_code("app.backend_timeout").count(),
        2,
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faster_than_default_is_ok() {
    let lab = app(Duration::from_millis(20)).await;
    let report = run(&client(&lab), &probes()).await;
    assert_healthy(&report, &["app.ok"]);
    assert_eq!(report.with_code("app.ok").count(), 2, "{}", show(&report));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slower_than_long_is_no_answer() {
    let lab = app(Duration::from_millis(2500)).await;
    let report = run(
        &client(&lab),
        &[Probe::Backend {
            url: "http://app.internal.egresslab.test/".into(),
            default_timeout: DEFAULT,
            long_timeout: LONG,
        }],
    )
    .await;
    assert_problems(&report, &["app.no_answer"]);
    assert!(
        the(&report, "app.no_answer").summary.contains("long"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

/// Side by side on one lab: an application behind a path slower than the long time-out (a latency
/// toxic on its gate) is `app.no_answer`; one whose listener is off refuses and is
/// `app.unreachable`. The checks tell a slow path from a dead host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_path_is_not_a_dead_host() {
    let latency = Toxic::from_body(br#"{"type":"latency","attributes":{"latency":2500}}"#).unwrap();
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http(
            "slow",
            &["slow.internal.egresslab.test"],
            80,
        ))
        .endpoint(EndpointPlan::http(
            "dead",
            &["dead.internal.egresslab.test"],
            80,
        ))
        .toxic("slow", latency)
        .start()
        .await
        .unwrap();
    let control = lab.start_control(ControlOptions::default()).unwrap();
    control
        .update_link("dead", None, None, Some(false))
        .unwrap();
    // The listener closes in its own task; the probe must find the port refusing.
    lab.timeline()
        .wait_for(
            |e| {
                e.source == "gate:dead"
                    && matches!(&e.kind, EventKind::Note { message } if message.contains("refuses connections"))
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let probe = |host: &str| Probe::Backend {
        url: format!("http://{host}/"),
        default_timeout: DEFAULT,
        long_timeout: LONG,
    };
    let report = run(
        &client(&lab),
        &[
            probe("slow.internal.egresslab.test"),
            probe("dead.internal.egresslab.test"),
        ],
    )
    .await;
    let slow = the(&report, "app.no_answer");
    assert!(slow.target.contains("slow."), "{}", show(&report));
    assert!(
        slow.summary.contains("accepted the connection"),
        "{}",
        show(&report)
    );
    let dead = the(&report, "app.unreachable");
    assert!(dead.target.contains("dead."), "{}", show(&report));
    // `the` asserts exactly one of each: the slow path is not also called unreachable.
    assert!(
        report.with_code("net.tcp.refused").count() >= 1,
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}
