//! Driving the control API with curl, as a client written elsewhere would.

use std::process::Output;

use egresslab::lab::control::{Control, ControlOptions};
use egresslab::lab::Lab;
use serde_json::Value;

/// Run curl with `args`.
pub async fn curl(args: &[&str]) -> Output {
    tokio::process::Command::new("curl")
        .args(args)
        .output()
        .await
        .expect("curl runs")
}

/// One API call with curl: the status and the JSON body (Null when empty).
pub async fn api(control: &Control, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let url = format!("http://{}{path}", control.address());
    let mut args = vec!["-s", "-X", method, "-w", "\n%{http_code}", url.as_str()];
    if let Some(body) = body {
        args.extend([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = curl(&args).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, status) = text.rsplit_once('\n').expect("status line");
    let value = if json.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(json).unwrap_or(Value::String(json.to_owned()))
    };
    (status.trim().parse().expect("status"), value)
}

/// The lab's control API on a loopback port, its draws seeded with `seed`.
pub fn with_seed(lab: &Lab, seed: u64) -> Control {
    lab.start_control(ControlOptions {
        seed,
        ..ControlOptions::default()
    })
    .expect("the control API starts")
}

/// One API call that must succeed (200, 201 or 204); its JSON (Null when empty).
pub async fn ok(control: &Control, method: &str, path: &str, body: Option<&str>) -> Value {
    let (status, json) = api(control, method, path, body).await;
    assert!(
        matches!(status, 200 | 201 | 204),
        "{method} {path} {body:?}: {status} {json}"
    );
    json
}
