//! One running scenario: its lab, and its client completed against that lab. Every way a scenario
//! runs — `egresslab run`, `egresslab up`, generated scoring and a Rust test — goes through [`Live`]:
//! start, run the checks, run an external command with the lab's environment, judge, shut down.
//!
//! ```
//! use egresslab::scenario::Live;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let live = Live::from_catalog("tls-expired").await?;
//! let report = live.check().await;
//! assert!(report.codes().iter().any(|code| code.as_str() == "pki.expired"));
//! live.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use crate::check::{self, Report};
use crate::lab::{CaptureOptions, Lab, LabBuilder, LabError};

use super::error::ScenarioError;
use super::exec::{client_of, judge, run_command, ExecResult, ANY_CLIENT};
use super::expand::{ExecExpectation, Expanded};
use super::prepare::{exec_env, prepare, target_url, ClientProfile, PrepareError};
use super::runner::{compare, Outcome, Problem};
use super::{catalog, load};

/// Why a scenario could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The scenario could not be found or loaded.
    #[error("cannot load the scenario")]
    Load(#[source] ScenarioError),
    /// The lab did not start.
    #[error("the lab did not start")]
    Start(#[source] LabError),
    /// The client could not be completed, or its files written.
    #[error("cannot prepare the client")]
    Prepare(#[source] PrepareError),
}

/// A scenario whose lab is running and whose client is completed. Dropping it stops the lab without
/// waiting; [`Live::shutdown`] also waits until every port is free.
#[derive(Debug)]
pub struct Live {
    scenario: Expanded,
    client: ClientProfile,
    lab: Lab,
    started: Instant,
}

impl Live {
    /// Start the lab of a loaded scenario and complete its client from the running lab.
    pub async fn start(scenario: Expanded) -> Result<Live, LiveError> {
        Live::start_captured(scenario, CaptureOptions::default()).await
    }

    /// Start as [`Live::start`] does, capturing the lab's traffic and TLS secrets as `capture`
    /// says (`egresslab up|run --capture`).
    pub async fn start_captured(
        scenario: Expanded,
        capture: CaptureOptions,
    ) -> Result<Live, LiveError> {
        Live::start_networked(scenario, capture, None).await
    }

    /// Start as [`Live::start_captured`] does, and with `network` put the lab on its own addresses
    /// and ports (`egresslab up --ports/--bind/--netns`).
    pub async fn start_networked(
        scenario: Expanded,
        capture: CaptureOptions,
        network: Option<crate::lab::NetworkOptions>,
    ) -> Result<Live, LiveError> {
        let started = Instant::now();
        let mut builder = LabBuilder::from_plan(scenario.plan.clone()).capture(capture);
        if let Some(network) = network {
            builder = builder.network(network);
        }
        let lab = builder.start().await.map_err(LiveError::Start)?;
        let client = prepare(&lab, &scenario).map_err(LiveError::Prepare)?;
        Ok(Live {
            scenario,
            client,
            lab,
            started,
        })
    }

    /// Start the built-in catalog scenario with this id (`egresslab list` shows them).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = egresslab::scenario::Live::from_catalog("proxy-denies-domain").await?;
    /// assert!(live.lab().proxy("corp").is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_catalog(id: &str) -> Result<Live, LiveError> {
        let entry = catalog::Catalog::get(id)
            .ok_or_else(|| ScenarioError::NotFound {
                query: id.to_owned(),
            })
            .map_err(LiveError::Load)?;
        Live::start(entry.load().map_err(LiveError::Load)?).await
    }

    /// Start the scenario in the file at `path`.
    pub async fn from_file(path: impl AsRef<Path>) -> Result<Live, LiveError> {
        Live::start(load::load_file(path.as_ref()).map_err(LiveError::Load)?).await
    }

    /// Start a scenario written as TOML text (errors name it `<inline>`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = egresslab::scenario::Live::from_toml(r#"
    ///     [scenario]
    ///     name = "login-refused"
    ///     summary = "Nothing listens behind the login name."
    ///     seed = "example"
    ///     tags = ["example"]
    ///
    ///     [[endpoint]]
    ///     name = "login"
    ///     hosts = ["login.egresslab.test"]
    ///     port = 443
    ///     tls = { profile = "valid" }
    ///
    ///     [[firewall]]
    ///     hosts = "login.egresslab.test"
    ///     action = "reject"
    ///
    ///     [client]
    ///     probes = [{ url = "https://login.egresslab.test/" }]
    ///
    ///     [expect]
    ///     diagnoses = ["net.tcp.refused"]
    /// "#).await?;
    /// assert_eq!(live.scenario().id, "login-refused");
    /// assert!(live.lab().endpoint("login").is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_toml(text: &str) -> Result<Live, LiveError> {
        Live::start(load::load_str("<inline>", text).map_err(LiveError::Load)?).await
    }

    /// The running lab: its proxies, endpoints, timeline.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The scenario as loaded.
    pub fn scenario(&self) -> &Expanded {
        &self.scenario
    }

    /// The client completed against the lab: the checks' configuration, probes, files.
    pub fn client(&self) -> &ClientProfile {
        &self.client
    }

    /// The proxy URL the client uses, if it has a fixed one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = egresslab::scenario::Live::from_catalog("proxy-healthy").await?;
    /// let url = live.proxy_url().expect("the client uses a proxy");
    /// assert_eq!(url, live.lab().proxy("corp").expect("corp").url());
    /// let env = live.env()?;
    /// assert!(env.iter().any(|(key, value)| key == "HTTPS_PROXY" && value == url));
    /// # Ok(())
    /// # }
    /// ```
    pub fn proxy_url(&self) -> Option<&str> {
        self.client.proxy_url.as_deref()
    }

    /// Run the checks as the scenario's client and return their report.
    pub async fn check(&self) -> Report {
        check::run(&self.client.config, &self.client.probes).await
    }

    /// The environment of an external command pointed at the scenario's first URL
    /// (docs/exec-contract.md); writes the lab's `.curlrc`.
    pub fn env(&self) -> Result<Vec<(String, String)>, LiveError> {
        self.env_for(None, None)
    }

    /// The environment of an external command pointed at `url` (else the scenario's first URL), naming
    /// `ready_file` when there is one.
    pub fn env_for(
        &self,
        url: Option<&str>,
        ready_file: Option<&Path>,
    ) -> Result<Vec<(String, String)>, LiveError> {
        let url = target_url(&self.scenario, url);
        exec_env(
            &self.scenario,
            &self.client,
            &self.lab,
            url.as_deref(),
            ready_file,
        )
        .map_err(LiveError::Prepare)
    }

    /// Run `command` with `sh -c` in the environment `env` (from [`Live::env`], possibly extended),
    /// killing it after `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = egresslab::scenario::Live::from_catalog("tls-healthy").await?;
    /// let env = live.env()?;
    /// let result = live.exec("echo $EGRESSLAB_SCENARIO", &env, Duration::from_secs(10)).await?;
    /// assert_eq!(result.stdout.trim(), "tls-healthy");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec(
        &self,
        command: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> std::io::Result<ExecResult> {
        run_command(command, env, timeout).await
    }

    /// Run the checks and, with `exec`, that command once per `[[expect.exec]]` of its client; judge
    /// both against the scenario's expectations.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = egresslab::scenario::Live::from_catalog("port-443-refused").await?;
    /// let outcome = live.run(None, Duration::from_secs(30)).await;
    /// assert!(outcome.passed(), "{:?}", outcome.problems);
    /// assert!(outcome.report.expect("the checks ran").has_errors());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run(&self, exec: Option<&str>, exec_timeout: Duration) -> Outcome {
        self.run_judged(exec, exec_timeout, None).await
    }

    /// [`Live::run`], where `fallback` judges the command when no `[[expect.exec]]` names its client
    /// (nor `client = "*"`), as `egresslab run --exec-expect exit=N` asks. A command nothing judges
    /// still runs once, and the outcome notes that it was not judged.
    pub async fn run_judged(
        &self,
        exec: Option<&str>,
        exec_timeout: Duration,
        fallback: Option<&ExecExpectation>,
    ) -> Outcome {
        let report = self.check().await;
        let got = report.codes();
        let mut problems = compare(&self.scenario, &got, report.has_errors());
        let mut notes = Vec::new();
        if let Some(command) = exec {
            let (exec_problems, note) = self.judge_exec(command, exec_timeout, fallback).await;
            problems.extend(exec_problems);
            notes.extend(note);
        }
        Outcome {
            id: self.scenario.id.clone(),
            expected: Outcome::expected_text(&self.scenario),
            got,
            problems,
            notes,
            elapsed: self.started.elapsed(),
            report: Some(report),
        }
    }

    /// The problems of `command` against the expectations for its client, and a note when nothing
    /// judged it.
    async fn judge_exec(
        &self,
        command: &str,
        timeout: Duration,
        fallback: Option<&ExecExpectation>,
    ) -> (Vec<Problem>, Option<String>) {
        let client = client_of(command);
        let all = &self.scenario.expect.exec;
        let mut chosen: Vec<&ExecExpectation> = all.iter().filter(|x| x.client == client).collect();
        if chosen.is_empty() {
            chosen = all.iter().filter(|x| x.client == ANY_CLIENT).collect();
        }
        if chosen.is_empty() {
            chosen.extend(fallback);
        }
        if chosen.is_empty() {
            return (
                Vec::new(),
                Some(self.run_unjudged(command, &client, timeout).await),
            );
        }
        let mut problems = Vec::new();
        for expectation in chosen {
            let problem = |problem: String| Problem::Exec {
                client: client.clone(),
                problem,
            };
            let env = match self.env_for(expectation.url.as_deref(), None) {
                Ok(env) => env,
                Err(error) => {
                    problems.push(problem(format!("cannot run: {}", error_chain(&error))));
                    continue;
                }
            };
            match self.exec(command, &env, timeout).await {
                Ok(result) => problems.extend(judge(expectation, &result).into_iter().map(problem)),
                Err(error) => problems.push(problem(format!("cannot run: {error}"))),
            }
        }
        (problems, None)
    }

    /// Run `command` once, pointed at the scenario's first URL, and say what it did and that
    /// nothing judged it.
    async fn run_unjudged(&self, command: &str, client: &str, timeout: Duration) -> String {
        let did = match self.env_for(None, None) {
            Ok(env) => match self.exec(command, &env, timeout).await {
                Ok(result) if result.timed_out => format!("ran longer than {timeout:?}"),
                Ok(result) => match result.exit_code {
                    Some(code) => format!("exit {code}"),
                    None => "killed by a signal".to_owned(),
                },
                Err(error) => format!("cannot run: {error}"),
            },
            Err(error) => format!("cannot run: {}", error_chain(&error)),
        };
        format!(
            "exec {client}: not judged ({did}): no [[expect.exec]] for client \"{client}\" or \"{ANY_CLIENT}\"; give one, or --exec-expect exit=N"
        )
    }

    /// Stop the lab and wait until every task ended and every port is free.
    pub async fn shutdown(self) {
        self.lab.shutdown().await;
    }
}

