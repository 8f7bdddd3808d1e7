//! Choosing the likely root cause: every finding of the readers and every explained error text is a
//! signal; the most specific cause present wins (a fixed order, most specific first), and the rest is
//! reported as "also seen".

use serde::Serialize;

use super::proxy::EffectiveProxy;
use super::read::Folder;
use crate::check::artifacts::netsh::Netsh;
use crate::check::taxonomy;
use crate::check::Severity;

/// Root causes, most specific first: a code (or a code prefix ending in `.`) earlier in this list wins.
pub const PRIORITY: &[&str] = &[
    "vpn.auth_mismatch",
    "vpn.machine_cert_missing",
    "vpn.conditional_access.",
    "vpn.server_cert.",
    "config.trust.thumbprint_missing",
    "event.trust_cert_expired",
    "config.trust.cert_expired",
    "config.trust.wrong_issuer",
    "proxy.auth_required",
    "config.netsh_overrides",
    "config.proxy_disabled",
    "proxy.denied",
    "proxy.port80_refused",
    "proxy.bad_gateway",
    "proxy.gateway_timeout",
    "proxy.unreachable",
    "event.registration.",
    "event.",
    "vpn.",
    "pki.",
    "tls.",
    "net.",
];

/// The verdict: the likely root cause with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The diagnosis code (`event.unrecognised` when nothing points anywhere).
    pub code: String,
    /// One sentence: the cause, in the taxonomy's title and the folder's specifics.
    pub summary: String,
    /// The signals that support it: file, what it says.
    pub evidence: Vec<String>,
    /// Other signals seen (not the root cause).
    pub also_seen: Vec<String>,
}

/// One signal: a code, where it came from, what it says.
#[derive(Debug, Clone)]
struct Signal {
    code: String,
    line: String,
}

fn rank(code: &str) -> Option<usize> {
    PRIORITY.iter().position(|p| {
        if p.ends_with('.') {
            code.starts_with(p)
        } else {
            code == *p
        }
    })
}

/// Is the netsh proxy the same one the .exe.config names (then it overrides nothing)?
fn netsh_agrees(folder: &Folder) -> bool {
    let Some((_, Netsh::Proxy { servers, .. })) = &folder.netsh else {
        return true;
    };
    let named = folder
        .service
        .as_ref()
        .and_then(|(_, c)| c.default_proxy.as_ref())
        .and_then(|dp| dp.proxy_address.as_deref());
    named.is_some_and(|addr| {
        let bare = addr
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        servers
            .split(';')
            .any(|s| s.trim().eq_ignore_ascii_case(bare))
    })
}

/// A summary on one line (event-log blocks span several).
pub fn one_line(s: &str) -> String {
    s.lines().map(str::trim).collect::<Vec<_>>().join(" | ")
}

fn signals(folder: &Folder) -> Vec<Signal> {
    let mut out = Vec::new();
    for r in &folder.reports {
        for f in &r.findings {
            if f.code.as_str() == "config.netsh_overrides" && netsh_agrees(folder) {
                continue;
            }
            if f.severity >= Severity::Warning || rank(f.code.as_str()).is_some() {
                out.push(Signal {
                    code: f.code.to_string(),
                    line: format!("{}: {}", r.file, one_line(&f.summary)),
                });
            }
        }
    }
    for e in &folder.explained {
        let Some(top) = e.candidates.first() else {
            continue;
        };
        for c in e.candidates.iter().filter(|c| c.score == top.score) {
            let line = e
                .text
                .lines()
                .find(|l| {
                    crate::check::taxonomy::paste::candidates(l)
                        .iter()
                        .any(|x| x.diagnosis.code == c.diagnosis.code)
                })
                .or_else(|| e.text.lines().next())
                .unwrap_or("")
                .trim();
            let shown: String = line.chars().take(100).collect();
            out.push(Signal {
                code: c.diagnosis.code.clone(),
                line: format!("{}: \"{shown}\" — explain: {}", e.file, c.why.join("; ")),
            });
        }
    }
    out
}

/// Decide the root cause of a folder.
pub fn decide(folder: &Folder, proxy: &EffectiveProxy) -> Verdict {
    let all = signals(folder);
    let best = all
        .iter()
        .filter_map(|s| rank(&s.code).map(|r| (r, s)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, s)| s.code.clone())
        .or_else(|| all.first().map(|s| s.code.clone()));
    let Some(code) = best else {
        return Verdict {
            code: "event.unrecognised".into(),
            summary: "nothing in the folder points to a known cause".into(),
            evidence: vec![],
            also_seen: vec![],
        };
    };
    let (evidence, others): (Vec<&Signal>, Vec<&Signal>) = all.iter().partition(|s| s.code == code);
    let title = taxonomy::lookup(&code)
        .map(|d| d.title.clone())
        .unwrap_or_else(|| code.clone());
    let mut summary = title;
    if code == "config.netsh_overrides" || code.starts_with("proxy.") {
        summary.push_str(&format!(
            "; the effective proxy is {} (decided by {})",
            proxy.proxy.as_deref().unwrap_or("DIRECT"),
            proxy.decided_by
        ));
    }
    // one line per code and file: the reader's finding and explain often say the same thing
    let mut seen = std::collections::BTreeSet::new();
    let also: Vec<String> = others
        .iter()
        .filter(|s| {
            seen.insert((
                s.code.clone(),
                s.line.split(':').next().unwrap_or("").to_string(),
            ))
        })
        .map(|s| format!("{} — {}", s.code, s.line))
        .collect();
    Verdict {
        code,
        summary,
        evidence: evidence.iter().map(|s| s.line.clone()).collect(),
        also_seen: also,
    }
}

/// The next steps: the taxonomy's steps for the verdict, then what the folder itself asks for.
pub fn next_steps(folder: &Folder, verdict: &Verdict) -> Vec<String> {
    let mut out: Vec<String> = taxonomy::lookup(&verdict.code)
        .map(|d| d.steps.clone())
        .unwrap_or_default();
    for s in &folder.squid {
        out.push(format!(
            "{s} was sent: `egresslab import {s} --out proxy.toml` builds a lab of that proxy"
        ));
    }
    for r in &folder.reports {
        if r.kind == super::FileKind::Unknown {
            out.push(format!(
                "{} was not read ({}); send it again or say what it is",
                r.file,
                r.says.join("; ")
            ));
        }
    }
    out.push(
        "Reproduce it: `egresslab triage DIR --out scenario.toml`, then `egresslab run scenario.toml`"
            .into(),
    );
    out
}
