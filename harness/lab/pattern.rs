//! Host-name patterns shared by endpoints, proxy rules and firewall rules.

/// Whether `host` matches `pattern`: `*` matches every name, `*.suffix` matches any name below `suffix`
/// (not `suffix` itself, as in a TLS wildcard or a Squid `.suffix` dstdomain), anything else matches
/// exactly. Comparison ignores ASCII case and a trailing dot.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// A concrete host name that `pattern` matches: the pattern itself, or `sample` under a wildcard's suffix.
/// Used to exercise wildcard entries (`*.msappproxy.net`) with a real name.
pub fn sample_host(pattern: &str, sample: &str) -> String {
    match pattern.strip_prefix("*.") {
        Some(suffix) => format!("{sample}.{suffix}"),
        None if pattern == "*" => sample.to_owned(),
        None => pattern.to_owned(),
    }
}

/// Whether `host` is a host pattern the lab can match: a dotted name or `*.` and a dotted name,
/// each label ASCII letters, digits, `-` or `_`.
pub fn is_host_pattern(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcard_matches_names_below_the_suffix_only() {
        assert!(host_matches("*.msappproxy.net", "abc.msappproxy.net"));
        assert!(host_matches("*.msappproxy.net", "a.b.MSAPPPROXY.net."));
        assert!(!host_matches("*.msappproxy.net", "msappproxy.net"));
        assert!(!host_matches("*.msappproxy.net", "evilmsappproxy.net"));
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("login.windows.net", "LOGIN.windows.net"));
        assert!(!host_matches("login.windows.net", "x.login.windows.net"));
    }

    proptest! {
        #[test]
        fn sample_of_a_pattern_matches_it(label in "[a-z][a-z0-9]{0,10}", suffix in "[a-z]{1,8}\\.[a-z]{2,4}") {
            let pattern = format!("*.{suffix}");
            prop_assert!(host_matches(&pattern, &sample_host(&pattern, &label)));
            prop_assert!(host_matches(&suffix, &sample_host(&suffix, &label)));
        }

        #[test]
        fn never_panics(pattern in "\\PC{0,20}", host in "\\PC{0,20}") {
            let _ = host_matches(&pattern, &host);
        }
    }
}
