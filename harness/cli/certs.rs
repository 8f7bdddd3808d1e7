//! `egresslab certs`: mint, inspect and locate lab certificates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use egresslab_certs::{CaRole, CertInfo, Factory, Profile};

use super::ca::CaDir;

/// Arguments of `egresslab certs`.
#[derive(Debug, clap::Args)]
#[command(long_about = "Mint, inspect and locate lab certificates.\n\n\
The lab keeps its certificate authorities (a name-constrained lab root and its issuing CA, a \
TLS-inspection root, an untrusted root and connectorregistrationca.msappproxy.net) in a data \
directory, so a root you trust once stays valid across runs. Every certificate comes from a \
named profile that carries one documented defect (or none): see `egresslab certs profiles`.")]
pub struct Args {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertsCommand {
    /// List the profiles: name, the defect it carries, and what a TLS client reports.
    Profiles,
    /// Mint a certificate from a profile and write leaf.pem, chain.pem, key.pem (0600),
    /// leaf.cer, leaf.pfx and root.pem.
    #[command(long_about = "Mint a certificate from a profile.\n\n\
Writes into --out: leaf.pem (the certificate), chain.pem (what a server should send, leaf \
first), key.pem (PKCS#8 private key, mode 0600), leaf.cer (DER, for Windows), leaf.pfx (PKCS#12 \
with key and chain, AES-256 + HMAC-SHA256, protected by --pfx-password) and root.pem (the trust \
anchor to give the client). Then prints what the certificate says.\n\n\
Example: egresslab certs mint expired --host login.microsoftonline.com --out ./expired")]
    Mint(MintArgs),
    /// Show what a certificate file says: thumbprint, names, validity, EKUs, key, signature.
    #[command(long_about = "Show what a certificate file says.\n\n\
Reads PEM (every certificate in the file), DER (.cer/.crt) or PKCS#12 (.pfx/.p12, with \
--password). The SHA-1 thumbprint is printed in the uppercase form of TrustSettings.xml and \
the Windows certificate store.")]
    Inspect(InspectArgs),
    /// Show where the lab CA lives, its thumbprint, and how to trust it on Linux and Windows.
    Ca(CaArgs),
}

#[derive(Debug, clap::Args)]
struct MintArgs {
    /// Profile name, e.g. valid, expired, wrong-host, revoked (see `egresslab certs profiles`).
    profile: Profile,
    /// Host name, wildcard (*.msappproxy.net) or IP address; repeat for more SANs. The first
    /// becomes the subject CN.
    #[arg(long = "host", value_name = "NAME", required = true)]
    hosts: Vec<String>,
    /// Output directory (created if needed). Default: ./egresslab-<profile>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Password protecting leaf.pfx (`certs inspect` tries this default by itself).
    #[arg(long, value_name = "PW", env = "EGRESSLAB_PFX_PASSWORD", default_value = egresslab_certs::DEFAULT_PFX_PASSWORD, hide_env_values = true)]
    pfx_password: String,
    #[command(flatten)]
    ca: CaDir,
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// A PEM, DER or PKCS#12 file.
    file: PathBuf,
    /// Password of a PKCS#12 file. Without it the empty password and then the `certs mint`
    /// default are tried.
    #[arg(
        long,
        value_name = "PW",
        env = "EGRESSLAB_PFX_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
}

#[derive(Debug, clap::Args)]
struct CaArgs {
    #[command(flatten)]
    ca: CaDir,
}

/// Run `egresslab certs`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CertsCommand::Profiles => profiles(),
        CertsCommand::Mint(m) => mint(m),
        CertsCommand::Inspect(i) => inspect(i),
        CertsCommand::Ca(c) => ca(c),
    }
    .map(|()| ExitCode::SUCCESS)
}

fn open_factory(arg: &CaDir) -> anyhow::Result<(PathBuf, Factory)> {
    let dir = arg.resolve()?;
    let factory =
        Factory::open(&dir).with_context(|| format!("opening the lab CA in {}", dir.display()))?;
    Ok((dir, factory))
}

fn profiles() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<20} {:<58} WHAT A CLIENT SEES", "PROFILE", "DEFECT")?;
    for p in Profile::ALL {
        writeln!(
            out,
            "{:<20} {:<58} {}",
            p.name(),
            p.defect(),
            p.client_sees()
        )?;
    }
    Ok(())
}

fn mint(args: MintArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (dir, factory) = open_factory(&args.ca)?;
    let minted = factory
        .mint(args.profile, &args.hosts)
        .with_context(|| format!("minting a {} certificate", args.profile))?;
    warn_outside_constraints(&dir, &factory, &minted, &args.hosts)?;
    let out_dir = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("egresslab-{}", args.profile)));
    egresslab_certs::fs::create_private_dir(&out_dir)
        .with_context(|| format!("creating {}", out_dir.display()))?;
    let write = |name: &str, bytes: &[u8], secret: bool| -> anyhow::Result<PathBuf> {
        let path = out_dir.join(name);
        egresslab_certs::write_file(&path, bytes, secret)?;
        Ok(path)
    };
    let pfx = minted.to_pfx(&args.pfx_password)?;
    let written = [
        write("leaf.pem", minted.leaf_pem().as_bytes(), false)?,
        write("chain.pem", minted.chain_pem().as_bytes(), false)?,
        write("key.pem", minted.key_pem().as_bytes(), true)?,
        write("leaf.cer", minted.leaf().as_ref(), false)?,
        write("leaf.pfx", &pfx, true)?,
        write("root.pem", minted.root_pem().as_bytes(), false)?,
    ];
    writeln!(
        out,
        "profile:    {} ({})",
        args.profile,
        args.profile.defect()
    )?;
    writeln!(out, "client sees: {}", args.profile.client_sees())?;
    for path in &written {
        writeln!(out, "wrote       {}", path.display())?;
    }
    writeln!(out)?;
    print_info(&mut out, &minted.info()?)?;
    Ok(())
}

