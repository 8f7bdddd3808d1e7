//! The one URL splitter of the project: `http(s)://host[:port]/path` and `host[:port]`. The scenario
//! validator and the checks both use it, so a URL that validation accepts is one the checks can probe.

/// Split `http(s)://host[:port][/path][?query]` into (https, host, port, path), filling in the scheme's
/// default port. The path starts with `/` and keeps the query; a fragment is dropped (it is never sent).
///
/// `None` unless the URL is one a client can request: the scheme is `http` or `https`; the host is a
/// host name (letters, digits, `-`, `_` in dot-separated labels), an IPv4 address or a bracketed IPv6
/// address (returned without brackets); the port, if given, is 1 to 65535 in digits. Wildcards
/// (`*.example.net`) and userinfo (`user:password@`, a secret that would end up in every finding) are
/// refused.
///
/// ```
/// use egresslab::check::split_url;
/// assert_eq!(
///     split_url("https://login.example.net?x=1"),
///     Some((true, "login.example.net".into(), 443, "/?x=1".into()))
/// );
/// assert_eq!(split_url("http://[::1]:8080/a.crl"), Some((false, "::1".into(), 8080, "/a.crl".into())));
/// assert_eq!(split_url("https://*.example.net/"), None);
/// ```
pub fn split_url(url: &str) -> Option<(bool, String, u16, String)> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = match path.strip_prefix('?') {
        Some(query) => format!("/?{query}"),
        None if path.is_empty() => "/".to_string(),
        None => path.to_string(),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority, if https { 443 } else { 80 })?;
    let valid_host = if authority.starts_with('[') {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        is_host_name(&host)
    };
    (port != 0 && valid_host).then_some((https, host, port, path))
}

/// Split `host[:port]` (with `[v6]` brackets) into host and port; `default` when no port is given.
/// `None` for an empty string, a port that is not 0 to 65535 in digits, or unbalanced brackets.
pub fn split_host_port(s: &str, default: u16) -> Option<(String, u16)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = rest[..end].to_string();
        let port = match rest[end + 1..].strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if rest[end + 1..].is_empty() => default,
            None => return None,
        };
        return (!host.is_empty()).then_some((host, port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), parse_port(p)?)),
        _ => Some((s.to_string(), default)),
    }
}

/// A port in digits only (`u16::from_str` would also take `+80`).
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// Dot-separated labels of letters, digits, `-` and `_` (this covers IPv4 addresses too).
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("https://a.example/x?y").unwrap(),
            (true, "a.example".into(), 443, "/x?y".into())
        );
        assert_eq!(
            split_url("http://a.example:8080").unwrap(),
            (false, "a.example".into(), 8080, "/".into())
        );
        assert_eq!(split_host_port("[::1]:99", 1).unwrap(), ("::1".into(), 99));
        assert!(split_url("ftp://x").is_none());
    }

    /// The cases where the validator's splitter and the checks' splitter used to answer differently;
    /// the one splitter gives each a single answer.
    #[test]
    fn the_cases_where_the_two_splitters_disagreed() {
        // Port 0: the checks took it, validation refused it. Nobody can connect to port 0.
        assert_eq!(split_url("http://a.example:0/"), None);
        // A wildcard: the checks took `*.x.net` as a host name.
        assert_eq!(split_url("https://*.x.net/"), None);
        // Userinfo: the checks dropped it silently (and kept the password in the URL they reported).
        assert_eq!(split_url("http://user:secret@a.example/"), None);
        // A bracketed IPv6 literal: validation refused it, with or without a port.
        assert_eq!(
            split_url("https://[::1]/"),
            Some((true, "::1".into(), 443, "/".into()))
        );
        assert_eq!(
            split_url("http://[::1]:8080/a.crl"),
            Some((false, "::1".into(), 8080, "/a.crl".into()))
        );
        // A query straight after the host: both took `a.example?x=1` as the authority.
        assert_eq!(
            split_url("https://a.example?x=1"),
            Some((true, "a.example".into(), 443, "/?x=1".into()))
        );
        // A fragment is not part of the request.
        assert_eq!(
            split_url("https://a.example/p#frag"),
            Some((true, "a.example".into(), 443, "/p".into()))
        );
        // A sign before the port: `u16::from_str` takes `+443`.
        assert_eq!(split_url("https://a.example:+443/"), None);
        // Characters a host name cannot have: the checks took them.
        assert_eq!(split_url("https://a b.example/"), None);
        assert_eq!(split_url("https:///path"), None);
        assert_eq!(split_url("https://[::1/"), None);
        assert_eq!(split_url("https://[::1]x/"), None);
        assert_eq!(split_url("https://[not-v6]/"), None);
        // What both took stays taken.
        assert_eq!(
            split_url("http://127.0.0.1:8080/a.crl"),
            Some((false, "127.0.0.1".into(), 8080, "/a.crl".into()))
        );
    }
}
