//! Persisted CAs: `<dir>/<role>.pem` and `<dir>/<role>.key` (PKCS#8 PEM, mode 0600).

use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::CertificateDer;

use crate::authority::Authority;
use crate::factory::Factory;
use crate::minted::write_file;
use crate::{CaRole, CertError, FactoryOptions};

fn paths(dir: &Path, role: CaRole) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{}.pem", role.name())),
        dir.join(format!("{}.key", role.name())),
    )
}

fn exists(path: &Path) -> Result<bool, CertError> {
    path.try_exists().map_err(CertError::io(path))
}

pub(crate) fn open(dir: &Path, options: &FactoryOptions) -> Result<Factory, CertError> {
    if !exists(dir)? {
        crate::fs::create_private_dir(dir).map_err(CertError::io(dir))?;
    }
    // Two processes opening a fresh folder at once would each mint a root and one would overwrite the
    // other's files: the whole look-create-load step runs under an exclusive lock on the folder, so the
    // second process waits and then loads what the first wrote.
    let _lock = lock_dir(dir)?;
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for role in CaRole::ALL {
        let (cert, key) = paths(dir, *role);
        for p in [cert, key] {
            if exists(&p)? {
                present.push(p);
            } else {
                missing.push(p);
            }
        }
    }
    match (present.is_empty(), missing.into_iter().next()) {
        (true, _) => create(dir, options),
        (false, None) => load(dir),
        (false, Some(missing)) => Err(CertError::IncompleteStore { missing }),
    }
}

/// The exclusive lock on a CA folder, held while the returned file is open.
fn lock_dir(dir: &Path) -> Result<std::fs::File, CertError> {
    let path = dir.join(".lock");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path).map_err(CertError::io(&path))?;
    file.lock().map_err(CertError::io(&path))?;
    Ok(file)
}

fn create(dir: &Path, options: &FactoryOptions) -> Result<Factory, CertError> {
    let factory = Factory::ephemeral_with(options)?;
    for role in CaRole::ALL {
        let authority = factory.authority(*role);
        let (cert, key) = paths(dir, *role);
        write_file(&key, authority.key_pem().as_bytes(), true)?;
        write_file(&cert, authority.cert_pem().as_bytes(), false)?;
    }
    tracing::info!(dir = %dir.display(), "created lab certificate authorities");
    Ok(factory)
}

fn corrupt(path: &Path, reason: impl Into<String>) -> CertError {
    CertError::CorruptFile {
        path: path.to_path_buf(),
        reason: reason.into(),
        source: None,
    }
}

fn load_one(dir: &Path, role: CaRole, parent: Option<&Authority>) -> Result<Authority, CertError> {
    let (cert_path, key_path) = paths(dir, role);
    let cert_text = crate::fs::read_regular_text(&cert_path, crate::fs::MAX_INPUT_FILE)
        .map_err(CertError::io(&cert_path))?;
    let cert_pem = pem::parse(&cert_text).map_err(|e| CertError::CorruptFile {
        path: cert_path.clone(),
        reason: "not a PEM certificate".into(),
        source: Some(Box::new(e)),
    })?;
    if cert_pem.tag() != "CERTIFICATE" {
        return Err(corrupt(
            &cert_path,
            format!("PEM block is {:?}, expected CERTIFICATE", cert_pem.tag()),
        ));
    }
    let cert = CertificateDer::from(cert_pem.into_contents());
    let info = crate::inspect(&cert).map_err(|e| CertError::CorruptFile {
        path: cert_path.clone(),
        reason: "not an X.509 certificate".into(),
        source: Some(Box::new(e)),
    })?;
    let key_text = crate::fs::read_regular_text(&key_path, crate::fs::MAX_INPUT_FILE)
        .map_err(CertError::io(&key_path))?;
    warn_if_open(&key_path);
    let key = KeyPair::from_pem(&key_text).map_err(|e| CertError::CorruptFile {
        path: key_path.clone(),
        reason: "not a PKCS#8 private key".into(),
        source: Some(Box::new(e)),
    })?;
    let spki = spki_of(&cert).ok_or_else(|| corrupt(&cert_path, "no public key"))?;
    if spki != key.subject_public_key_info() {
        return Err(corrupt(
            &key_path,
            format!("key does not match the certificate {}", cert_path.display()),
        ));
    }
    if !info.is_ca {
        return Err(corrupt(&cert_path, "certificate is not a CA"));
    }
    Authority::from_parts(cert, key, parent).map_err(|e| CertError::CorruptFile {
        path: cert_path,
        reason: "unusable as an issuer".into(),
        source: Some(Box::new(e)),
    })
}

fn spki_of(cert: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, x509) = x509_parser::certificate::X509Certificate::from_der(cert).ok()?;
    Some(x509.public_key().raw.to_vec())
}

fn warn_if_open(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "CA key file is readable by others; chmod 600 it");
            }
        }
    }
    let _ = path;
}

fn load(dir: &Path) -> Result<Factory, CertError> {
    let lab = load_one(dir, CaRole::Lab, None)?;
    let intermediate = load_one(dir, CaRole::Intermediate, Some(&lab))?;
    let inspection = load_one(dir, CaRole::Inspection, None)?;
    let untrusted = load_one(dir, CaRole::Untrusted, None)?;
    let connector = load_one(dir, CaRole::ConnectorRegistration, None)?;
    Ok(Factory::from_authorities([
        lab,
        intermediate,
        inspection,
        untrusted,
        connector,
    ]))
}
