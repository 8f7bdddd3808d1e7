//! `egresslab check`: run the diagnostic checks against any network, lab or real.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use egresslab::check::{self, report, ClientCertificate, ClientConfig, Probe, ProxySetting};

use super::check_lab::LabClient;

pub use super::format::Format;

/// Arguments of `egresslab check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Explicit proxy URL: http://host:port, https://host:port, socks5h://host:port (the proxy
    /// resolves names) or socks5://host:port (the client does).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Proxy credentials USER:PASS (sent as Basic unless --proxy-ntlm; never printed).
    #[arg(long, value_name = "USER:PASS")]
    pub proxy_user: Option<String>,
    /// Answer the proxy's 407 with the NTLM handshake (USER may be DOMAIN\USER), as curl's
    /// --proxy-ntlm does.
    #[arg(long, requires = "proxy_user")]
    pub proxy_ntlm: bool,
    /// Answer the proxy's 407 with a Digest response (RFC 7616, MD5 or SHA-256), as curl's
    /// --proxy-digest does.
    #[arg(long, requires = "proxy_user", conflicts_with = "proxy_ntlm")]
    pub proxy_digest: bool,
    /// PAC file URL.
    #[arg(long, conflicts_with_all = ["proxy", "wpad"])]
    pub pac: Option<String>,
    /// WPAD: the DNS suffix (looks up wpad.SUFFIX).
    #[arg(long, value_name = "SUFFIX", conflicts_with = "proxy")]
    pub wpad: Option<String>,
    /// Trusted root certificate(s), PEM or DER.
    #[arg(long = "ca", value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// PEM file of intermediate CAs the client already holds (its intermediate store); with it a server
    /// that omits its intermediate is reported as an incomplete chain rather than an untrusted root.
    #[arg(long = "intermediate", value_name = "FILE")]
    pub intermediate: Vec<PathBuf>,
    /// Issuer common name the cloud service's certificates are expected to carry (interception otherwise).
    #[arg(long = "expect-issuer", value_name = "NAME")]
    pub expect_issuer: Vec<String>,
    /// Client certificate chain (PEM).
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// curl-style override HOST:PORT:ADDR:PORT.
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT")]
    pub connect_to: Vec<String>,
    /// DNS server ADDR[:PORT] to ask instead of the system resolver.
    #[arg(long)]
    pub dns: Option<String>,
    /// TCP connect time-out in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub connect_timeout: f64,
    /// Also probe the connector's whole required-endpoint matrix.
    #[arg(long)]
    pub connector_endpoints: bool,
    /// Probe IKE (UDP 500/4500) and the VPN server certificate of HOST.
    #[arg(long, value_name = "HOST")]
    pub ike: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Take the client from a running lab's ready file (`egresslab up --ready-file F`): its proxy,
    /// trust, name mapping, client certificate, DNS server and URL. Flags given as well add to it
    /// (--ca, --connect-to) or replace it (--proxy, --dns). The proxy password is never in the file:
    /// give --proxy-user USER:PASS (the scheme comes from the lab).
    #[arg(long, value_name = "FILE", conflicts_with = "from_env")]
    pub ready_file: Option<PathBuf>,
    /// Take the client from the EGRESSLAB_* variables `egresslab up` printed as `export` lines
    /// (EGRESSLAB_CA_BUNDLE, EGRESSLAB_PROXY, EGRESSLAB_CONNECT_TO, EGRESSLAB_INTERMEDIATES,
    /// EGRESSLAB_EXPECTED_ISSUERS, EGRESSLAB_URL, ...), as --ready-file does from the file.
    #[arg(long)]
    pub from_env: bool,
    /// Targets: https://url, http://url, or host:port. With --ready-file or --from-env and no
    /// target, the lab's URL (EGRESSLAB_URL).
    pub targets: Vec<String>,
}

pub use super::check_lab::parse_connect_to;

fn read_certs(
    path: &std::path::Path,
) -> anyhow::Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    let bytes = egresslab_certs::fs::read_regular_file(path, egresslab_certs::fs::MAX_INPUT_FILE)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let ders = check::artifacts::store::certificates_in(path, &bytes, None);
    if ders.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(ders
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect())
}

