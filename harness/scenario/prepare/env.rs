//! What an external command run as the scenario's client is given: its environment variables and the
//! lab's `.curlrc` (the contract is docs/exec-contract.md), and the equivalent curl command line.

use std::path::Path;

use egresslab_certs::CaRole;

use crate::check::config::ProxyAuthKind;
use crate::check::{Probe, ProxySetting, TlsVersions};
use crate::lab::Lab;

use super::super::expand::{Expanded, ProbeSpec};
use super::super::files::write_private;
use super::super::validate::split_url;
use super::client::ClientProfile;
use super::connect::{curl_connect_to, curl_resolve};
use super::{write_error, PrepareError};

/// The URL an external command is pointed at: the expectation's, else the first `url` probe.
pub fn target_url(scenario: &Expanded, exec_url: Option<&str>) -> Option<String> {
    exec_url.map(str::to_owned).or_else(|| {
        scenario.probes.iter().find_map(|p| match p {
            ProbeSpec::Ready(Probe::Url { url })
            | ProbeSpec::Ready(Probe::Backend { url, .. })
            | ProbeSpec::Ready(Probe::Repeat { url, .. }) => Some(url.clone()),
            _ => None,
        })
    })
}

/// The environment of `--exec` (see docs/exec-contract.md), pointed at `url`; writes the lab's
/// `.curlrc` that `CURL_HOME` names.
pub fn exec_env(
    scenario: &Expanded,
    client: &ClientProfile,
    lab: &Lab,
    url: Option<&str>,
    ready_file: Option<&Path>,
) -> Result<Vec<(String, String)>, PrepareError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
    set("EGRESSLAB_SCENARIO", scenario.id.clone());
    if let Some(proxy) = &client.proxy_url {
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            set(key, proxy.clone());
        }
        set("EGRESSLAB_PROXY", proxy.clone());
    }
    set("NO_PROXY", "localhost,127.0.0.1,::1".to_owned());
    set("no_proxy", "localhost,127.0.0.1,::1".to_owned());
    let bundle = client.trust_bundle.display().to_string();
    for key in [
        "SSL_CERT_FILE",
        "CURL_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "EGRESSLAB_CA_BUNDLE",
    ] {
        set(key, bundle.clone());
    }
    let words = |form: fn(&crate::check::ConnectTo) -> String| {
        client
            .connect_to()
            .iter()
            .map(form)
            .collect::<Vec<_>>()
            .join(" ")
    };
    set("EGRESSLAB_CA", lab.ca_bundle_path().display().to_string());
    if let Some(dir) = lab.ca_dir() {
        set("EGRESSLAB_CA_DIR", dir.display().to_string());
    }
    match &client.config.proxy {
        ProxySetting::Pac(url) => set("EGRESSLAB_PAC_URL", url.clone()),
        ProxySetting::Wpad { suffix } => set("EGRESSLAB_WPAD_SUFFIX", suffix.clone()),
        _ => {}
    }
    if let Some((user, _)) = &client.config.proxy_credentials {
        // The user name and scheme only: the password stays in the owner-only .curlrc.
        set("EGRESSLAB_PROXY_USER", user.clone());
        set(
            "EGRESSLAB_PROXY_AUTH",
            client.config.proxy_auth.name().to_owned(),
        );
    }
    if !client.config.intermediates.is_empty() {
        set(
            "EGRESSLAB_INTERMEDIATES",
            lab.ca_file(CaRole::Intermediate).display().to_string(),
        );
    }
    if !client.config.expected_issuers.is_empty() {
        // A JSON array: issuer names hold spaces and commas.
        set(
            "EGRESSLAB_EXPECTED_ISSUERS",
            serde_json::json!(client.config.expected_issuers).to_string(),
        );
    }
    set("EGRESSLAB_CONNECT_TO", words(curl_connect_to));
    set("EGRESSLAB_RESOLVE", words(curl_resolve));
    if let Some(dns) = lab.dns_address() {
        set("EGRESSLAB_DNS", dns.to_string());
    }
    if let Some((cert, key)) = &client.client_files {
        set("EGRESSLAB_CLIENT_CERT", cert.display().to_string());
        set("EGRESSLAB_CLIENT_KEY", key.display().to_string());
    }
    if let Some(url) = url {
        set("EGRESSLAB_URL", url.to_owned());
        if let Some((_, host, port, _)) = split_url(url) {
            let address = client
                .connect_to()
                .iter()
                .find(|c| c.host == host && c.port == port)
                .map(|c| c.address);
            set("EGRESSLAB_HOST", host);
            set("EGRESSLAB_PORT", port.to_string());
            if let Some(address) = address {
                set("EGRESSLAB_ADDRESS", address.to_string());
            }
        }
    }
    if let Some(path) = ready_file {
        set("EGRESSLAB_READY_FILE", path.display().to_string());
    }
    let curlrc = lab.dir().join(".curlrc");
    write_private(&curlrc, self::curlrc(client, scenario).as_bytes())
        .map_err(write_error(&curlrc))?;
    set("CURL_HOME", lab.dir().display().to_string());
    Ok(env)
}

