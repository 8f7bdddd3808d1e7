//! Real client against the firewall: curl sees a dropped port time out (exit 28 after ~2 s) and a
//! rejected port refuse at once (exit 7).

mod common;

use std::time::{Duration, Instant};

use common::lab::{args, connect_to, describe, run};
use egresslab::lab::{EndpointPlan, FirewallAction, Lab, Vantage};

async fn curl_timed(lab: &Lab, host: &str) -> (std::process::Output, Duration) {
    let endpoint = lab.endpoint("app").unwrap();
    let mut command = args(&["-sS", "--connect-timeout", "2", "-o", "/dev/null"]);
    command.extend(connect_to(host, 80, endpoint.address()));
    command.push(format!("http://{host}/"));
    let started = Instant::now();
    let output = run("curl", command).await.unwrap();
    (output, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_times_out_on_drop_and_is_refused_on_reject() {
    let dropped = Lab::builder()
        .endpoint(EndpointPlan::http("app", &["app.egresslab.test"], 80))
        .firewall(Vantage::Client, "*", Some(80), FirewallAction::Drop)
        .start()
        .await
        .unwrap();
    let rejected = Lab::builder()
        .endpoint(EndpointPlan::http("app", &["app.egresslab.test"], 80))
        .firewall(Vantage::Client, "*", Some(80), FirewallAction::Reject)
        .start()
        .await
        .unwrap();

    let (output, took) = curl_timed(&dropped, "app.egresslab.test").await;
    assert_eq!(output.status.code(), Some(28), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).to_ascii_lowercase();
    assert!(
        stderr.contains("timed out") || stderr.contains("timeout was reached"),
        "{}",
        describe(&output)
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );

    let (output, took) = curl_timed(&rejected, "app.egresslab.test").await;
    assert_eq!(output.status.code(), Some(7), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Connection refused")
            || String::from_utf8_lossy(&output.stderr).contains("Couldn't connect"),
        "{}",
        describe(&output)
    );
    assert!(took < Duration::from_millis(1000), "{took:?}");
    dropped.shutdown().await;
    rejected.shutdown().await;
}