/// A certificate under the lab root for a host the root's name constraints exclude is refused
/// by every client that enforces them; say so before the user installs it (the mint still
/// succeeds: the certificate may be wanted for exactly that).
fn warn_outside_constraints(
    dir: &Path,
    factory: &Factory,
    minted: &egresslab_certs::Minted,
    hosts: &[String],
) -> anyhow::Result<()> {
    let lab = factory.authority(CaRole::Lab).cert_der();
    if minted.root.as_ref() != lab.as_ref() {
        return Ok(());
    }
    let outside = egresslab_certs::outside_name_constraints(lab, hosts)
        .context("reading the lab root's name constraints")?;
    for host in outside {
        let why = match &host.excluded_by {
            Some(subtree) => format!("excluded by {subtree}"),
            None => format!("permitted: {}", host.permitted.join(", ")),
        };
        eprintln!(
            "warning: {} is outside the name constraints of the lab root {} ({why}); a client that \
             trusts that root rejects this certificate (OpenSSL: \"permitted subtree violation\")",
            host.host,
            dir.join("lab.pem").display()
        );
    }
    Ok(())
}

fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let infos = match egresslab_certs::inspect_file(&args.file, args.password.as_deref()) {
        Ok(infos) => infos,
        // These name the file themselves.
        Err(error @ egresslab_certs::CertError::Pkcs12Password { .. }) => {
            anyhow::bail!(
                "{error}: pass the password it was exported with, --password PW (or EGRESSLAB_PFX_PASSWORD)"
            )
        }
        Err(
            error @ (egresslab_certs::CertError::NotPem { .. }
            | egresslab_certs::CertError::NoCertificate { .. }),
        ) => return Err(error.into()),
        Err(error) => {
            return Err(
                anyhow::Error::new(error).context(format!("reading {}", args.file.display()))
            )
        }
    };
    for (i, info) in infos.iter().enumerate() {
        if infos.len() > 1 {
            writeln!(out, "certificate {} of {}", i + 1, infos.len())?;
        }
        print_info(&mut out, info)?;
        writeln!(out)?;
    }
    Ok(())
}

fn ca(args: CaArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (dir, factory) = open_factory(&args.ca)?;
    writeln!(out, "lab CA directory: {}", dir.display())?;
    for role in CaRole::ALL {
        let authority = factory.authority(*role);
        let info = egresslab_certs::inspect(authority.cert_der())?;
        writeln!(
            out,
            "  {:<32} {:<40} thumbprint {}  until {}",
            format!("{role}.pem/.key"),
            authority.common_name(),
            info.thumbprint_sha1,
            info.not_after.date()
        )?;
    }
    let lab = dir.join("lab.pem");
    let inspection = dir.join("inspection.pem");
    writeln!(out)?;
    writeln!(out, "Trust the lab root (it is name-constrained to the lab's domains, so it cannot vouch for other sites):")?;
    print_trust(&mut out, &lab, "egresslab-lab")?;
    writeln!(out)?;
    writeln!(out, "Trust the TLS-inspection root only to reproduce an intercepting proxy (it has no name constraints):")?;
    print_trust(&mut out, &inspection, "egresslab-inspection")?;
    Ok(())
}

fn print_trust(out: &mut impl Write, pem: &Path, name: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "  Debian/Ubuntu: sudo cp {} /usr/local/share/ca-certificates/{name}.crt && sudo update-ca-certificates",
        pem.display()
    )?;
    writeln!(
        out,
        "  Windows (admin): certutil -addstore -f Root {name}.pem   (copy {} first)",
        pem.display()
    )?;
    writeln!(
        out,
        "  One program only: SSL_CERT_FILE={} or curl --cacert {}",
        pem.display(),
        pem.display()
    )
}

fn print_info(out: &mut impl Write, info: &CertInfo) -> std::io::Result<()> {
    let time = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    writeln!(out, "thumbprint: {}", info.thumbprint_sha1)?;
    writeln!(out, "subject:    {}", info.subject)?;
    writeln!(out, "issuer:     {}", info.issuer)?;
    writeln!(out, "serial:     {}", info.serial)?;
    writeln!(out, "not before: {}", time(info.not_before))?;
    writeln!(out, "not after:  {}", time(info.not_after))?;
    writeln!(out, "SANs:       {}", list(&info.sans))?;
    let ekus: Vec<String> = info.ekus.iter().map(|o| eku_name(o)).collect();
    writeln!(out, "EKUs:       {}", list(&ekus))?;
    writeln!(out, "key:        {}", info.key_type)?;
    writeln!(out, "signature:  {}", info.signature_algorithm)?;
    writeln!(out, "CA:         {}", if info.is_ca { "yes" } else { "no" })
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

fn eku_name(oid: &str) -> String {
    let name = match oid {
        egresslab_certs::EKU_SERVER_AUTH => "Server Authentication",
        egresslab_certs::EKU_CLIENT_AUTH => "Client Authentication",
        egresslab_certs::EKU_AAD_CONDITIONAL_ACCESS => "AAD Conditional Access",
        egresslab_certs::EKU_IKE_INTERMEDIATE => "IP security IKE intermediate",
        "1.3.6.1.5.5.7.3.4" => "Secure Email",
        "1.3.6.1.5.5.7.3.3" => "Code Signing",
        _ => return oid.to_string(),
    };
    format!("{name} ({oid})")
}