fn build(args: &Args) -> anyhow::Result<(ClientConfig, Vec<Probe>)> {
    let mut config = ClientConfig {
        connect_timeout: Duration::from_secs_f64(args.connect_timeout.max(0.05)),
        ..Default::default()
    };
    let lab = match (&args.ready_file, args.from_env) {
        (Some(path), _) => Some(super::check_lab::from_ready_file(path)?),
        (None, true) => Some(super::check_lab::from_env()?),
        (None, false) => None,
    };
    if let Some(lab) = &lab {
        apply_lab(&mut config, lab)?;
    }
    config.proxy = match (&args.proxy, &args.pac, &args.wpad) {
        (Some(p), _, _) => {
            if check::ProxyUrl::parse(p).is_none() {
                bail!("--proxy {p:?} is not http://, https://, socks5:// or socks5h://host:port");
            }
            ProxySetting::Url(p.clone())
        }
        (_, Some(p), _) => ProxySetting::Pac(p.clone()),
        (_, _, Some(s)) => ProxySetting::Wpad { suffix: s.clone() },
        _ => lab
            .as_ref()
            .map_or(ProxySetting::Direct, |lab| lab.proxy.clone()),
    };
    if let Some(up) = &args.proxy_user {
        let (u, p) = up
            .split_once(':')
            .context("--proxy-user must be USER:PASS")?;
        config.proxy_credentials = Some((u.to_string(), p.to_string()));
        if let Some((_, kind)) = lab.as_ref().and_then(|lab| lab.proxy_auth.as_ref()) {
            config.proxy_auth = *kind;
        }
        if args.proxy_ntlm {
            config.proxy_auth = check::ProxyAuthKind::Ntlm;
        } else if args.proxy_digest {
            config.proxy_auth = check::ProxyAuthKind::Digest;
        }
    }
    for intermediate in &args.intermediate {
        config.intermediates.extend(read_certs(intermediate)?);
    }
    for ca in &args.ca {
        config.trust.extend(read_certs(ca)?);
    }
    if !args.expect_issuer.is_empty() {
        config.expected_issuers = args.expect_issuer.clone();
    }
    if let (Some(c), Some(k)) = (&args.client_cert, &args.client_key) {
        config.client_cert = Some(client_certificate(c, k)?);
    }
    for c in &args.connect_to {
        config
            .connect_to
            .push(parse_connect_to(c).with_context(|| format!("--connect-to {c}"))?);
    }
    if let Some(d) = &args.dns {
        let addr = d
            .parse()
            .or_else(|_| format!("{d}:53").parse())
            .with_context(|| format!("--dns {d:?} is not ADDR[:PORT]"))?;
        config.dns_server = Some(addr);
    }
    let lab_url = lab
        .as_ref()
        .and_then(|lab| lab.url.clone())
        .filter(|_| args.targets.is_empty());
    let mut probes = Vec::new();
    for t in args.targets.iter().chain(lab_url.as_ref()) {
        if t.starts_with("https://") || t.starts_with("http://") {
            probes.push(Probe::Url { url: t.clone() });
        } else {
            let (host, port) = check::split_host_port(t, 0)
                .filter(|(_, p)| *p != 0)
                .with_context(|| format!("target {t:?} is not a URL or host:port"))?;
            probes.push(Probe::Tcp { host, port });
        }
    }
    if args.connector_endpoints {
        probes.push(Probe::ConnectorEndpoints);
    }
    if let Some(h) = &args.ike {
        probes.push(Probe::Ike {
            host: h.clone(),
            ports: vec![],
        });
        probes.push(Probe::VpnServer { host: h.clone() });
    }
    if probes.is_empty() {
        bail!("nothing to check: give a TARGET, --connector-endpoints or --ike");
    }
    Ok((config, probes))
}

/// Start from what a running lab tells its client; the flags are applied after.
fn apply_lab(config: &mut ClientConfig, lab: &LabClient) -> anyhow::Result<()> {
    config.trust.extend(read_certs(&lab.trust)?);
    for intermediate in &lab.intermediates {
        config.intermediates.extend(read_certs(intermediate)?);
    }
    config.expected_issuers.clone_from(&lab.expected_issuers);
    if let Some((cert, key)) = &lab.client_files {
        config.client_cert = Some(client_certificate(cert, key)?);
    }
    config.connect_to.clone_from(&lab.connect_to);
    config.dns_server = lab.dns;
    if let Some((user, _)) = &lab.proxy_auth {
        tracing::info!(%user, "the lab's client authenticates to its proxy; give --proxy-user USER:PASS");
    }
    Ok(())
}

fn client_certificate(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<ClientCertificate> {
    let chain = read_certs(cert)?;
    let key_bytes =
        egresslab_certs::fs::read_regular_file(key, egresslab_certs::fs::MAX_INPUT_FILE)
            .with_context(|| format!("cannot read {}", key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_bytes.as_slice())?
        .with_context(|| format!("{} holds no private key", key.display()))?;
    Ok(ClientCertificate { chain, key })
}

/// Write a report in a format; returns the exit code (0 without errors, 1 with).
pub fn emit(report: &check::Report, format: Format, suite: &str) -> ExitCode {
    let out = match format {
        Format::Text => report::text(report, std::io::stdout().is_terminal()),
        Format::Json => report::json(report),
        Format::Junit => report::junit(report, suite),
    };
    print!("{out}");
    if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Run `egresslab check`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, probes) = match build(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("egresslab check: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(check::run(&config, &probes));
    Ok(emit(&report, args.format, "egresslab check"))
}