/// An error and every cause below it, joined by `: ` (as `{:#}` prints an `anyhow` chain).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::files::mode;
    use super::*;

    #[tokio::test]
    async fn the_client_key_and_every_file_written_are_owner_only() {
        let live = Live::from_catalog("client-cert-healthy")
            .await
            .expect("starts");
        live.env().expect("environment");
        let (cert, key) = live.client().client_files.clone().expect("a client cert");
        let dir = key.parent().expect("folder");
        assert_eq!(mode(&key), 0o600, "client key");
        assert_eq!(mode(dir), 0o700, "the key's folder");
        for file in [
            cert,
            live.client().trust_bundle.clone(),
            dir.join(".curlrc"),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        let artifacts = dir.join("artifacts");
        assert_eq!(mode(&artifacts), 0o700);
        assert_eq!(mode(&artifacts.join("store")), 0o700);
        live.shutdown().await;
    }

    #[tokio::test]
    async fn the_expected_issuer_is_what_the_endpoints_serve() {
        let live = Live::from_catalog("tls-untrusted-root")
            .await
            .expect("starts");
        let leaf = live.lab().endpoints()[0]
            .certificate()
            .expect("a TLS endpoint");
        let info = egresslab_certs::inspect(leaf).expect("parses");
        let issuer = info.issuer_common_name.unwrap_or(info.issuer);
        assert_eq!(live.client().config.expected_issuers, vec![issuer]);
    }

    #[tokio::test]
    async fn a_missing_catalog_id_is_a_load_error() {
        let error = Live::from_catalog("no-such-scenario")
            .await
            .expect_err("not found");
        assert!(matches!(error, LiveError::Load(_)), "{error}");
        assert!(error_chain(&error).contains("no scenario `no-such-scenario`"));
    }
}
