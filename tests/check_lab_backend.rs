//! The back-end application time-out against a lab application that answers after a delay: between
//! the default and the long time-out is `app.backend_timeout`, below the default is `app.ok`.

mod common;

use std::time::Duration;

use common::checklab::{assert_healthy, assert_problems, client, show, the};
use egresslab::certs::Profile;
use egresslab::check::{run, Probe};
use egresslab::lab::{EndpointPlan, HttpAnswer, Lab};

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
async fn slower_than_long_is_unreachable() {
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
    assert_problems(&report, &["app.unreachable"]);
    assert!(
        the(&report, "app.unreachable").summary.contains("long"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}
