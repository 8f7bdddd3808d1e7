//! A lab with its control API in a child process: `egresslab up SCENARIO --control 127.0.0.1:0`.
//!
//! Tests that drive the control API from outside (published Toxiproxy clients, `egresslab ctl`) share
//! this one way of starting and stopping it. The separate `tests/clients/toxiproxy-rust` crate
//! includes the file by `#[path]`, so it uses nothing but std, anyhow, libc, serde_json and tempfile.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

/// How long `up` may take to say "lab up", and to exit after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `egresslab up … --control 127.0.0.1:0`; dropping it stops the lab (SIGTERM).
pub struct ControlLab {
    child: Option<Child>,
    control: SocketAddr,
    ready: serde_json::Value,
    _dir: tempfile::TempDir,
}

impl ControlLab {
    /// Start `BINARY up SCENARIO --control 127.0.0.1:0 --seed SEED` and return once it announced
    /// itself ("lab up" on stderr, written after the ready file), with the control address read from
    /// the ready file.
    pub fn start(binary: &Path, scenario: &str, seed: u64) -> anyhow::Result<ControlLab> {
        ControlLab::start_with(binary, scenario, seed, &[])
    }

    /// As [`ControlLab::start`], with more arguments for `up` (`--web 127.0.0.1:0`).
    pub fn start_with(
        binary: &Path,
        scenario: &str,
        seed: u64,
        more: &[&str],
    ) -> anyhow::Result<ControlLab> {
        let dir = tempfile::tempdir()?;
        let ready_path = dir.path().join("ready.json");
        let mut child = Command::new(binary)
            .env(
                "EGRESSLAB_CA_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
            )
            .args(["up", scenario, "--control", "127.0.0.1:0", "--seed"])
            .arg(seed.to_string())
            .arg("--ready-file")
            .arg(&ready_path)
            .args(more)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let announced = announced(&mut child);
        let mut lab = ControlLab {
            child: Some(child),
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
            ready: serde_json::Value::Null,
            _dir: dir,
        };
        if let Err(seen) = announced {
            anyhow::bail!("egresslab up did not say `lab up`; its stderr:\n{seen}");
        }
        let text = std::fs::read_to_string(&ready_path).context("reading the ready file")?;
        lab.ready = serde_json::from_str(&text).context("the ready file is JSON")?;
        lab.control = lab.ready["control"]
            .as_str()
            .context("`control` in the ready file")?
            .parse()
            .context("`control` is an address")?;
        Ok(lab)
    }

    /// The control API's address, `127.0.0.1:PORT`.
    pub fn control(&self) -> SocketAddr {
        self.control
    }

    /// The control API as a URL, `http://127.0.0.1:PORT`, the form Toxiproxy clients take.
    pub fn url(&self) -> String {
        format!("http://{}", self.control)
    }

    /// The ready file's JSON, for the lab's other addresses.
    pub fn ready(&self) -> &serde_json::Value {
        &self.ready
    }

    /// Stop the lab with SIGTERM and return how `up` exited; a child still running after the
    /// patience is killed and reported as an error.
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        match self.child.take() {
            Some(child) => terminate(child),
            None => anyhow::bail!("already stopped"),
        }
    }
}

impl Drop for ControlLab {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = terminate(child);
        }
    }
}

/// Wait for the "lab up" line; the reading thread keeps draining stderr afterwards so the child never
/// blocks on a full pipe, and ends when the child closes it.
fn announced(child: &mut Child) -> Result<(), String> {
    let Some(stderr) = child.stderr.take() else {
        return Err("no stderr pipe".to_owned());
    };
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("lab up") {
                let _ = sender.send(Ok(()));
                seen.clear();
            } else if seen.len() < 64 * 1024 {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        let _ = sender.send(Err(seen));
    });
    match receiver.recv_timeout(PATIENCE) {
        Ok(result) => result,
        Err(_) => Err(format!("nothing within {PATIENCE:?}")),
    }
}

fn terminate(mut child: Child) -> anyhow::Result<ExitStatus> {
    let pid = libc::pid_t::try_from(child.id()).context("pid")?;
    // SAFETY: signalling our own child by its pid; it has not been reaped yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait());
    });
    match receiver.recv_timeout(PATIENCE) {
        Ok(status) => Ok(status?),
        Err(_) => {
            // SAFETY: as above; the waiting thread reaps it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            anyhow::bail!("egresslab up still running {PATIENCE:?} after SIGTERM")
        }
    }
}
