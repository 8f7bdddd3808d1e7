//! The client profile: a scenario's client completed against its running lab — proxy URL, trust roots,
//! client certificate, name mapping, DNS server, TLS versions, probes and artifact files.

use std::path::PathBuf;

use egresslab_certs::{CaRole, Profile};
use rustls_pki_types::CertificateDer;

use crate::check::{ClientCertificate, ClientConfig, ConnectTo, Probe, ProxySetting, SocksResolve};
use crate::lab::Lab;

use super::super::artifacts::{write_artifacts, ArtifactContext};
use super::super::expand::{ClientProxy, ClientSpec, Expanded, ProbeSpec};
use super::super::files::{create_private_dir, write_private};
use super::connect::concrete_connect_to;
use super::{write_error, PrepareError};

/// A scenario's client, ready to run the checks or an external command.
#[derive(Debug)]
pub struct ClientProfile {
    /// The checks' input; its `connect_to` is the client's name mapping.
    pub config: ClientConfig,
    /// The probes, including the artifact readers.
    pub probes: Vec<Probe>,
    /// PEM of what the client trusts.
    pub trust_bundle: PathBuf,
    /// The client certificate and key files, if any.
    pub client_files: Option<(PathBuf, PathBuf)>,
    /// The proxy URL the client uses, if it has a fixed one.
    pub proxy_url: Option<String>,
}

impl ClientProfile {
    /// Where each lab name really connects for this client (exact names only).
    pub fn connect_to(&self) -> &[ConnectTo] {
        &self.config.connect_to
    }
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, PrepareError> {
    write_private(&path, text.as_bytes()).map_err(write_error(&path))?;
    Ok(path)
}

fn mint(
    lab: &Lab,
    profile: Profile,
    hosts: &[String],
) -> Result<egresslab_certs::Minted, PrepareError> {
    lab.certs()
        .mint(profile, hosts)
        .map_err(|source| PrepareError::Mint {
            profile: profile.name().to_owned(),
            source,
        })
}

/// The client certificate: what the checks present, the files an external command is given, and
/// (thumbprint, leaf PEM) for the artifact files.
struct ClientCert {
    checks: ClientCertificate,
    files: (PathBuf, PathBuf),
    artifact: (String, String),
}

fn client_certificate(lab: &Lab, spec: &ClientSpec) -> Result<Option<ClientCert>, PrepareError> {
    let Some((profile, hosts)) = &spec.client_cert else {
        return Ok(None);
    };
    let minted = mint(lab, *profile, hosts)?;
    let thumbprint = minted.info().map(|i| i.thumbprint_sha1).unwrap_or_default();
    let cert = write(lab.dir().join("client-cert.pem"), &minted.full_chain_pem())?;
    let key = write(lab.dir().join("client-key.pem"), &minted.key_pem())?;
    Ok(Some(ClientCert {
        artifact: (thumbprint, minted.leaf_pem()),
        files: (cert, key),
        checks: ClientCertificate {
            chain: minted.full_chain.clone(),
            key: minted.key.clone_key(),
        },
    }))
}

/// How the checks find the proxy, and the fixed proxy URL an external command is given.
fn proxy_setting(lab: &Lab, spec: &ClientSpec) -> (ProxySetting, Option<String>) {
    match &spec.proxy {
        ClientProxy::Direct => (ProxySetting::Direct, None),
        ClientProxy::Named(name) => {
            let url = lab
                .proxy(name)
                .map(|p| match p.is_socks() {
                    true => p.socks_url(spec.socks_resolve == SocksResolve::Proxy),
                    false => p.url(),
                })
                .unwrap_or_default();
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
    }
}

/// The probes with the lab's addresses and files filled in.
fn lab_probes(lab: &Lab, scenario: &Expanded) -> Result<Vec<Probe>, PrepareError> {
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
                let store = lab.dir().join("machine-store");
                create_private_dir(&store).map_err(write_error(&store))?;
                for (index, profile) in profiles.iter().enumerate() {
                    let minted = mint(lab, *profile, &["client.egresslab.test".to_owned()])?;
                    write(
                        store.join(format!("machine-{index}.pem")),
                        &minted.full_chain_pem(),
                    )?;
                }
                probes.push(Probe::MachineCertificate { store });
            }
        }
    }
    Ok(probes)
}

