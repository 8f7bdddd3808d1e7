//! Step two of loading: check every name, reference and value of a parsed file.

use std::collections::HashMap;

use serde_spanned::Spanned;

use super::error::{Location, ScenarioError};
use super::model::{Behaviour, ProbeKey, ScenarioFile};
use super::names::{ca_roles, is_code, is_known_code, one_of, profiles};

/// The client proxy modes that are not proxy names.
const PROXY_MODES: &[&str] = &["direct", "pac", "wpad"];

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
}

impl Checker<'_> {
    fn at<T>(&self, spanned: &Spanned<T>) -> Location {
        Location::of(self.file, self.text, &spanned.span())
    }

    fn invalid<T>(&self, spanned: &Spanned<T>, what: String, expected: &str) -> ScenarioError {
        ScenarioError::Invalid {
            at: self.at(spanned),
            what,
            expected: expected.to_owned(),
        }
    }

    fn reference(
        &self,
        spanned: &Spanned<String>,
        kind: &'static str,
        known: &[&str],
    ) -> Result<(), ScenarioError> {
        if known.contains(&spanned.get_ref().as_str()) {
            return Ok(());
        }
        Err(ScenarioError::UnknownReference {
            at: self.at(spanned),
            kind,
            name: spanned.get_ref().clone(),
            expected: one_of(known),
        })
    }

    fn unique<'n>(
        &self,
        kind: &'static str,
        names: impl Iterator<Item = &'n Spanned<String>>,
    ) -> Result<(), ScenarioError> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for name in names {
            let at = self.at(name);
            if name.get_ref().is_empty() {
                return Err(self.invalid(name, format!("empty {kind} name"), "a non-empty name"));
            }
            if let Some(first_line) = seen.get(name.get_ref().as_str()) {
                return Err(ScenarioError::Duplicate {
                    at,
                    kind,
                    name: name.get_ref().clone(),
                    first_line: *first_line,
                });
            }
            seen.insert(name.get_ref(), at.line);
        }
        Ok(())
    }

    fn port(&self, port: &Spanned<u16>) -> Result<(), ScenarioError> {
        if *port.get_ref() == 0 {
            return Err(self.invalid(port, "port 0".to_owned(), "a port from 1 to 65535"));
        }
        Ok(())
    }
}

/// Check a parsed scenario; the first problem found is returned.
pub fn validate(file: &str, text: &str, scenario: &ScenarioFile) -> Result<(), ScenarioError> {
    let c = Checker { file, text };
    let name = &scenario.scenario.name;
    if !is_id(name.get_ref()) {
        return Err(c.invalid(
            name,
            format!("scenario name `{}`", name.get_ref()),
            "lowercase letters, digits and dashes (the file name without .toml)",
        ));
    }
    c.unique("endpoint", scenario.endpoint.iter().map(|e| &e.name))?;
    c.unique("proxy", scenario.proxy.iter().map(|p| &p.name))?;
    c.unique("udp", scenario.udp.iter().map(|u| &u.name))?;
    let proxies: Vec<&str> = scenario
        .proxy
        .iter()
        .map(|p| p.name.get_ref().as_str())
        .collect();

    for endpoint in &scenario.endpoint {
        c.port(&endpoint.port)?;
        if endpoint.hosts.is_empty() {
            return Err(c.invalid(
                &endpoint.name,
                "endpoint without hosts".to_owned(),
                "at least one host name or *.suffix pattern",
            ));
        }
        for host in &endpoint.hosts {
            if !is_host_pattern(host.get_ref()) {
                return Err(c.invalid(
                    host,
                    format!("host `{}`", host.get_ref()),
                    "a host name or a *.suffix pattern",
                ));
            }
        }
        if let Some(tls) = &endpoint.tls {
            c.reference(&tls.profile, "certificate profile", &profiles())?;
            if let Some(ca) = &tls.client_auth {
                c.reference(ca, "CA role", &ca_roles())?;
            }
        }
        match (endpoint.behaviour, &endpoint.pac, &endpoint.http) {
            (Behaviour::Pac, None, _) => {
                return Err(c.invalid(
                    &endpoint.name,
                    "a `pac` endpoint without a `pac` table".to_owned(),
                    "pac = { proxy = \"NAME\" } or pac = {}",
                ));
            }
            (Behaviour::Pac, Some(pac), _) => {
                if let Some(proxy) = &pac.proxy {
                    c.reference(proxy, "proxy", &proxies)?;
                }
            }
            (_, Some(_), _) => {
                return Err(c.invalid(
                    &endpoint.name,
                    "a `pac` table on an endpoint that does not serve PAC".to_owned(),
                    "behaviour = \"pac\"",
                ));
            }
            (Behaviour::Echo | Behaviour::Revocation, None, Some(_)) => {
                return Err(c.invalid(
                    &endpoint.name,
                    "an `http` answer on an endpoint that does not answer HTTP".to_owned(),
                    "behaviour = \"http\" (the default)",
                ));
            }
            _ => {}
        }
    }

    for proxy in &scenario.proxy {
        if let Some(upstream) = &proxy.upstream {
            let others: Vec<&str> = proxies
                .iter()
                .copied()
                .filter(|p| p != proxy.name.get_ref())
                .collect();
            c.reference(upstream, "proxy", &others)?;
        }
        if let Some(profile) = &proxy.tls_profile {
            c.reference(profile, "certificate profile", &profiles())?;
        }
    }

    for rule in &scenario.firewall {
        if let Some(port) = &rule.port {
            c.port(port)?;
        }
        if let Some(from) = &rule.from {
            match from.get_ref().strip_prefix("proxy:") {
                Some(name) => {
                    if !proxies.contains(&name) {
                        return Err(ScenarioError::UnknownReference {
                            at: c.at(from),
                            kind: "proxy",
                            name: name.to_owned(),
                            expected: one_of(&proxies),
                        });
                    }
                }
                None => c.reference(
                    from,
                    "firewall vantage",
                    &["client", "any", "any-proxy", "proxy:NAME"],
                )?,
            }
        }
    }

    for udp in &scenario.udp {
        c.port(&udp.port)?;
    }

    validate_client(&c, scenario, &proxies)?;
    validate_expect(&c, scenario)
}

