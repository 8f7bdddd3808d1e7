//! Who may use the API: a request for this listener's own `Host`, from this page's own origin (or
//! from no browser page at all, like curl). Everything else is refused, so that a page of another
//! site open in the same browser cannot read the lab or flip its faults (nor reach it by a DNS name
//! rebound to loopback).

use std::net::SocketAddr;

use hyper::HeaderMap;

/// Why a request was refused, in words for the 403 body.
pub(super) fn refusal(headers: &HeaderMap, address: SocketAddr) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host").unwrap_or_default();
    if !own_host(host, address) {
        return Some(format!(
            "Host {host:?} is not this lab's web view ({address}); open http://{address}/"
        ));
    }
    if let Some(origin) = header("origin") {
        if origin != format!("http://{host}") {
            return Some(format!(
                "origin {origin:?} is not this page's (http://{host}): the lab refuses other sites"
            ));
        }
    }
    if let Some(site) = header("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Some(format!(
                "Sec-Fetch-Site {site:?}: only the lab's own page may call it"
            ));
        }
    }
    None
}

fn own_host(host: &str, address: SocketAddr) -> bool {
    let port = address.port();
    host == address.to_string()
        || host == format!("localhost:{port}")
        || (address.ip().is_unspecified() && host.ends_with(&format!(":{port}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn other_origins_and_hosts_are_refused() {
        let address: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            refusal(&headers(&[("host", "127.0.0.1:8080")]), address),
            None
        );
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(refusal(&same, address), None);
        let other = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.test")]);
        assert!(refusal(&other, address).unwrap().contains("evil.test"));
        let rebound = headers(&[("host", "evil.test:8080")]);
        assert!(refusal(&rebound, address).unwrap().contains("Host"));
        let cross = headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]);
        assert!(refusal(&cross, address).is_some());
    }
}