/// How curl reaches the client's proxy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProxyWay {
    /// No fixed proxy.
    None,
    /// An HTTP(S) proxy, tunnelled with CONNECT.
    Http,
    /// A SOCKS5 proxy that resolves names (`socks5h://`).
    SocksRemote,
    /// A SOCKS5 proxy the client resolves names for (`socks5://`).
    SocksLocal,
}

fn proxy_way(client: &ClientProfile) -> ProxyWay {
    match client.proxy_url.as_deref() {
        None => ProxyWay::None,
        Some(url) if url.starts_with("socks5h://") => ProxyWay::SocksRemote,
        Some(url) if url.starts_with("socks5://") => ProxyWay::SocksLocal,
        Some(_) => ProxyWay::Http,
    }
}

fn curlrc(client: &ClientProfile, scenario: &Expanded) -> String {
    // Through a proxy that resolves names, curl must send the host name; with --connect-to it
    // would send the mapped address instead. A client that resolves names itself (socks5://)
    // keeps the mapping: curl sends the address it maps to, as the checks' client does.
    let way = proxy_way(client);
    let mut lines: Vec<String> = if matches!(way, ProxyWay::Http | ProxyWay::SocksRemote) {
        Vec::new()
    } else {
        client
            .connect_to()
            .iter()
            .map(|c| format!("connect-to = \"{}\"", curl_connect_to(c)))
            .collect()
    };
    lines.push(format!("cacert = \"{}\"", client.trust_bundle.display()));
    if let Some(proxy) = &client.proxy_url {
        let socks = matches!(way, ProxyWay::SocksRemote | ProxyWay::SocksLocal);
        lines.push(format!("proxy = \"{proxy}\""));
        if !socks {
            // The connector tunnels every destination, port 80 included, with CONNECT (seed 001).
            lines.push("proxytunnel".to_owned());
        }
        // The simulated client's credentials and scheme, so that curl passes where it passes (a
        // SOCKS5 proxy takes them as RFC 1929 user name and password). The file is owner-only.
        if let Some((user, password)) = &client.config.proxy_credentials {
            lines.push(format!(
                "proxy-user = \"{}:{}\"",
                curlrc_escape(user),
                curlrc_escape(password)
            ));
            if !socks {
                lines.push(curl_auth_option(client.config.proxy_auth).to_owned());
            }
        }
        if proxy.starts_with("https://") {
            lines.push(format!(
                "proxy-cacert = \"{}\"",
                client.trust_bundle.display()
            ));
        }
    }
    if let Some((cert, key)) = &client.client_files {
        lines.push(format!("cert = \"{}\"", cert.display()));
        lines.push(format!("key = \"{}\"", key.display()));
    }
    match client.config.tls_versions {
        TlsVersions::Both => {}
        TlsVersions::Tls12Only => {
            lines.push("tlsv1.2".to_owned());
            lines.push("tls-max = \"1.2\"".to_owned());
        }
        TlsVersions::Tls13Only => lines.push("tlsv1.3".to_owned()),
    }
    lines.push(format!(
        "connect-timeout = {}",
        scenario.client.connect_timeout.as_secs_f64().max(1.0)
    ));
    lines.join("\n") + "\n"
}

