//! The connector service's `.exe.config` (and machine.config): `system.net/defaultProxy`.

use super::error::{malformed, ArtifactError};
use super::netsh::Netsh;
use super::xml;
use crate::check::codes;
use crate::check::finding::Finding;

/// What `system.net/defaultProxy` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultProxy {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `proxy/@proxyaddress`.
    pub proxy_address: Option<String>,
    /// `proxy/@bypassonlocal`.
    pub bypass_on_local: Option<bool>,
    /// `proxy/@usesystemdefault`.
    pub use_system_default: Option<bool>,
    /// `defaultProxy/@useDefaultCredentials`: the service would send its own Windows credentials to the
    /// proxy (the connector still cannot answer a 407, seed 001).
    pub use_default_credentials: Option<bool>,
    /// `defaultProxy/bypasslist/add/@address` entries (regular expressions in .NET).
    pub bypass_list: Vec<String>,
}

/// The parts of a .config file that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `defaultProxy`, if the file has one.
    pub default_proxy: Option<DefaultProxy>,
}

fn boolean(text: &str, offset: usize, what: &str, v: &str) -> Result<bool, ArtifactError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(malformed(
            text,
            offset,
            format!("{what} must be true or false, found {other:?}"),
        )),
    }
}

/// Parse a .config file.
pub fn parse(text: &str) -> Result<ServiceConfig, ArtifactError> {
    let root = xml::parse(text)?;
    if !root.name.eq_ignore_ascii_case("configuration") {
        return Err(malformed(
            text,
            root.offset,
            format!(
                "expected <configuration> as the root, found <{}>",
                root.name
            ),
        ));
    }
    let Some(dp) = root
        .child("system.net")
        .and_then(|s| s.child("defaultProxy"))
    else {
        return Ok(ServiceConfig {
            default_proxy: None,
        });
    };
    let enabled = match dp.attr("enabled") {
        Some(v) => boolean(text, dp.offset, "defaultProxy/@enabled", v)?,
        None => true,
    };
    let use_default_credentials = match dp.attr("useDefaultCredentials") {
        Some(v) => Some(boolean(
            text,
            dp.offset,
            "defaultProxy/@useDefaultCredentials",
            v,
        )?),
        None => None,
    };
    let bypass_list = dp
        .child("bypasslist")
        .map(|b| {
            b.children
                .iter()
                .filter(|c| c.name.eq_ignore_ascii_case("add"))
                .filter_map(|c| c.attr("address").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let proxy = dp.child("proxy");
    let get = |name: &str| -> Result<Option<bool>, ArtifactError> {
        match proxy.and_then(|p| p.attr(name).map(|v| (p.offset, v))) {
            Some((off, v)) => boolean(text, off, &format!("proxy/@{name}"), v).map(Some),
            None => Ok(None),
        }
    };
    let proxy_address = proxy
        .and_then(|p| p.attr("proxyaddress"))
        .map(str::to_string);
    if let (Some(p), Some(addr)) = (proxy, proxy_address.as_deref()) {
        if !addr.starts_with("http://") && !addr.starts_with("https://") {
            return Err(malformed(
                text,
                p.offset,
                format!(
                    "proxyaddress must start with http:// (even for an IP address), found {addr:?}"
                ),
            ));
        }
    }
    Ok(ServiceConfig {
        default_proxy: Some(DefaultProxy {
            enabled,
            proxy_address,
            bypass_on_local: get("bypassonlocal")?,
            use_system_default: get("usesystemdefault")?,
            use_default_credentials,
            bypass_list,
        }),
    })
}

/// Where the effective proxy setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// netsh winhttp (overrides).
    Netsh,
    /// The service's .exe.config.
    ServiceConfig,
    /// machine.config, because the service config has no defaultProxy.
    MachineConfig,
    /// Nothing configured: .NET defaults (system proxy / WPAD).
    Default,
}

/// The proxy the connector really uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveProxy {
    /// The proxy URL, or `None` for direct.
    pub proxy: Option<String>,
    /// Bypass entries.
    pub bypass: Vec<String>,
    /// Which setting decided.
    pub decided_by: Decider,
}

/// Combine the service config, the machine.config fallback and `netsh winhttp show proxy` (which
/// overrides when it sets a proxy).
pub fn effective(
    service: &ServiceConfig,
    machine: Option<&ServiceConfig>,
    netsh: Option<&Netsh>,
) -> EffectiveProxy {
    if let Some(Netsh::Proxy { servers, bypass }) = netsh {
        let first = servers.split(';').next().unwrap_or(servers).trim();
        let url = if first.contains("://") {
            first.to_string()
        } else {
            format!("http://{}", first.rsplit('=').next().unwrap_or(first))
        };
        return EffectiveProxy {
            proxy: Some(url),
            bypass: bypass.clone(),
            decided_by: Decider::Netsh,
        };
    }
    let (dp, decided_by) = match (
        &service.default_proxy,
        machine.and_then(|m| m.default_proxy.as_ref()),
    ) {
        (Some(dp), _) => (Some(dp), Decider::ServiceConfig),
        (None, Some(dp)) => (Some(dp), Decider::MachineConfig),
        (None, None) => (None, Decider::Default),
    };
    match dp {
        Some(dp) if dp.enabled => EffectiveProxy {
            proxy: dp.proxy_address.clone(),
            bypass: (dp.bypass_on_local == Some(true))
                .then(|| "<local>".to_string())
                .into_iter()
                .chain(dp.bypass_list.iter().cloned())
                .collect(),
            decided_by,
        },
        _ => EffectiveProxy {
            proxy: None,
            bypass: vec![],
            decided_by,
        },
    }
}

/// The findings of one .config file (with the machine.config text, if given, for the fallback).
pub fn findings(target: &str, config: &ServiceConfig, machine_text: Option<&str>) -> Vec<Finding> {
    match &config.default_proxy {
        None => {
            let machine = machine_text.and_then(|t| parse(t).ok());
            let eff = effective(config, machine.as_ref(), None);
            let what = match (&machine, &eff.proxy) {
                (None, _) => "machine.config was not given, so the proxy it sets is unknown".to_string(),
                (Some(_), Some(p)) => format!("machine.config sets proxy {p}"),
                (Some(_), None) => "machine.config sets no proxy (direct or system default)".to_string(),
            };
            vec![Finding::new(codes::CONFIG_MACHINE_CONFIG_FALLBACK, target, format!("no defaultProxy in {target}: the machine.config defaultProxy applies; {what}"))]
        }
        Some(dp) if !dp.enabled => vec![Finding::new(codes::CONFIG_PROXY_DISABLED, target, format!("{target} sets defaultProxy enabled=\"false\": the connector goes direct, bypassing any proxy"))],
        Some(dp @ DefaultProxy { proxy_address: Some(addr), .. }) => vec![Finding::new(
            codes::CONFIG_PROXY_EXPLICIT,
            target,
            format!("{target} names proxy {addr} ({})", settings(dp)),
        )],
        Some(dp) => vec![Finding::new(codes::CONFIG_PROXY_DIRECT, target, format!("{target} enables defaultProxy without a proxy address: the system default applies ({})", settings(dp)))],
    }
}

/// The reported settings of a defaultProxy: bypassonlocal, usesystemdefault, useDefaultCredentials and
/// the bypass list.
fn settings(dp: &DefaultProxy) -> String {
    format!(
        "bypassonlocal={}, usesystemdefault={}, useDefaultCredentials={}, bypasslist={}",
        opt(&dp.bypass_on_local),
        opt(&dp.use_system_default),
        opt(&dp.use_default_credentials),
        if dp.bypass_list.is_empty() {
            "(none)".to_string()
        } else {
            dp.bypass_list.join(";")
        }
    )
}

fn opt(b: &Option<bool>) -> &'static str {
    match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "unset",
    }
}
