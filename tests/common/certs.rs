//! Certificate test helpers: webpki verification at a fixed time and `openssl verify` runs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use egresslab_certs::{CaRole, CertificateDer, Factory, Minted, Profile};
use rustls_pki_types::{ServerName, UnixTime};
use webpki::{
    BorrowedCertRevocationList, CertRevocationList, EndEntityCert, KeyUsage, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

/// The instant every test validates at: now, captured once and passed explicitly.
pub fn fixed_now() -> UnixTime {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    UnixTime::since_unix_epoch(since)
}

/// The trust anchor a client of `profile` is configured with: the lab root, or the connector
/// registration CA for connector client certificates.
pub fn anchor_for(factory: &Factory, profile: Profile) -> CertificateDer<'static> {
    match profile {
        Profile::ConnectorClient => factory
            .authority(CaRole::ConnectorRegistration)
            .cert_der()
            .clone(),
        _ => factory.authority(CaRole::Lab).cert_der().clone(),
    }
}

/// Verifies `minted`'s served chain with webpki against `anchor` at `now`, for the server or
/// client usage, optionally checking a host name and a CRL.
pub fn webpki_verify(
    minted: &Minted,
    anchor: &CertificateDer<'_>,
    client: bool,
    host: Option<&str>,
    crl: Option<&[u8]>,
    now: UnixTime,
) -> Result<(), webpki::Error> {
    let anchors = vec![webpki::anchor_from_trusted_cert(anchor)?.to_owned()];
    let ee = EndEntityCert::try_from(minted.leaf())?;
    let crl = crl
        .map(BorrowedCertRevocationList::from_der)
        .transpose()?
        .map(CertRevocationList::from);
    let crls: Vec<&CertRevocationList<'_>> = crl.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crls).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Allow)
            .build()
    });
    let usage = if client {
        KeyUsage::client_auth()
    } else {
        KeyUsage::server_auth()
    };
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &minted.served_chain[1..],
        now,
        usage,
        revocation,
        None,
    )?;
    if let Some(host) = host {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| webpki::Error::MalformedDnsIdentifier)?;
        ee.verify_is_valid_for_subject_name(&name)?;
    }
    Ok(())
}

/// PEM of DER items with the given tag.
pub fn pem_of(tag: &str, ders: &[&[u8]]) -> String {
    ders.iter()
        .map(|d| pem::encode(&pem::Pem::new(tag, d.to_vec())))
        .collect()
}

/// Runs `openssl verify` on the exported PEM files of `minted` in `dir`: `-CAfile` the anchor,
/// `-untrusted` the served intermediates, plus `extra` arguments. Returns (success, output).
pub fn openssl_verify(
    dir: &Path,
    minted: &Minted,
    anchor: &CertificateDer<'_>,
    extra: &[&str],
) -> (bool, String) {
    std::fs::write(
        dir.join("root.pem"),
        pem_of("CERTIFICATE", &[anchor.as_ref()]),
    )
    .unwrap();
    std::fs::write(dir.join("leaf.pem"), minted.leaf_pem()).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(["verify", "-CAfile", "root.pem"]);
    let intermediates: Vec<&[u8]> = minted.served_chain[1..]
        .iter()
        .map(|c| c.as_ref())
        .collect();
    if !intermediates.is_empty() {
        std::fs::write(
            dir.join("untrusted.pem"),
            pem_of("CERTIFICATE", &intermediates),
        )
        .unwrap();
        cmd.args(["-untrusted", "untrusted.pem"]);
    }
    cmd.args(extra).arg("leaf.pem");
    let out = cmd
        .output()
        .expect("openssl must be installed (./test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