/// curl's option for the scheme the simulated client speaks to its proxy. Named, not
/// `--proxy-anyauth`: offered Negotiate first (as Windows proxies do), anyauth would pick Kerberos,
/// which no lab can answer.
fn curl_auth_option(kind: ProxyAuthKind) -> &'static str {
    match kind {
        ProxyAuthKind::Basic => "proxy-basic",
        ProxyAuthKind::Ntlm => "proxy-ntlm",
        ProxyAuthKind::Digest => "proxy-digest",
    }
}

/// A value inside double quotes of a curl config file: backslash and quote escaped.
fn curlrc_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// An `openssl s_client` command line that reaches `url`'s host as the simulated client does:
/// through its proxy with `-proxy` (so interception shows in the chain), or straight to the
/// endpoint's real address. `None` when `url` names no host or no address is known for it.
pub fn openssl_command(client: &ClientProfile, url: &str) -> Option<String> {
    // `openssl s_client -proxy` speaks HTTP CONNECT only.
    if matches!(
        proxy_way(client),
        ProxyWay::SocksRemote | ProxyWay::SocksLocal
    ) {
        return None;
    }
    let (_, host, port, _) = split_url(url)?;
    let bundle = client.trust_bundle.display();
    let target = match &client.proxy_url {
        Some(proxy) => {
            let (_, proxy_host, proxy_port, _) = split_url(proxy)?;
            format!("-proxy {proxy_host}:{proxy_port} -connect {host}:{port}")
        }
        None => {
            let address = client
                .connect_to()
                .iter()
                .find(|c| c.host == host && c.port == port)
                .map(|c| c.address)?;
            format!("-connect {address}")
        }
    };
    // The password is never printed; openssl 3 takes it as `-proxy_pass pass:PASSWORD`.
    let auth = match &client.config.proxy_credentials {
        Some((user, _)) if client.proxy_url.is_some() => {
            format!("  # the proxy wants credentials: add -proxy_user '{user}' -proxy_pass pass:PASSWORD")
        }
        _ => String::new(),
    };
    Some(format!(
        "openssl s_client {target} -servername {host} -verify_hostname {host} -CAfile {bundle}{auth}"
    ))
}

/// A curl command line that reaches `url` as the simulated client does: through its proxy (tunnelled,
/// as the connector) or, without one, with `--connect-to` for every lab name.
pub fn curl_command(client: &ClientProfile, url: &str) -> String {
    let bundle = client.trust_bundle.display();
    let mut words: Vec<String> = Vec::new();
    let way = proxy_way(client);
    let mapped = || {
        client
            .connect_to()
            .iter()
            .map(|c| format!("--connect-to {}", curl_connect_to(c)))
            .collect::<Vec<_>>()
    };
    let socks_address = client
        .proxy_url
        .as_deref()
        .and_then(|url| url.split_once("://"))
        .map(|(_, address)| address.to_owned());
    match (&client.proxy_url, way) {
        (Some(_), ProxyWay::SocksRemote) => {
            words.push(format!(
                "--socks5-hostname {}",
                socks_address.unwrap_or_default()
            ));
        }
        (Some(_), ProxyWay::SocksLocal) => {
            words.push(format!("--socks5 {}", socks_address.unwrap_or_default()));
            words.extend(mapped());
        }
        (Some(proxy), _) => {
            words.push(format!("--proxy {proxy} --proxytunnel"));
            if proxy.starts_with("https://") {
                words.push(format!("--proxy-cacert {bundle}"));
            }
        }
        (None, _) => words.extend(mapped()),
    }
    if let Some((cert, key)) = &client.client_files {
        words.push(format!("--cert {} --key {}", cert.display(), key.display()));
    }
    if let Some((user, _)) = client
        .config
        .proxy_credentials
        .as_ref()
        .filter(|_| client.proxy_url.is_some())
    {
        // The password is never printed: curl asks for it (the lab's .curlrc carries it).
        if matches!(way, ProxyWay::SocksRemote | ProxyWay::SocksLocal) {
            words.push(format!("--proxy-user '{user}'"));
        } else {
            words.push(format!(
                "--{} --proxy-user '{user}'",
                curl_auth_option(client.config.proxy_auth)
            ));
        }
    }
    format!("curl {} --cacert {bundle} {url}", words.join(" "))
}
