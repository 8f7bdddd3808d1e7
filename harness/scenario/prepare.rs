//! Completing a scenario's client once its lab is up: proxy URL, trust roots, client certificate,
//! name mapping, DNS server, artifact files; and the environment and ready file that describe it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use egresslab_certs::CaRole;
use rustls_pki_types::CertificateDer;
use serde_json::json;

use crate::check::{ClientCertificate, ClientConfig, ConnectTo, Probe, ProxySetting, TlsVersions};
use crate::lab::pattern::{host_matches, sample_host};
use crate::lab::Lab;

use super::artifacts::{write_artifacts, ArtifactContext};
use super::expand::{ClientProxy, Expanded, ProbeSpec};
use super::validate::split_url;

/// The label used for names under wildcard patterns (`connector-sample.msappproxy.net`).
pub const SAMPLE_LABEL: &str = "connector-sample";

/// Why a scenario's client could not be completed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// A file in the lab folder could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A certificate could not be minted or parsed.
    #[error("certificate `{what}`: {message}")]
    Certificate {
        /// Which certificate.
        what: String,
        /// What went wrong.
        message: String,
    },
}

/// A scenario's client, ready to run the checks or an external command.
#[derive(Debug)]
pub struct Prepared {
    /// The checks' input.
    pub config: ClientConfig,
    /// The probes, including the artifact readers.
    pub probes: Vec<Probe>,
    /// PEM of what the client trusts.
    pub trust_bundle: PathBuf,
    /// The client certificate and key files, if any.
    pub client_files: Option<(PathBuf, PathBuf)>,
    /// curl `--connect-to` values (`HOST:PORT:ADDR:PORT`), exact names only.
    pub connect_to: Vec<String>,
    /// The proxy URL the client uses, if any.
    pub proxy_url: Option<String>,
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, PrepareError> {
    std::fs::write(&path, text).map_err(|source| PrepareError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn pem_certs(what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, PrepareError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PrepareError::Certificate {
            what: what.to_owned(),
            message: e.to_string(),
        })
}

/// Every exact host the scenario's probes and exec URLs name.
fn named_hosts(scenario: &Expanded) -> Vec<String> {
    let mut hosts = Vec::new();
    for probe in &scenario.probes {
        match probe {
            ProbeSpec::Ready(Probe::Url { url }) | ProbeSpec::Ready(Probe::Backend { url, .. }) => {
                hosts.extend(split_url(url).map(|(_, h, _, _)| h));
            }
            ProbeSpec::Ready(Probe::Tcp { host, .. })
            | ProbeSpec::Ready(Probe::VpnServer { host })
            | ProbeSpec::Ready(Probe::ServiceBus { host }) => hosts.push(host.clone()),
            ProbeSpec::Ready(Probe::Revocation { urls }) => hosts.extend(
                urls.iter()
                    .filter_map(|u| split_url(u).map(|(_, h, _, _)| h)),
            ),
            _ => {}
        }
    }
    hosts.extend(
        scenario
            .expect
            .exec
            .iter()
            .filter_map(|e| e.url.as_deref().and_then(split_url).map(|(_, h, _, _)| h)),
    );
    hosts
}

/// The lab's name mapping with wildcard patterns replaced by concrete names: the sample name and every
/// name the scenario uses under the pattern.
pub fn concrete_connect_to(lab: &Lab, scenario: &Expanded) -> Vec<ConnectTo> {
    let used = named_hosts(scenario);
    let mut out: Vec<ConnectTo> = Vec::new();
    let nxdomain = &scenario.plan.names.nxdomain;
    for (pattern, port, address) in lab.connect_to() {
        // A name the scenario makes unresolvable must not be mapped around DNS.
        if nxdomain.iter().any(|n| n.eq_ignore_ascii_case(&pattern)) {
            continue;
        }
        let mut names = Vec::new();
        if pattern.contains('*') {
            names.push(sample_host(&pattern, SAMPLE_LABEL));
            names.extend(used.iter().filter(|h| host_matches(&pattern, h)).cloned());
        } else {
            names.push(pattern.clone());
        }
        for host in names {
            if !out.iter().any(|c| c.host == host && c.port == port) {
                out.push(ConnectTo {
                    host,
                    port,
                    address,
                });
            }
        }
    }
    out
}

/// Complete the client of `scenario` against its running `lab`, writing files into the lab folder.
#[allow(clippy::field_reassign_with_default)]
pub fn prepare(lab: &Lab, scenario: &Expanded) -> Result<Prepared, PrepareError> {
    let spec = &scenario.client;
    let dir = lab.dir();
    let mut trust_pem = String::new();
    for role in &spec.trust {
        trust_pem.push_str(&lab.ca_pem(*role));
    }
    let trust_bundle = write(dir.join("client-trust.pem"), &trust_pem)?;
    let trust = pem_certs("trust bundle", &trust_pem)?;

    let mut client_cert = None;
    let mut client_files = None;
    let mut cert_info = None;
    if let Some((profile, hosts)) = &spec.client_cert {
        let minted = lab
            .certs()
            .mint(*profile, hosts)
            .map_err(|e| PrepareError::Certificate {
                what: profile.to_string(),
                message: e.to_string(),
            })?;
        let thumbprint = minted.info().map(|i| i.thumbprint_sha1).unwrap_or_default();
        let cert = write(dir.join("client-cert.pem"), &minted.full_chain_pem())?;
        let key = write(dir.join("client-key.pem"), &minted.key_pem())?;
        cert_info = Some((thumbprint, minted.leaf_pem()));
        client_files = Some((cert, key));
        client_cert = Some(ClientCertificate {
            chain: minted.full_chain.clone(),
            key: minted.key.clone_key(),
        });
    }

    let proxy_url = |name: &str| lab.proxy(name).map(|p| p.url());
    let (proxy, used_proxy) = match &spec.proxy {
        ClientProxy::Direct => (ProxySetting::Direct, None),
        ClientProxy::Named(name) => {
            let url = proxy_url(name).unwrap_or_default();
            (ProxySetting::Url(url.clone()), Some(url))
        }
        ClientProxy::Pac { host, port } => (
            ProxySetting::Pac(format!("http://{host}:{port}/wpad.dat")),
            None,
        ),
        ClientProxy::Wpad { suffix } => (
            ProxySetting::Wpad {
                suffix: suffix.clone(),
            },
            None,
        ),
    };
    let connect_to = concrete_connect_to(lab, scenario);

    let mut probes = Vec::new();
    for probe in &scenario.probes {
        match probe {
            ProbeSpec::Ready(probe) => probes.push(probe.clone()),
            ProbeSpec::Ike { host, ports } => probes.push(Probe::Ike {
                host: host.clone(),
                ports: ports
                    .iter()
                    .filter_map(|(port, name)| Some((*port, lab.udp(name)?)))
                    .collect(),
            }),
            ProbeSpec::MachineCertificate { profiles } => {
                let store = dir.join("machine-store");
                std::fs::create_dir_all(&store).map_err(|source| PrepareError::Write {
                    path: store.clone(),
                    source,
                })?;
                for (index, profile) in profiles.iter().enumerate() {
                    let minted = lab
                        .certs()
                        .mint(*profile, &["client.egresslab.test".to_owned()])
                        .map_err(|e| PrepareError::Certificate {
                            what: profile.to_string(),
                            message: e.to_string(),
                        })?;
                    write(
                        store.join(format!("machine-{index}.pem")),
                        &minted.full_chain_pem(),
                    )?;
                }
                probes.push(Probe::MachineCertificate { store });
            }
        }
    }
    let default_vpn_server = scenario.probes.iter().find_map(|p| match p {
        ProbeSpec::Ready(Probe::VpnServer { host }) => Some(host.clone()),
        _ => None,
    });
    let context = ArtifactContext {
        proxies: lab
            .proxies()
            .iter()
            .map(|p| (p.name().to_owned(), p.address().to_string()))
            .collect(),
        client_cert: cert_info,
        default_vpn_server,
    };
    let artifact_probes =
        write_artifacts(dir, &scenario.artifacts, &context).map_err(|source| {
            PrepareError::Write {
                path: dir.join("artifacts"),
                source,
            }
        })?;
    probes.extend(artifact_probes);

    // Field by field, so fields the checks add later (tls_versions) keep their defaults until wired.
    let mut config = ClientConfig::default();
    config.proxy = proxy;
    config.proxy_credentials = spec.proxy_credentials.clone();
    config.trust = trust;
    // A client that trusts the lab root also holds the lab's issuing CA in its intermediate store, as a
    // domain-joined Windows machine does; that is what lets the checks prove an incomplete chain.
    if spec.trust.contains(&CaRole::Lab) {
        config.intermediates = vec![lab
            .certs()
            .authority(CaRole::Intermediate)
            .cert_der()
            .clone()];
    }
    config.expected_issuers = if spec.expected_issuers.is_empty() {
        legitimate_issuers(lab, scenario)
    } else {
        spec.expected_issuers.clone()
    };
    config.client_cert = client_cert;
    config.connect_to = connect_to.clone();
    config.dns_server = lab.dns_address();
    config.connect_timeout = spec.connect_timeout;
    config.io_timeout = spec.io_timeout;
    config.tls_versions = spec.tls_versions;
    let connect_to = connect_to
        .iter()
        .map(|c| {
            format!(
                "{}:{}:{}:{}",
                c.host,
                c.port,
                c.address.ip(),
                c.address.port()
            )
        })
        .collect();
    Ok(Prepared {
        config,
        probes,
        trust_bundle,
        client_files,
        connect_to,
        proxy_url: used_proxy,
    })
}

/// The issuers of the certificates the scenario's own endpoints present (issuer CN, else the issuer
/// DN): what the client legitimately sees, so that any other issuer on the path is interception. Each
/// endpoint's profile is minted once more with the lab's factory, which shares its intermediates with
/// the certificates the endpoints serve.
pub fn legitimate_issuers(lab: &Lab, scenario: &Expanded) -> Vec<String> {
    let mut issuers: Vec<String> = Vec::new();
    for endpoint in &scenario.plan.endpoints {
        let Some(tls) = &endpoint.tls else {
            continue;
        };
        let info = lab
            .certs()
            .mint(tls.profile, &endpoint.hosts)
            .and_then(|minted| minted.info());
        match info {
            Ok(info) => {
                let name = info.issuer_common_name.unwrap_or(info.issuer);
                if !issuers.contains(&name) {
                    issuers.push(name);
                }
            }
            Err(error) => {
                tracing::warn!(endpoint = %endpoint.name, %error, "cannot tell the endpoint's issuer")
            }
        }
    }
    issuers
}

/// The URL an external command is pointed at: the expectation's, else the first `url` probe.
pub fn target_url(scenario: &Expanded, exec_url: Option<&str>) -> Option<String> {
    exec_url.map(str::to_owned).or_else(|| {
        scenario.probes.iter().find_map(|p| match p {
            ProbeSpec::Ready(Probe::Url { url }) | ProbeSpec::Ready(Probe::Backend { url, .. }) => {
                Some(url.clone())
            }
            _ => None,
        })
    })
}

/// The environment of `--exec` (see docs/exec-contract.md).
pub fn exec_env(
    scenario: &Expanded,
    prepared: &Prepared,
    lab: &Lab,
    url: Option<&str>,
    ready_file: Option<&Path>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
    set("EGRESSLAB_SCENARIO", scenario.id.clone());
    if let Some(proxy) = &prepared.proxy_url {
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            set(key, proxy.clone());
        }
        set("EGRESSLAB_PROXY", proxy.clone());
    }
    set("NO_PROXY", "localhost,127.0.0.1,::1".to_owned());
    set("no_proxy", "localhost,127.0.0.1,::1".to_owned());
    let bundle = prepared.trust_bundle.display().to_string();
    for key in [
        "SSL_CERT_FILE",
        "CURL_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "EGRESSLAB_CA_BUNDLE",
    ] {
        set(key, bundle.clone());
    }
    set("EGRESSLAB_CONNECT_TO", prepared.connect_to.join(" "));
    let resolve: Vec<String> = prepared
        .connect_to
        .iter()
        .filter_map(|c| {
            let mut parts = c.split(':');
            let (host, port, ip) = (parts.next()?, parts.next()?, parts.next()?);
            Some(format!("{host}:{port}:{ip}"))
        })
        .collect();
    set("EGRESSLAB_RESOLVE", resolve.join(" "));
    if let Some(dns) = lab.dns_address() {
        set("EGRESSLAB_DNS", dns.to_string());
    }
    if let Some((cert, key)) = &prepared.client_files {
        set("EGRESSLAB_CLIENT_CERT", cert.display().to_string());
        set("EGRESSLAB_CLIENT_KEY", key.display().to_string());
    }
    if let Some(url) = url {
        set("EGRESSLAB_URL", url.to_owned());
        if let Some((_, host, port, _)) = split_url(url) {
            let address = prepared
                .config
                .connect_to
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
    let curlrc = curlrc(prepared, scenario);
    if let Ok(path) = write(lab.dir().join(".curlrc"), &curlrc) {
        if let Some(parent) = path.parent() {
            set("CURL_HOME", parent.display().to_string());
        }
    }
    env
}

fn curlrc(prepared: &Prepared, scenario: &Expanded) -> String {
    // Through a proxy the proxy resolves names itself; curl would otherwise send the --connect-to
    // address in its CONNECT line instead of the host name.
    let mut lines: Vec<String> = if prepared.proxy_url.is_some() {
        Vec::new()
    } else {
        prepared
            .connect_to
            .iter()
            .map(|c| format!("connect-to = \"{c}\""))
            .collect()
    };
    lines.push(format!("cacert = \"{}\"", prepared.trust_bundle.display()));
    if let Some(proxy) = &prepared.proxy_url {
        lines.push(format!("proxy = \"{proxy}\""));
        // The connector tunnels every destination, port 80 included, with CONNECT (seed 001).
        lines.push("proxytunnel".to_owned());
        if proxy.starts_with("https://") {
            lines.push(format!(
                "proxy-cacert = \"{}\"",
                prepared.trust_bundle.display()
            ));
        }
    }
    if let Some((cert, key)) = &prepared.client_files {
        lines.push(format!("cert = \"{}\"", cert.display()));
        lines.push(format!("key = \"{}\"", key.display()));
    }
    match scenario.client.tls_versions {
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

/// A curl command line that reaches `url` as the simulated client does: through its proxy (tunnelled,
/// as the connector) or, without one, with `--connect-to` for every lab name.
pub fn curl_command(prepared: &Prepared, url: &str) -> String {
    let bundle = prepared.trust_bundle.display();
    let mut words: Vec<String> = Vec::new();
    match &prepared.proxy_url {
        Some(proxy) => {
            words.push(format!("--proxy {proxy} --proxytunnel"));
            if proxy.starts_with("https://") {
                words.push(format!("--proxy-cacert {bundle}"));
            }
        }
        None => words.extend(
            prepared
                .connect_to
                .iter()
                .map(|c| format!("--connect-to {c}")),
        ),
    }
    if let Some((cert, key)) = &prepared.client_files {
        words.push(format!("--cert {} --key {}", cert.display(), key.display()));
    }
    format!("curl {} --cacert {bundle} {url}", words.join(" "))
}

/// The ready file of `egresslab up` (a stable contract, see docs/exec-contract.md).
pub fn ready_json(
    scenario: &Expanded,
    prepared: &Prepared,
    lab: &Lab,
    env: &[(String, String)],
) -> serde_json::Value {
    let proxies: serde_json::Map<String, serde_json::Value> = lab
        .proxies()
        .iter()
        .map(|p| {
            (
                p.name().to_owned(),
                json!({ "url": p.url(), "address": p.address().to_string(), "down": p.is_down() }),
            )
        })
        .collect();
    let endpoints: serde_json::Map<String, serde_json::Value> = scenario
        .plan
        .endpoints
        .iter()
        .map(|e| {
            let address: Option<SocketAddr> = lab.endpoint(&e.name).map(|h| h.address());
            (e.name.clone(), json!({ "hosts": e.hosts, "port": e.port, "address": address.map(|a| a.to_string()) }))
        })
        .collect();
    let cas: serde_json::Map<String, serde_json::Value> = CaRole::ALL
        .iter()
        .map(|role| {
            let file = if *role == CaRole::Lab {
                lab.ca_bundle_path().to_path_buf()
            } else {
                lab.dir().join(format!("{}.pem", role.name()))
            };
            (role.name().to_owned(), json!(file.display().to_string()))
        })
        .collect();
    let udp: serde_json::Map<String, serde_json::Value> = scenario
        .plan
        .udp
        .iter()
        .map(|u| (u.name.clone(), json!({ "host": u.host, "port": u.port, "address": lab.udp(&u.name).map(|a| a.to_string()) })))
        .collect();
    let env: serde_json::Map<String, serde_json::Value> =
        env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "scenario": scenario.id,
        "proxies": proxies,
        "endpoints": endpoints,
        "cas": cas,
        "ca_bundle": prepared.trust_bundle.display().to_string(),
        "client_cert": prepared.client_files.as_ref().map(|(c, _)| c.display().to_string()),
        "client_key": prepared.client_files.as_ref().map(|(_, k)| k.display().to_string()),
        "dns": lab.dns_address().map(|a| a.to_string()),
        "udp": udp,
        "connect_to": prepared.connect_to,
        "env": env,
    })
}
