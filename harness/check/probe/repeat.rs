//! One URL probed several times in a row, each on a fresh connection: a path whose outcome changes
//! from one attempt to the next (a proxy that resets some tunnels) passes or fails a single probe by
//! chance; here it is reported as intermittent, with the share of attempts that failed.

use super::https;
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding, Severity};
use crate::check::transport::route::Route;

/// The most attempts one repeat probe makes (each bounded by the client's time-outs).
pub const MAX_ATTEMPTS: u32 = 32;

/// Probe `url` along `route` `attempts` times, one after the other. Every attempt alike: the
/// first attempt's findings. Some failing and some passing through a proxy: `proxy.flapping` with
/// the share, and the findings of a passing attempt; on a direct path, the failed attempts' own
/// findings stand, with the share in their evidence.
pub async fn probe(config: &ClientConfig, route: &Route, url: &str, attempts: u32) -> Vec<Finding> {
    let attempts = attempts.clamp(1, MAX_ATTEMPTS);
    let mut runs: Vec<Vec<Finding>> = Vec::with_capacity(attempts as usize);
    for _ in 0..attempts {
        runs.push(https::probe_url(config, route, url).await);
    }
    let failure = |run: &[Finding]| run.iter().find(|f| f.severity == Severity::Error).cloned();
    let failures: Vec<(usize, Finding)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, run)| failure(run).map(|f| (i + 1, f)))
        .collect();
    let failed = failures.len();
    let total = runs.len();
    if failed == 0 || failed == total {
        return runs.into_iter().next().unwrap_or_default();
    }
    let evidence: Vec<Evidence> = failures
        .iter()
        .map(|(attempt, f)| {
            Evidence::new(
                format!("attempt {attempt} of {total}: {url} ({route})"),
                format!("{}: {}", f.code, f.summary),
                f.evidence.iter().map(|e| e.elapsed).sum(),
            )
        })
        .collect();
    let passing = runs
        .iter()
        .find(|run| failure(run).is_none())
        .cloned()
        .unwrap_or_default();
    let Route::Proxy(proxy) = route else {
        let mut out: Vec<Finding> = failures
            .into_iter()
            .take(1)
            .map(|(_, f)| f.with_all_evidence(evidence.clone()))
            .collect();
        out.extend(passing);
        return out;
    };
    let reset = failures.iter().all(|(_, f)| is_reset(f));
    let how = if reset {
        "were reset".to_owned()
    } else {
        let mut seen: Vec<String> = failures.iter().map(|(_, f)| f.code.to_string()).collect();
        seen.sort();
        seen.dedup();
        format!("failed ({})", seen.join(", "))
    };
    let mut out = vec![Finding::new(
        codes::PROXY_FLAPPING,
        url,
        format!(
            "{failed} of {total} connections through the proxy {proxy} {how}, the others worked: the proxy fails intermittently"
        ),
    )
    .with_all_evidence(evidence)];
    out.extend(passing);
    out
}

/// Whether `failure` is a connection reset or closed under the client: the proxy closed it, or a
/// TCP reset (the connection to the proxy itself included, whose evidence says so).
fn is_reset(failure: &Finding) -> bool {
    failure.code == codes::PROXY_CLOSED
        || failure.code == codes::NET_TCP_RESET
        || failure
            .evidence
            .iter()
            .any(|e| e.what_came_back.starts_with("reset"))
}
