//! What a `kind = "socks5"` proxy and a client of one may say: the HTTP-only keys are refused on a
//! SOCKS5 proxy (advertise only what is performed), and `socks_resolve` only goes with one.

use crate::check::config::{ProxyAuthKind, SocksResolve};

use super::error::ScenarioError;
use super::model::{self, Fault, ProxyKindKey, SocksResolveKey};
use super::validate::{is_host_pattern, Scope};

/// The HTTP-only keys of `proxy` that are set, by name.
fn http_only_keys(proxy: &model::Proxy) -> Vec<&'static str> {
    let auth = proxy.auth.as_ref();
    let set = [
        ("tls_profile", proxy.tls_profile.is_some()),
        ("intercept", proxy.intercept.is_some()),
        ("squid_default_ports", proxy.squid_default_ports),
        ("http_access", proxy.http_access.is_some()),
        ("acl", !proxy.acl.is_empty()),
        ("deny_info", !proxy.deny_info.is_empty()),
        ("always_direct", !proxy.always_direct.is_empty()),
        ("auth.schemes", auth.is_some_and(|a| !a.schemes.is_empty())),
        ("auth.realm", auth.is_some_and(|a| a.realm.is_some())),
        (
            "auth.nonce_lifetime_ms",
            auth.is_some_and(|a| a.nonce_lifetime_ms.is_some()),
        ),
        (
            "fault = \"close-after-challenge\"",
            matches!(proxy.fault, Some(Fault::CloseAfterChallenge)),
        ),
    ];
    set.into_iter()
        .filter(|(_, is_set)| *is_set)
        .map(|(key, _)| key)
        .collect()
}

/// Refuse keys a proxy of this kind does not perform.
pub(crate) fn check_proxy(proxy: &model::Proxy, scope: &Scope<'_>) -> Result<(), ScenarioError> {
    let name = &proxy.name;
    match proxy.kind {
        ProxyKindKey::Socks5 => {
            let keys = http_only_keys(proxy);
            if let Some(first) = keys.first() {
                return Err(scope.invalid(
                    name,
                    format!("socks5 proxy `{}` with `{first}`", name.get_ref()),
                    "no HTTP-only key on a socks5 proxy (it speaks SOCKS5 with no-auth, or RFC 1929 username/password when `auth = { users = {...} }` is given; docs/socks.md)",
                ));
            }
        }
        ProxyKindKey::Http => {
            if proxy.auth.as_ref().is_some_and(|a| a.schemes.is_empty()) {
                return Err(scope.invalid(
                    name,
                    format!("proxy `{}` with `auth` but no `schemes`", name.get_ref()),
                    "auth.schemes with at least one of basic, digest, digest-sha256, ntlm, negotiate",
                ));
            }
        }
    }
    Ok(())
}

/// `[client] socks_resolve`, checked against the proxy the client names: only a socks5 proxy takes
/// it, and such a proxy takes only the default credential scheme (RFC 1929 user name and password).
pub(crate) fn client_socks(
    client: &model::Client,
    scope: &Scope<'_>,
) -> Result<SocksResolve, ScenarioError> {
    let named = client.proxy.as_ref().and_then(|word| {
        scope
            .scenario
            .proxy
            .iter()
            .find(|p| p.name.get_ref() == word.get_ref())
    });
    let socks = named.filter(|p| p.kind == ProxyKindKey::Socks5);
    if let (Some(resolve), None) = (&client.socks_resolve, socks) {
        return Err(scope.invalid(
            resolve,
            "`socks_resolve` without a socks5 proxy".to_owned(),
            "[client] proxy naming a [[proxy]] with kind = \"socks5\"",
        ));
    }
    if let (Some(proxy), Some(credentials)) = (socks, &client.proxy_credentials) {
        if credentials.scheme != ProxyAuthKind::Basic {
            return Err(scope.invalid(
                &proxy.name,
                format!(
                    "proxy_credentials.scheme {:?} for socks5 proxy `{}`",
                    credentials.scheme,
                    proxy.name.get_ref()
                ),
                "no scheme (a socks5 proxy takes the user name and password of RFC 1929)",
            ));
        }
    }
    Ok(match client.socks_resolve.as_ref().map(|r| *r.get_ref()) {
        Some(SocksResolveKey::Client) => SocksResolve::Client,
        Some(SocksResolveKey::Proxy) | None => SocksResolve::Proxy,
    })
}

/// `[names] proxy_only`: each a host name or `*.suffix` pattern.
pub(crate) fn check_proxy_only(
    names: &model::Names,
    scope: &Scope<'_>,
) -> Result<(), ScenarioError> {
    match names
        .proxy_only
        .iter()
        .find(|name| !is_host_pattern(name.get_ref()))
    {
        Some(name) => Err(scope.invalid(
            name,
            format!("proxy_only name `{}`", name.get_ref()),
            "a host name or a *.suffix pattern",
        )),
        None => Ok(()),
    }
}
