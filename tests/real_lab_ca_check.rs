//! The persisted lab CA and `check` reading a running lab, driven through the real binary:
//! `egresslab certs ca` names a root that `openssl s_client -CAfile` accepts on a running `up` lab,
//! a second `up` serves under the same root, `--ephemeral-ca` under a new one that is gone at exit,
//! concurrent first use of one folder agrees on one root; `check --ready-file` and `--from-env`
//! (the printed `export` lines) judge healthy, proxied, authenticated and failing labs.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

use common::bin::{described as text, egresslab};

/// A running `egresslab up`: its ready file, the `export` lines it printed, stopped on drop.
struct Up {
    child: Child,
    ready: serde_json::Value,
    ready_path: PathBuf,
    exports: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Up {
    /// `egresslab up SCENARIO ARGS --ready-file F`, once it printed its exports and curl line and
    /// said "lab up" (bounded to 30 s).
    fn start(scenario: &str, args: &[&str]) -> Up {
        Up::start_from(egresslab(), scenario, args)
    }

    /// As [`Up::start`], from `command` (the binary with an environment of the test's choosing).
    fn start_from(mut command: Command, scenario: &str, args: &[&str]) -> Up {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready_path = dir.path().join("ready.json");
        let mut child = command
            .arg("up")
            .arg(scenario)
            .args(args)
            .arg("--ready-file")
            .arg(&ready_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("egresslab up starts");
        let (sender, receiver) = mpsc::channel::<Result<String, String>>();
        let stdout = child.stdout.take().expect("stdout");
        let to_main = sender.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = to_main.send(Ok(line));
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("lab up") {
                    let _ = sender.send(Err(String::new()));
                } else {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            let _ = sender.send(Err(seen));
        });
        let mut exports = HashMap::new();
        let mut announced = false;
        let mut printed_curl = false;
        while !(announced && printed_curl) {
            match receiver.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(line)) => {
                    if let Some(export) = line.strip_prefix("export ") {
                        let (key, value) = export.split_once('=').expect("KEY=VALUE");
                        exports.insert(key.to_owned(), value.trim_matches('\'').to_owned());
                    }
                    printed_curl |= line.starts_with("curl ");
                }
                Ok(Err(seen)) if seen.is_empty() => announced = true,
                Ok(Err(seen)) => panic!("egresslab up {scenario} stopped: {seen}"),
                Err(_) => panic!("egresslab up {scenario}: not up within 30 s"),
            }
        }
        let text = std::fs::read_to_string(&ready_path).expect("the ready file is there");
        Up {
            child,
            ready: serde_json::from_str(&text).expect("ready file JSON"),
            ready_path,
            exports,
            _dir: dir,
        }
    }

    fn lab_ca(&self) -> PathBuf {
        PathBuf::from(self.ready["cas"]["lab"].as_str().expect("cas.lab"))
    }

    /// SIGTERM, then the exit status (bounded to 15 s).
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child by its pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("egresslab up did not stop within 15 s of SIGTERM");
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_client` to the lab's `site.egresslab.test` endpoint, verifying with `ca`.
fn s_client(up: &Up, ca: &Path) -> Output {
    let address = up.ready["endpoints"]["site"]["address"]
        .as_str()
        .expect("endpoint address");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", address])
        .args(["-servername", "site.egresslab.test"])
        .args(["-verify_hostname", "site.egresslab.test", "-CAfile"])
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    // `Q` on stdin ends the session once the handshake is done.
    let _ = child.stdin.take().expect("stdin").write_all(b"Q\n");
    child.wait_with_output().expect("openssl output")
}

fn sha256_fingerprint(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .expect("openssl x509 runs");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `egresslab certs ca --ca-dir DIR`, which must succeed; its standard output.
fn certs_ca(ca_dir: &Path) -> String {
    let out = egresslab()
        .args(["certs", "ca", "--ca-dir"])
        .arg(ca_dir)
        .output()
        .expect("certs ca runs");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_root_certs_ca_names_verifies_a_running_lab_and_stays_the_same() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("ca");
    let said = certs_ca(&ca_dir);
    let root = ca_dir.join("lab.pem");
    assert!(
        said.contains(&format!("lab CA directory: {}", ca_dir.display())),
        "{said}"
    );
    assert!(said.contains(&root.display().to_string()), "{said}");
    let fingerprint = sha256_fingerprint(&root);

    let first = Up::start(
        "tls-healthy",
        &["--ca-dir", ca_dir.to_str().expect("utf-8")],
    );
    assert_eq!(first.ready["ca"], "persisted");
    assert_eq!(first.ready["ca_dir"], ca_dir.display().to_string());
    assert_eq!(first.lab_ca(), root);
    assert_eq!(first.exports["EGRESSLAB_CA"], root.display().to_string());
    assert_eq!(
        first.exports["EGRESSLAB_CA_DIR"],
        ca_dir.display().to_string()
    );
    let verified = s_client(&first, &root);
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("Verify return code: 0 (ok)"),
        "{}",
        text(&verified)
    );
    assert!(first.stop().success());
    assert!(root.exists(), "the persisted root outlives the lab");

    // The variable works as the flag does, and the second lab serves under the same root.
    let second = {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready_path = dir.path().join("ready.json");
        let mut child = egresslab()
            .env("EGRESSLAB_CA_DIR", &ca_dir)
            .args(["up", "tls-healthy", "--ready-file"])
            .arg(&ready_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("up starts");
        let mut waited = 0;
        while !ready_path.exists() {
            assert!(waited < 600, "no ready file within 30 s");
            assert!(child.try_wait().expect("wait").is_none(), "up exited");
            std::thread::sleep(Duration::from_millis(50));
            waited += 1;
        }
        let ready: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ready_path).expect("read"))
                .expect("json");
        let _ = child.kill();
        let _ = child.wait();
        ready
    };
    assert_eq!(second["cas"]["lab"], root.display().to_string());
    assert_eq!(sha256_fingerprint(&root), fingerprint, "the root is reused");
    for role in [
        "lab",
        "intermediate",
        "inspection",
        "untrusted",
        "connector-registration",
    ] {
        let key = ca_dir.join(format!("{role}.key"));
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}

#[test]
fn an_ephemeral_ca_is_new_and_gone_at_exit() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("ca");
    certs_ca(&ca_dir);
    let root = ca_dir.join("lab.pem");

    // --ephemeral-ca wins over --ca-dir.
    let up = Up::start(
        "tls-healthy",
        &[
            "--ca-dir",
            ca_dir.to_str().expect("utf-8"),
            "--ephemeral-ca",
        ],
    );
    assert_eq!(up.ready["ca"], "ephemeral");
    assert_eq!(up.ready["ca_dir"], serde_json::Value::Null);
    assert!(!up.exports.contains_key("EGRESSLAB_CA_DIR"));
    let throwaway = up.lab_ca();
    assert_ne!(throwaway, root);
    assert_eq!(up.exports["EGRESSLAB_CA"], throwaway.display().to_string());
    assert_ne!(sha256_fingerprint(&throwaway), sha256_fingerprint(&root));
    let with_throwaway = s_client(&up, &throwaway);
    assert!(
        String::from_utf8_lossy(&with_throwaway.stdout).contains("Verify return code: 0 (ok)"),
        "{}",
        text(&with_throwaway)
    );
    let with_persisted = s_client(&up, &root);
    assert!(
        !String::from_utf8_lossy(&with_persisted.stdout).contains("Verify return code: 0 (ok)"),
        "the persisted root must not vouch for an ephemeral lab: {}",
        text(&with_persisted)
    );
    assert!(up.stop().success());
    assert!(!throwaway.exists(), "{} left behind", throwaway.display());
    assert!(root.exists());
}

#[test]
fn concurrent_first_use_of_one_folder_makes_one_root() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("fresh");
    let children: Vec<Child> = (0..4)
        .map(|_| {
            egresslab()
                .args(["certs", "ca", "--ca-dir"])
                .arg(&ca_dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("certs ca starts")
        })
        .collect();
    let thumbprints: Vec<String> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("output");
            assert!(out.status.success(), "{}", text(&out));
            let said = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = said
                .lines()
                .find(|l| l.trim_start().starts_with("lab.pem"))
                .unwrap_or_else(|| panic!("no lab.pem line: {said}"))
                .to_owned();
            line.split("thumbprint ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .expect("thumbprint")
                .to_owned()
        })
        .collect();
    assert!(
        thumbprints.iter().all(|t| t == &thumbprints[0]),
        "{thumbprints:?}"
    );
    let on_disk = sha256_fingerprint(&ca_dir.join("lab.pem"));
    assert!(!on_disk.is_empty());
}

#[test]
fn run_serves_under_the_persisted_ca_and_exports_it() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("ca");
    let root = ca_dir.join("lab.pem");
    let command = format!(
        "test \"$EGRESSLAB_CA\" = '{}' && openssl s_client -connect \"$EGRESSLAB_ADDRESS\" \
         -servername \"$EGRESSLAB_HOST\" -verify_hostname \"$EGRESSLAB_HOST\" -CAfile '{}' </dev/null",
        root.display(),
        root.display()
    );
    let out = egresslab()
        .args(["run", "tls-healthy", "--ca-dir"])
        .arg(&ca_dir)
        .args([
            "--exec",
            &command,
            "--exec-expect",
            "exit=0",
            "--format",
            "json",
        ])
        .output()
        .expect("run runs");
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let said = json.to_string();
    assert!(!said.contains("not judged"), "{said}");
    assert!(root.exists(), "run created the persisted CA");
}

/// `egresslab check --ready-file F` (and any more arguments).
fn check_ready(up: &Up, more: &[&str]) -> Output {
    egresslab()
        .args(["check", "--ready-file"])
        .arg(&up.ready_path)
        .args(more)
        .output()
        .expect("check runs")
}

/// `egresslab check --from-env "$EGRESSLAB_URL"` with only the printed exports set.
fn check_env(up: &Up, more: &[&str]) -> Output {
    let mut command = egresslab();
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("EGRESSLAB_")) {
        command.env_remove(key);
    }
    command
        .envs(&up.exports)
        .args(["check", "--from-env"])
        .arg(&up.exports["EGRESSLAB_URL"])
        .args(more)
        .output()
        .expect("check runs")
}

fn codes(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn check_reads_a_running_lab_from_its_ready_file_and_its_exports() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("ca");
    let dir = ["--ca-dir", ca_dir.to_str().expect("utf-8")];
    let healthy = Up::start("tls-healthy", &dir);
    let expired = Up::start("tls-expired", &dir);
    let proxied = Up::start("proxy-healthy", &dir);
    let ntlm = Up::start("proxy-ntlm-healthy", &dir);
    let auth = Up::start("proxy-auth-required", &dir);

    for up in [&healthy, &proxied] {
        for out in [check_ready(up, &[]), check_env(up, &[])] {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        }
    }
    for out in [
        check_ready(&expired, &["--format", "json"]),
        check_env(&expired, &["--format", "json"]),
    ] {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(codes(&out).contains("pki.expired"), "{}", text(&out));
    }
    // The lab never writes the password; the scheme (NTLM only, here) comes from the lab.
    let password = ["--proxy-user", "CORP\\alice:Summer2026!"];
    for out in [check_ready(&ntlm, &password), check_env(&ntlm, &password)] {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert_eq!(ntlm.ready["client"]["proxy_auth"], "ntlm");
    assert_eq!(ntlm.exports["EGRESSLAB_PROXY_AUTH"], "ntlm");
    assert!(!std::fs::read_to_string(&ntlm.ready_path)
        .expect("ready")
        .contains("Summer2026!"));
    let without = check_ready(&ntlm, &[]);
    assert_eq!(without.status.code(), Some(1), "{}", text(&without));

    let refused = check_ready(&auth, &["--format", "json"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        codes(&refused).contains("proxy.auth_required"),
        "{}",
        text(&refused)
    );
    let with = check_ready(&auth, &["--proxy-user", "svc:not-for-the-connector"]);
    assert_eq!(with.status.code(), Some(0), "{}", text(&with));
}

#[test]
fn a_bad_or_missing_ready_file_is_named_with_its_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.json");
    let run = |path: &Path| {
        egresslab()
            .args(["check", "--ready-file"])
            .arg(path)
            .output()
            .expect("check runs")
    };
    let out = run(&missing);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains(&missing.display().to_string()), "{said}");

    let cases = [
        ("not-json.json", "{ scenario", "not the JSON"),
        (
            "no-client.json",
            r#"{"scenario": "x", "ca_bundle": "/x"}"#,
            "field `client`",
        ),
        (
            "bad-bundle.json",
            r#"{"client": {"proxy": "direct"}, "ca_bundle": null, "connect_to": []}"#,
            "field `ca_bundle`: expected a file path, found null",
        ),
        (
            "bad-proxy.json",
            r#"{"client": {"proxy": 3}, "ca_bundle": "/x"}"#,
            "field `client.proxy`",
        ),
        (
            "bad-mapping.json",
            r#"{"client": {"proxy": "direct"}, "ca_bundle": "/x", "connect_to": ["a.test:443"]}"#,
            "field `connect_to`",
        ),
    ];
    for (name, body, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).expect("write");
        let out = run(&path);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(said.contains(&path.display().to_string()), "{name}: {said}");
        assert!(said.contains(expected), "{name}: {said}");
        assert!(!said.contains("panicked"), "{name}: {said}");
    }

    let out = egresslab()
        .env_remove("EGRESSLAB_CA_BUNDLE")
        .args(["check", "--from-env", "https://site.egresslab.test/"])
        .output()
        .expect("check runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("EGRESSLAB_CA_BUNDLE"),
        "{}",
        text(&out)
    );
}

#[test]
fn ready_file_and_exports_carry_client_certificate_intermediates_and_expected_issuers() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("ca");
    let dir = ["--ca-dir", ca_dir.to_str().expect("utf-8")];
    let cases = [
        ("client-cert-healthy", 0, None),
        ("tls-incomplete-chain", 1, Some("pki.incomplete_chain")),
        ("tls-inspection", 1, Some("tls.intercepted")),
    ];
    for (scenario, code, expected) in cases {
        let up = Up::start(scenario, &dir);
        for out in [
            check_ready(&up, &["--format", "json"]),
            check_env(&up, &["--format", "json"]),
        ] {
            assert_eq!(out.status.code(), Some(code), "{scenario}: {}", text(&out));
            if let Some(expected) = expected {
                assert!(codes(&out).contains(expected), "{scenario}: {}", text(&out));
            }
        }
    }
}

#[test]
fn certs_ca_and_up_choose_the_same_default_folder_under_home() {
    let home = tempfile::tempdir().expect("tempdir");
    let at_home = || {
        let mut command = egresslab();
        command
            .env_remove("EGRESSLAB_CA_DIR")
            .env_remove("XDG_DATA_HOME")
            .env("HOME", home.path());
        command
    };
    let default = home.path().join(".local/share/egresslab/ca");
    let shown = at_home().args(["certs", "ca"]).output().expect("certs ca");
    assert!(shown.status.success(), "{}", text(&shown));
    assert!(
        String::from_utf8_lossy(&shown.stdout)
            .contains(&format!("lab CA directory: {}", default.display())),
        "{}",
        text(&shown)
    );
    let up = Up::start_from(at_home(), "tls-healthy", &[]);
    assert_eq!(up.ready["ca_dir"], default.display().to_string());
    let verified = s_client(&up, &default.join("lab.pem"));
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("Verify return code: 0 (ok)"),
        "{}",
        text(&verified)
    );
    drop(up);

    // No HOME, no variable, no flag: up says what to set and starts nothing.
    let out = egresslab()
        .env_remove("EGRESSLAB_CA_DIR")
        .env_remove("XDG_DATA_HOME")
        .env_remove("HOME")
        .args(["up", "tls-healthy"])
        .output()
        .expect("up runs");
    assert!(!out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("--ca-dir") && said.contains("--ephemeral-ca"),
        "{said}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
}
