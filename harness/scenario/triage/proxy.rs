//! The proxy the connector really uses, from the folder's files, in the order seed 001 gives: a proxy set
//! with `netsh winhttp` overrides the other settings; otherwise the service's .exe.config decides
//! (`enabled="false"` is direct, a `proxyaddress` is that proxy); without either, machine.config; and when
//! nothing names a proxy but a PAC file was sent, the PAC file's answer for the connector's service URL.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::read::Folder;
use crate::check::artifacts::service_config::{self, Decider, ServiceConfig};
use crate::check::{evaluate_pac, PacRoute};

/// The URL the PAC file is asked about: the connector's cloud service.
pub const PAC_PROBE_URL: &str = "https://connector-sample.msappproxy.net/";

/// The PAC file's time limit: a PAC that loops is a finding, never a hang.
pub const PAC_LIMIT: Duration = Duration::from_secs(2);

/// Which setting decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecidedBy {
    /// `netsh winhttp` (overrides the rest).
    Netsh,
    /// The service's .exe.config.
    ServiceConfig,
    /// machine.config.
    MachineConfig,
    /// The PAC file.
    Pac,
    /// Nothing in the folder names a proxy.
    Nothing,
}

impl fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecidedBy::Netsh => "netsh winhttp, which overrides the other settings",
            DecidedBy::ServiceConfig => "the service's .exe.config",
            DecidedBy::MachineConfig => "machine.config (the .exe.config has no defaultProxy)",
            DecidedBy::Pac => "the PAC file",
            DecidedBy::Nothing => "nothing in the folder (direct, or the system default)",
        })
    }
}

/// The effective proxy and how it was worked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveProxy {
    /// The proxy URL; `None` is direct.
    pub proxy: Option<String>,
    /// Bypass entries.
    pub bypass: Vec<String>,
    /// Which setting decided.
    pub decided_by: DecidedBy,
    /// The reasoning, one line per setting seen.
    pub why: Vec<String>,
}

fn pac_answer(script: &str) -> Result<Option<String>, String> {
    let routes = evaluate_pac(
        script,
        PAC_PROBE_URL,
        "connector-sample.msappproxy.net",
        "127.0.0.1",
        PAC_LIMIT,
        |_| None,
    )
    .map_err(|e| e.to_string())?;
    Ok(routes.into_iter().find_map(|r| match r {
        PacRoute::Proxy(p) => Some(p.to_string()),
        PacRoute::Direct => None,
    }))
}

/// Work out the effective proxy of a folder.
pub fn effective(folder: &Folder) -> EffectiveProxy {
    let mut why = Vec::new();
    let none = ServiceConfig {
        default_proxy: None,
    };
    let service = folder.service.as_ref().map(|(_, c)| c).unwrap_or(&none);
    if let Some((f, c)) = &folder.service {
        why.push(match &c.default_proxy {
            None => format!("{f}: no defaultProxy"),
            Some(dp) if !dp.enabled => format!("{f}: defaultProxy enabled=\"false\" (direct)"),
            Some(dp) => format!(
                "{f}: proxy {}",
                dp.proxy_address
                    .as_deref()
                    .unwrap_or("(none: system default)")
            ),
        });
    }
    if let Some((f, n)) = &folder.netsh {
        why.push(format!("{f}: {n:?}"));
    }
    let base = service_config::effective(
        service,
        folder.machine.as_ref().map(|(_, c)| c),
        folder.netsh.as_ref().map(|(_, n)| n),
    );
    let mut decided_by = match base.decided_by {
        Decider::Netsh => DecidedBy::Netsh,
        Decider::ServiceConfig => DecidedBy::ServiceConfig,
        Decider::MachineConfig => DecidedBy::MachineConfig,
        Decider::Default => DecidedBy::Nothing,
    };
    let mut proxy = base.proxy;
    let disabled = service.default_proxy.as_ref().is_some_and(|dp| !dp.enabled);
    if proxy.is_none() && !disabled {
        if let Some((f, script)) = &folder.pac {
            match pac_answer(script) {
                Ok(answer) => {
                    why.push(format!(
                        "{f}: FindProxyForURL({PAC_PROBE_URL}) answers {}",
                        answer.as_deref().unwrap_or("DIRECT")
                    ));
                    proxy = answer;
                    decided_by = DecidedBy::Pac;
                }
                Err(e) => why.push(format!("{f}: the PAC file gives no answer: {e}")),
            }
        }
    }
    if decided_by == DecidedBy::Nothing && folder.service.is_some() {
        decided_by = DecidedBy::ServiceConfig;
    }
    EffectiveProxy {
        proxy,
        bypass: base.bypass,
        decided_by,
        why,
    }
}