fn artifact_probes(
    lab: &Lab,
    scenario: &Expanded,
    client_cert: Option<(String, String)>,
) -> Result<Vec<Probe>, PrepareError> {
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
        client_cert,
        default_vpn_server,
    };
    write_artifacts(lab.dir(), &scenario.artifacts, &context)
        .map_err(write_error(lab.dir().join("artifacts")))
}

fn pem_certs(what: &'static str, pem: &str) -> Result<Vec<CertificateDer<'static>>, PrepareError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PrepareError::Pem { what, source })
}

/// Complete the client of `scenario` against its running `lab`, writing its files (owner-only) into
/// the lab folder (which the lab creates owner-only).
pub fn prepare(lab: &Lab, scenario: &Expanded) -> Result<ClientProfile, PrepareError> {
    let spec = &scenario.client;
    let trust_pem: String = spec.trust.iter().map(|role| lab.ca_pem(*role)).collect();
    let trust_bundle = write(lab.dir().join("client-trust.pem"), &trust_pem)?;
    let client_cert = client_certificate(lab, spec)?;
    let (proxy, proxy_url) = proxy_setting(lab, spec);
    let mut probes = lab_probes(lab, scenario)?;
    let artifact = client_cert.as_ref().map(|c| c.artifact.clone());
    probes.extend(artifact_probes(lab, scenario, artifact)?);

    // A client that trusts the lab root also holds the lab's issuing CA in its intermediate store, as a
    // domain-joined Windows machine does; that is what lets the checks prove an incomplete chain.
    let intermediates = if spec.trust.contains(&CaRole::Lab) {
        vec![lab
            .certs()
            .authority(CaRole::Intermediate)
            .cert_der()
            .clone()]
    } else {
        Vec::new()
    };
    let expected_issuers = if spec.expected_issuers.is_empty() {
        legitimate_issuers(lab)
    } else {
        spec.expected_issuers.clone()
    };
    let (client_cert, client_files) = client_cert.map(|c| (c.checks, c.files)).unzip();
    #[allow(clippy::needless_update)]
    let config = ClientConfig {
        proxy,
        proxy_credentials: spec.proxy_credentials.clone(),
        proxy_auth: spec.proxy_auth,
        trust: pem_certs("trust bundle", &trust_pem)?,
        intermediates,
        expected_issuers,
        client_cert,
        connect_to: concrete_connect_to(lab, scenario),
        dns_server: lab.dns_address(),
        connect_timeout: spec.connect_timeout,
        io_timeout: spec.io_timeout,
        tls_versions: spec.tls_versions,
        // Fields the checks add later keep their defaults until wired here.
        ..ClientConfig::default()
    };
    Ok(ClientProfile {
        config,
        probes,
        trust_bundle,
        client_files,
        proxy_url,
    })
}

/// The issuers of the certificates the lab's endpoints really serve (issuer CN, else the issuer DN), in
/// plan order: what the client legitimately sees, so that any other issuer on the path is interception.
pub fn legitimate_issuers(lab: &Lab) -> Vec<String> {
    let mut issuers: Vec<String> = Vec::new();
    for endpoint in lab.endpoints() {
        let Some(leaf) = endpoint.certificate() else {
            continue;
        };
        match egresslab_certs::inspect(leaf) {
            Ok(info) => {
                let name = info.issuer_common_name.unwrap_or(info.issuer);
                if !issuers.contains(&name) {
                    issuers.push(name);
                }
            }
            Err(error) => {
                tracing::warn!(endpoint = %endpoint.name(), %error, "cannot tell the endpoint's issuer")
            }
        }
    }
    issuers
}