fn validate_client(
    c: &Checker<'_>,
    scenario: &ScenarioFile,
    proxies: &[&str],
) -> Result<(), ScenarioError> {
    let client = &scenario.client;
    let has_pac = scenario
        .endpoint
        .iter()
        .any(|e| e.behaviour == Behaviour::Pac);
    if let Some(proxy) = &client.proxy {
        let mut known: Vec<&str> = PROXY_MODES.to_vec();
        known.extend(proxies);
        c.reference(proxy, "client proxy", &known)?;
        match proxy.get_ref().as_str() {
            "pac" if !has_pac => {
                return Err(c.invalid(
                    proxy,
                    "`pac` without a PAC endpoint".to_owned(),
                    "an [[endpoint]] with behaviour = \"pac\"",
                ));
            }
            "wpad" => {
                let Some(suffix) = &scenario.names.suffix else {
                    return Err(c.invalid(
                        proxy,
                        "`wpad` without a DNS suffix".to_owned(),
                        "[names] suffix = \"corp.example\"",
                    ));
                };
                let wpad = format!("wpad.{suffix}");
                let served = scenario.endpoint.iter().any(|e| {
                    e.behaviour == Behaviour::Pac
                        && e.hosts
                            .iter()
                            .any(|h| h.get_ref().eq_ignore_ascii_case(&wpad))
                });
                if !served {
                    return Err(c.invalid(
                        proxy,
                        format!("`wpad` but no PAC endpoint serves `{wpad}`"),
                        "a pac endpoint with that host",
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(trust) = &client.trust {
        for role in trust {
            c.reference(role, "CA role", &ca_roles())?;
        }
    }
    if let Some(cert) = &client.client_cert {
        c.reference(&cert.profile, "certificate profile", &profiles())?;
    }
    for probe in &client.probes {
        validate_probe(c, scenario, probe)?;
    }
    let artifacts = &client.artifacts;
    for proxy in [
        artifacts.exe_config.as_ref().and_then(|e| e.proxy.as_ref()),
        artifacts.netsh.as_ref().and_then(|n| n.proxy.as_ref()),
    ]
    .into_iter()
    .flatten()
    {
        c.reference(proxy, "proxy", proxies)?;
    }
    if let Some(trust) = &artifacts.trust_settings {
        match (&trust.thumbprint_of, &trust.thumbprint) {
            (Some(of), None) => {
                c.reference(of, "certificate", &["client_cert"])?;
                if client.client_cert.is_none() {
                    return Err(c.invalid(
                        of,
                        "`thumbprint_of = \"client_cert\"` without a client certificate".to_owned(),
                        "[client] client_cert = { profile = ... }",
                    ));
                }
            }
            (None, Some(thumbprint)) => {
                let t = thumbprint.get_ref();
                if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(c.invalid(
                        thumbprint,
                        format!("thumbprint `{t}`"),
                        "40 hexadecimal digits (a SHA-1 thumbprint)",
                    ));
                }
            }
            _ => {
                return Err(ScenarioError::Invalid {
                    at: Location::at(c.file, c.text, 0),
                    what: "trust_settings names no thumbprint, or two".to_owned(),
                    expected:
                        "exactly one of thumbprint_of = \"client_cert\" or thumbprint = \"HEX\""
                            .to_owned(),
                });
            }
        }
    }
    Ok(())
}

fn validate_probe(
    c: &Checker<'_>,
    scenario: &ScenarioFile,
    probe: &Spanned<ProbeKey>,
) -> Result<(), ScenarioError> {
    match probe.get_ref() {
        ProbeKey::Url(url) => {
            if split_url(url).is_none() {
                return Err(c.invalid(
                    probe,
                    format!("url `{url}`"),
                    "an http:// or https:// URL with a host",
                ));
            }
        }
        ProbeKey::Tcp(target) => {
            if split_host_port(target).is_none() {
                return Err(c.invalid(
                    probe,
                    format!("tcp target `{target}`"),
                    "HOST:PORT with a port from 1 to 65535",
                ));
            }
        }
        ProbeKey::Revocation(urls) => {
            if let Some(url) = urls.iter().find(|u| split_url(u).is_none()) {
                return Err(c.invalid(probe, format!("url `{url}`"), "http:// URLs"));
            }
        }
        ProbeKey::Backend(backend) => {
            if split_url(&backend.url).is_none() {
                return Err(c.invalid(
                    probe,
                    format!("url `{}`", backend.url),
                    "an http:// or https:// URL",
                ));
            }
            if backend.default_timeout_ms >= backend.long_timeout_ms {
                return Err(c.invalid(
                    probe,
                    "default_timeout_ms not below long_timeout_ms".to_owned(),
                    "the long time-out to be longer than the default",
                ));
            }
        }
        ProbeKey::Ike(host) => {
            if !scenario
                .udp
                .iter()
                .any(|u| u.host.eq_ignore_ascii_case(host))
            {
                return Err(c.invalid(
                    probe,
                    format!("ike probe of `{host}` without a UDP responder for it"),
                    "[[udp]] entries with that host (ports 500 and 4500)",
                ));
            }
        }
        ProbeKey::MachineCertificate(wanted) => {
            if let Some(unknown) = wanted.iter().find(|p| !profiles().contains(&p.as_str())) {
                return Err(ScenarioError::UnknownReference {
                    at: c.at(probe),
                    kind: "certificate profile",
                    name: unknown.clone(),
                    expected: one_of(&profiles()),
                });
            }
        }
        ProbeKey::Servicebus(host) => {
            if host.is_empty() || host.contains([':', '/']) {
                return Err(c.invalid(
                    probe,
                    format!("servicebus host `{host}`"),
                    "a host name without port or path",
                ));
            }
        }
        ProbeKey::ConnectorEndpoints | ProbeKey::VpnServer(_) => {}
    }
    Ok(())
}

fn validate_expect(c: &Checker<'_>, scenario: &ScenarioFile) -> Result<(), ScenarioError> {
    let expect = &scenario.expect;
    for code in expect.diagnoses.iter().chain(&expect.absent) {
        if !is_code(code.get_ref()) {
            return Err(c.invalid(
                code,
                format!("diagnosis code `{}`", code.get_ref()),
                "a dotted lowercase code such as `proxy.auth_required`",
            ));
        }
        if !is_known_code(code.get_ref()) {
            return Err(ScenarioError::UnknownReference {
                at: c.at(code),
                kind: "diagnosis code",
                name: code.get_ref().clone(),
                expected:
                    "a code of the taxonomy (harness/check/diagnoses.toml, `egresslab explain`)"
                        .to_owned(),
            });
        }
    }
    if expect.diagnoses.is_empty() && !expect.healthy {
        return Err(c.invalid(
            &scenario.scenario.name,
            "[expect] asks for nothing".to_owned(),
            "diagnoses = [codes] or healthy = true",
        ));
    }
    for exec in &expect.exec {
        for pattern in [&exec.stdout_matches, &exec.stderr_matches]
            .into_iter()
            .flatten()
        {
            if let Err(error) = regex::Regex::new(pattern.get_ref()) {
                let message = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                return Err(c.invalid(
                    pattern,
                    format!("regular expression `{}` ({message})", pattern.get_ref()),
                    "a valid regular expression",
                ));
            }
        }
    }
    Ok(())
}

/// Whether `name` is a scenario id: lowercase letters, digits and inner dashes.
pub fn is_id(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_host_pattern(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `(https, host, port, path)` of an http(s) URL: the checks' splitter, so that a URL validation
/// accepts is one the checks can probe.
pub use crate::check::split_url;

/// `(host, port)` of `HOST:PORT`.
pub fn split_host_port(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    (is_host_pattern(host) && !host.starts_with("*.")).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_targets_split() {
        assert_eq!(
            split_url("https://login.microsoftonline.com"),
            Some((true, "login.microsoftonline.com".into(), 443, "/".into()))
        );
        assert_eq!(
            split_url("http://crl3.digicert.com:8080/a.crl"),
            Some((false, "crl3.digicert.com".into(), 8080, "/a.crl".into()))
        );
        assert_eq!(split_url("ftp://x"), None);
        assert_eq!(split_url("https://*.x.net/"), None);
        assert_eq!(
            split_host_port("vpn.egresslab.test:443"),
            Some(("vpn.egresslab.test".into(), 443))
        );
        assert_eq!(split_host_port("vpn:0"), None);
        assert!(is_id("tls12-blocked"));
        assert!(!is_id("Tls"));
    }
}
