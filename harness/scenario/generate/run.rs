//! Judging one generated scenario: start it as a [`Live`] scenario, then either run the built-in
//! checks or an external diagnoser (`--exec`, see docs/generated-scenarios.md), and reduce what it said to error-level codes.

use std::time::{Duration, Instant};

use crate::check::{taxonomy, Probe, Severity, TlsVersions};

use super::super::expand::{Expanded, ProbeSpec};
use super::super::live::{error_chain, Live};
use super::truth::truth_codes;

/// Who gives the verdict.
#[derive(Debug, Clone, Copy)]
pub enum Judge<'a> {
    /// The built-in checks (`check::run`).
    Builtin,
    /// An external program run with `sh -c` in the lab's environment; it prints diagnosis codes.
    Exec {
        /// The command line.
        command: &'a str,
        /// Killed after this long.
        timeout: Duration,
    },
}

/// What a judge said about one scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The error-level codes, in the order given, without repeats; empty means healthy.
    pub codes: Vec<String>,
    /// Why no verdict could be obtained (the lab did not start, the program could not run).
    pub error: Option<String>,
    /// Wall-clock time of the whole run, lab included.
    pub elapsed: Duration,
}

/// Keep the codes a verdict counts: error-level codes of the taxonomy, the codes generated cases have
/// as ground truth ([`truth_codes`]: two are warnings), and codes the taxonomy does not know (an
/// external program's typo must count against it); other `ok`, `info` and `warning` codes and the word
/// `healthy` are dropped.
pub fn error_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let truths = truth_codes();
    let mut out: Vec<String> = Vec::new();
    for code in codes {
        let keep = match taxonomy::lookup(code) {
            Some(entry) => entry.severity == Severity::Error || truths.contains(&code),
            None => code != "healthy",
        };
        if keep && !out.iter().any(|c| c == code) {
            out.push(code.to_owned());
        }
    }
    out
}

/// The codes an external program printed: words separated by white space or commas.
pub fn parse_stdout(stdout: &str) -> Vec<String> {
    error_codes(
        stdout
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty()),
    )
}

fn probe_targets(scenario: &Expanded) -> (Vec<String>, Option<String>) {
    let mut urls = Vec::new();
    let mut vpn = None;
    for probe in &scenario.probes {
        match probe {
            ProbeSpec::Ready(Probe::Url { url }) | ProbeSpec::Ready(Probe::Backend { url, .. }) => {
                urls.push(url.clone())
            }
            ProbeSpec::Ready(Probe::VpnServer { host }) => vpn = Some(host.clone()),
            _ => {}
        }
    }
    (urls, vpn)
}

/// Run `scenario` under `judge` and return its verdict.
pub async fn judge_scenario(scenario: &Expanded, judge: Judge<'_>) -> Verdict {
    let started = Instant::now();
    let mut verdict = Verdict::default();
    match Live::start(scenario.clone()).await {
        Ok(live) => {
            match judge {
                Judge::Builtin => {
                    let report = live.check().await;
                    verdict.codes = error_codes(report.codes().iter().map(|c| c.as_str()));
                }
                Judge::Exec { command, timeout } => match exec(&live, command, timeout).await {
                    Ok(codes) => verdict.codes = codes,
                    Err(error) => verdict.error = Some(error),
                },
            }
            live.shutdown().await;
        }
        Err(error) => verdict.error = Some(error_chain(&error)),
    }
    verdict.elapsed = started.elapsed();
    verdict
}

/// Run an external diagnoser in `live`'s environment (plus the generated scenarios' own variables)
/// and read the codes it printed.
async fn exec(live: &Live, command: &str, timeout: Duration) -> Result<Vec<String>, String> {
    let mut env = live.env().map_err(|error| error_chain(&error))?;
    let (urls, vpn) = probe_targets(live.scenario());
    env.push(("EGRESSLAB_URLS".to_owned(), urls.join(" ")));
    let versions = match live.client().config.tls_versions {
        TlsVersions::Both => "both",
        TlsVersions::Tls12Only => "tls12-only",
        TlsVersions::Tls13Only => "tls13-only",
    };
    env.push(("EGRESSLAB_TLS_VERSIONS".to_owned(), versions.to_owned()));
    if let Some(host) = vpn {
        env.push(("EGRESSLAB_VPN_SERVER".to_owned(), host));
    }
    match live.exec(command, &env, timeout).await {
        Ok(result) if result.timed_out => Err(format!("the program ran longer than {timeout:?}")),
        Ok(result) => Ok(parse_stdout(&result.stdout)),
        Err(error) => Err(format!("cannot run the program: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_level_and_unknown_codes_count() {
        let codes = parse_stdout(
            "net.tcp.open, pki.expired\nhealthy config.proxy_direct  pki.expired bogus.code config.netsh_overrides\n",
        );
        assert_eq!(
            codes,
            vec![
                "pki.expired".to_owned(),
                "bogus.code".to_owned(),
                "config.netsh_overrides".to_owned()
            ]
        );
        assert!(parse_stdout("healthy\n").is_empty());
        assert!(parse_stdout("").is_empty());
    }
}
