//! Toxiproxy clients written elsewhere drive `egresslab up --control` unchanged (issue 13): the
//! published toxiproxy-python (PyPI) and toxiproxy-node-client (npm) packages. The published Rust
//! crate has its own test crate, `tests/clients/toxiproxy-rust`, run by test.sh.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::control_lab::ControlLab;
use serde_json::{json, Value};

fn lab() -> ControlLab {
    ControlLab::start(Path::new(env!("CARGO_BIN_EXE_egresslab")), "tls-healthy", 7)
        .expect("the lab starts")
}

fn client_script(name: &str) -> String {
    format!("{}/tests/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn toxiproxy_python_creates_lists_updates_and_deletes() {
    let lab = lab();
    let control = lab.control();
    let out = Command::new("python3")
        .arg(client_script("toxiproxy_python.py"))
        .args([
            &control.ip().to_string(),
            &control.port().to_string(),
            "site",
        ])
        .output()
        .expect("python3 runs");
    lab.stop().expect("the lab stops");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "duplicate refused",
        "toxic updated by POST",
        "toxic updated by PATCH",
        "disabled link refuses",
        "link updated by PATCH",
        "populated ['site-two']",
        "reset",
        "deleted",
        "ok",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(step)),
            "{step} missing:\n{stdout}"
        );
    }
}

/// The node script's JSON lines, by step; a line that is not JSON fails the test.
fn steps(stdout: &str) -> HashMap<String, Value> {
    stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{stdout}"));
            let step = value["step"].as_str().expect("a step").to_owned();
            (step, value)
        })
        .collect()
}

/// The port of a `host:port` the server answered; never the 0 that was asked for.
fn port_of(listen: &Value) -> u16 {
    let text = listen.as_str().expect("listen is a string");
    let address: std::net::SocketAddr = text.parse().expect("listen is an address");
    assert_ne!(address.port(), 0, "port 0 answered with the real port");
    address.port()
}

#[test]
fn toxiproxy_node_client_creates_lists_updates_and_deletes() {
    let lab = lab();
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node_modules");
    assert!(
        modules.join("toxiproxy-node-client").is_dir(),
        "toxiproxy-node-client is not installed in {}: test.sh installs it (npm install --prefix tests/clients)",
        modules.display()
    );
    let out = Command::new("node")
        .arg(client_script("toxiproxy_node.js"))
        .args([&lab.url(), "site"])
        .output()
        .expect("node runs");
    lab.stop().expect("the lab stops");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    let steps = steps(&stdout);
    let step = |name: &str| -> &Value {
        steps
            .get(name)
            .unwrap_or_else(|| panic!("step {name} missing:\n{report}"))
    };

    assert!(step("version")["text"]
        .as_str()
        .is_some_and(|t| t.contains("egresslab")));

    let created = step("created");
    assert_eq!(created["name"], "site-node");
    assert_eq!(created["upstream"], "site");
    assert_eq!(created["enabled"], true);
    let port = port_of(&created["listen"]);
    assert_eq!(
        step("duplicate")["error"],
        "Request failed with status code 409"
    );
    assert_eq!(
        step("outside")["error"],
        "Request failed with status code 403"
    );

    let listed = step("listed");
    // The lab's own endpoint `site` is listed beside the link (docs/control.md).
    assert_eq!(listed["names"], json!(["site", "site-node"]));
    assert_eq!(port_of(&listed["listen"]), port);
    assert_eq!(listed["enabled"], true);

    let by_post = step("updated_post");
    assert_eq!(by_post["name"], "site-node");
    assert_eq!(by_post["enabled"], false);
    assert_eq!(
        port_of(&by_post["listen"]),
        port,
        "an update keeps the port"
    );
    assert_eq!(
        by_post["connect"], "ECONNREFUSED",
        "a disabled link refuses"
    );

    let by_patch = step("updated_patch");
    assert_eq!(by_patch["status"], 200);
    assert_eq!(by_patch["enabled"], true);
    assert_eq!(by_patch["fetched_enabled"], true);
    assert_eq!(by_patch["connect"], "connected", "an enabled link accepts");

    let added = step("toxic_added");
    assert_eq!(added["name"], "slow");
    assert_eq!(added["type"], "latency");
    assert_eq!(added["stream"], "downstream");
    assert_eq!(added["toxicity"], 1.0);
    assert_eq!(added["attributes"], json!({"latency": 100, "jitter": 5}));

    let defaulted = step("toxic_defaulted");
    assert_eq!(defaulted["name"], "bandwidth_downstream");
    assert_eq!(defaulted["stream"], "downstream");
    assert_eq!(defaulted["toxicity"], 1.0);
    assert_eq!(defaulted["attributes"], json!({"rate": 1000}));

    let updated = step("toxic_updated");
    assert_eq!(updated["name"], "slow");
    assert_eq!(updated["toxicity"], 0.5);
    assert_eq!(
        updated["attributes"],
        json!({"latency": 250, "jitter": 5}),
        "attributes are merged"
    );
    let patched = step("toxic_patched");
    assert_eq!(patched["status"], 200);
    assert_eq!(patched["toxicity"], 0.5);
    assert_eq!(patched["attributes"], json!({"latency": 250, "jitter": 20}));
    assert_eq!(step("toxic_got")["attributes"], patched["attributes"]);

    assert_eq!(
        step("toxics_listed")["names"],
        json!(["bandwidth_downstream", "slow"])
    );
    let removed = step("toxic_removed");
    assert_eq!(removed["names"], json!(["bandwidth_downstream"]));
    assert_eq!(removed["get_error"], "Request failed with status code 404");
    assert_eq!(
        removed["body"],
        json!({"error": "toxic not found", "status": 404})
    );

    let deleted = step("deleted");
    assert_eq!(deleted["get_error"], "Request failed with status code 404");
    assert_eq!(
        deleted["body"],
        json!({"error": "proxy not found", "status": 404})
    );
    assert_eq!(
        deleted["names"],
        json!(["site"]),
        "only the lab's own listener is left"
    );
    assert_eq!(
        deleted["connect"], "ECONNREFUSED",
        "a deleted link frees its port"
    );
    step("done");
}
