//! Step two of loading: the scenario-wide checks (ids, unique names, references between the file's
//! own parts) and the [`Scope`] every conversion of [`convert`](super::convert) checks its values and
//! resolves its names against. A name can be unknown only here and there, and is reported once, with
//! its file:line:column.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_spanned::Spanned;

use super::error::{Location, ScenarioError};
use super::model::{Behaviour, Endpoint, ScenarioFile};
use super::names::{one_of, Vocabulary};

/// A validated scenario's names and where to point errors: the file, its text and what it defines.
pub(crate) struct Scope<'a> {
    /// The file as given by the caller.
    pub(crate) file: &'a str,
    /// The file's text (for line and column).
    pub(crate) text: &'a str,
    /// The whole parsed file.
    pub(crate) scenario: &'a ScenarioFile,
    /// Proxy names in file order (for "expected one of" lists).
    pub(crate) proxies: Vec<&'a str>,
    /// The same names, for look-ups (loading stays linear in the number of proxies).
    proxy_names: HashSet<&'a str>,
}

impl<'a> Scope<'a> {
    /// Check the scenario id and the uniqueness of every name, and index what the file defines.
    pub(crate) fn new(
        file: &'a str,
        text: &'a str,
        scenario: &'a ScenarioFile,
    ) -> Result<Scope<'a>, ScenarioError> {
        let proxies: Vec<&str> = scenario
            .proxy
            .iter()
            .map(|p| p.name.get_ref().as_str())
            .collect();
        let scope = Scope {
            file,
            text,
            scenario,
            proxy_names: proxies.iter().copied().collect(),
            proxies,
        };
        let name = &scenario.scenario.name;
        if !is_id(name.get_ref()) {
            return Err(scope.invalid(
                name,
                format!("scenario name `{}`", name.get_ref()),
                "lowercase letters, digits and dashes (the file name without .toml)",
            ));
        }
        scope.unique("endpoint", scenario.endpoint.iter().map(|e| &e.name))?;
        scope.unique("proxy", scenario.proxy.iter().map(|p| &p.name))?;
        scope.unique("udp", scenario.udp.iter().map(|u| &u.name))?;
        scope.acyclic_upstreams()?;
        Ok(scope)
    }

    /// Where `spanned` starts.
    pub(crate) fn at<T>(&self, spanned: &Spanned<T>) -> Location {
        Location::of(self.file, self.text, &spanned.span())
    }

    /// A value that parses but is not acceptable.
    pub(crate) fn invalid<T>(
        &self,
        spanned: &Spanned<T>,
        what: String,
        expected: &str,
    ) -> ScenarioError {
        ScenarioError::Invalid {
            at: self.at(spanned),
            what,
            expected: expected.to_owned(),
        }
    }

    /// `word` resolved in its vocabulary, or the error naming it.
    pub(crate) fn word<W: Vocabulary>(&self, word: &Spanned<String>) -> Result<W, ScenarioError> {
        W::lookup(word.get_ref()).ok_or_else(|| ScenarioError::UnknownReference {
            at: self.at(word),
            kind: W::KIND,
            name: word.get_ref().clone(),
            expected: W::expected(),
        })
    }

    /// `name`, checked to be one of `known`.
    pub(crate) fn reference(
        &self,
        name: &Spanned<String>,
        kind: &'static str,
        known: &[&str],
    ) -> Result<String, ScenarioError> {
        if known.contains(&name.get_ref().as_str()) {
            return Ok(name.get_ref().clone());
        }
        Err(self.unknown(name, kind, name.get_ref(), known))
    }

    /// Whether the scenario defines a proxy of this name.
    pub(crate) fn has_proxy(&self, name: &str) -> bool {
        self.proxy_names.contains(name)
    }

    /// `name`, checked to be one of the scenario's proxies.
    pub(crate) fn proxy(&self, name: &Spanned<String>) -> Result<String, ScenarioError> {
        if self.has_proxy(name.get_ref()) {
            return Ok(name.get_ref().clone());
        }
        Err(self.unknown(name, "proxy", name.get_ref(), &self.proxies))
    }

    /// An unknown `name` of `kind` at `spanned`.
    pub(crate) fn unknown<T>(
        &self,
        spanned: &Spanned<T>,
        kind: &'static str,
        name: &str,
        known: &[&str],
    ) -> ScenarioError {
        ScenarioError::UnknownReference {
            at: self.at(spanned),
            kind,
            name: name.to_owned(),
            expected: one_of(known),
        }
    }

    /// A port clients can use (not 0).
    pub(crate) fn port(&self, port: &Spanned<u16>) -> Result<u16, ScenarioError> {
        if *port.get_ref() == 0 {
            return Err(self.invalid(port, "port 0".to_owned(), "a port from 1 to 65535"));
        }
        Ok(*port.get_ref())
    }

    /// An HTTP status code a scenario may make a server or proxy answer: 100 to 599 (RFC 9110 §15).
    pub(crate) fn status(&self, status: &Spanned<u16>) -> Result<u16, ScenarioError> {
        let code = *status.get_ref();
        if !(100..=599).contains(&code) {
            return Err(self.invalid(
                status,
                format!("HTTP status {code}"),
                "a status from 100 to 599",
            ));
        }
        Ok(code)
    }

    /// A number `unit` (ms, bytes, connections) inside `range`.
    pub(crate) fn within(
        &self,
        value: &Spanned<u64>,
        range: std::ops::RangeInclusive<u64>,
        unit: &str,
    ) -> Result<u64, ScenarioError> {
        let n = *value.get_ref();
        if !range.contains(&n) {
            return Err(self.invalid(
                value,
                format!("{n} {unit}"),
                &format!("from {} to {} {unit}", range.start(), range.end()),
            ));
        }
        Ok(n)
    }

    /// A duration in milliseconds, at most [`MAX_MILLIS`]: a larger one would only hang the run.
    pub(crate) fn millis(&self, ms: &Spanned<u64>) -> Result<Duration, ScenarioError> {
        if *ms.get_ref() > MAX_MILLIS {
            return Err(self.invalid(
                ms,
                format!("{} ms", ms.get_ref()),
                "at most 3600000 ms (one hour)",
            ));
        }
        Ok(Duration::from_millis(*ms.get_ref()))
    }

    /// A response header: its name an RFC 9110 token, its value free of CR, LF and NUL, so that it
    /// cannot end the header block or add one of its own.
    pub(crate) fn header(
        &self,
        name: &Spanned<String>,
        value: &Spanned<String>,
    ) -> Result<(String, String), ScenarioError> {
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.get_ref().is_empty() || !name.get_ref().bytes().all(tchar) {
            return Err(self.invalid(
                name,
                format!("header name {:?}", name.get_ref()),
                "a token: letters, digits and !#$%&'*+-.^_`|~",
            ));
        }
        if value
            .get_ref()
            .bytes()
            .any(|b| matches!(b, b'\r' | b'\n' | 0))
        {
            return Err(self.invalid(
                value,
                format!("header value {:?}", value.get_ref()),
                "a value without CR, LF or NUL",
            ));
        }
        Ok((name.get_ref().clone(), value.get_ref().clone()))
    }

    /// The first endpoint that serves PAC.
    pub(crate) fn pac_endpoint(&self) -> Option<&'a Endpoint> {
        self.scenario
            .endpoint
            .iter()
            .find(|e| e.behaviour == Behaviour::Pac)
    }

    fn unique<'n>(
        &self,
        kind: &'static str,
        names: impl Iterator<Item = &'n Spanned<String>>,
    ) -> Result<(), ScenarioError> {
        // Lines are counted only for an error: counting them for every name made loading quadratic.
        let mut seen: HashMap<&str, &Spanned<String>> = HashMap::new();
        for name in names {
            if !is_part_name(name.get_ref()) {
                return Err(self.invalid(
                    name,
                    format!("{kind} name {:?}", name.get_ref()),
                    PART_NAME_RULE,
                ));
            }
            if let Some(first) = seen.insert(name.get_ref(), name) {
                return Err(ScenarioError::Duplicate {
                    at: self.at(name),
                    kind,
                    name: name.get_ref().clone(),
                    first_line: self.at(first).line,
                });
            }
        }
        Ok(())
    }

    /// No chain of `upstream` keys loops back (`a -> b -> a`, or a proxy naming itself): one CONNECT
    /// would otherwise open connections to itself until the process has no descriptor left.
    fn acyclic_upstreams(&self) -> Result<(), ScenarioError> {
        let proxies = &self.scenario.proxy;
        let edges = proxies.iter().map(|p| {
            (
                p.name.get_ref().as_str(),
                p.upstream.as_ref().map(|u| u.get_ref().as_str()),
            )
        });
        let Some(cycle) = crate::lab::upstream_cycle(edges) else {
            return Ok(());
        };
        let first = cycle.first().copied().unwrap_or_default();
        let Some(at) = proxies
            .iter()
            .find(|p| p.name.get_ref() == first)
            .and_then(|p| p.upstream.as_ref())
        else {
            return Ok(());
        };
        let what = if cycle.len() == 2 {
            format!("proxy `{first}` names itself as its upstream")
        } else {
            format!("proxy upstreams loop: {}", cycle.join(" -> "))
        };
        Err(self.invalid(
            at,
            what,
            "an upstream chain that ends at a proxy without `upstream`",
        ))
    }
}

/// The longest delay or time-out a scenario may set, in milliseconds (one hour).
pub const MAX_MILLIS: u64 = 3_600_000;

/// What a name of an endpoint, proxy or UDP responder may hold (docs/scenario-format.md): the names are
/// pasted into generated PAC scripts, curl configuration and the timeline, so the set is kept to what
/// needs no quoting anywhere.
pub const PART_NAME_RULE: &str = "1 to 63 ASCII letters, digits, `-`, `_` or `.`";

/// Whether `name` follows [`PART_NAME_RULE`].
pub fn is_part_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A regular expression of `[[expect.exec]]`, checked to compile.
pub(crate) fn regex(scope: &Scope<'_>, pattern: &Spanned<String>) -> Result<String, ScenarioError> {
    if let Err(error) = regex::Regex::new(pattern.get_ref()) {
        let message = error
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        return Err(scope.invalid(
            pattern,
            format!("regular expression `{}` ({message})", pattern.get_ref()),
            "a valid regular expression",
        ));
    }
    Ok(pattern.get_ref().clone())
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

pub(crate) use crate::lab::pattern::is_host_pattern;

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
