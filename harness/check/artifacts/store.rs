//! A folder of certificates (PEM, DER `.cer`/`.crt`, PKCS#12 `.pfx`/`.p12`), as a stand-in for a Windows
//! certificate store.

use std::path::{Path, PathBuf};

use super::error::ArtifactError;
use crate::check::verify::certinfo::{self, CertFacts};

/// One certificate found in a folder.
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// The file it came from.
    pub path: PathBuf,
    /// DER bytes.
    pub der: Vec<u8>,
    /// Its facts.
    pub facts: CertFacts,
}

/// Read every certificate in `dir` (not recursive). PFX files are opened with `pfx_password` (or empty).
pub fn load_dir(dir: &Path, pfx_password: Option<&str>) -> Result<Vec<StoredCert>, ArtifactError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ArtifactError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let bytes =
            egresslab_certs::fs::read_regular_file(&path, egresslab_certs::fs::MAX_INPUT_FILE)
                .map_err(|source| ArtifactError::Io {
                    path: path.clone(),
                    source,
                })?;
        for der in certificates_in(&path, &bytes, pfx_password) {
            if let Some(facts) = certinfo::facts(&der) {
                out.push(StoredCert {
                    path: path.clone(),
                    der,
                    facts,
                });
            }
        }
    }
    Ok(out)
}

/// The DER certificates in one file's bytes, whatever its format (unreadable files yield none).
pub fn certificates_in(path: &Path, bytes: &[u8], pfx_password: Option<&str>) -> Vec<Vec<u8>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "pfx" || ext == "p12" {
        return match p12_keystore::KeyStore::from_pkcs12(bytes, pfx_password.unwrap_or("")) {
            Ok(ks) => ks
                .entries()
                .flat_map(|(_, e)| match e {
                    p12_keystore::KeyStoreEntry::Certificate(c) => vec![c.as_der().to_vec()],
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(k) => k
                        .chain()
                        .iter()
                        .take(1)
                        .map(|c| c.as_der().to_vec())
                        .collect(),
                    _ => vec![],
                })
                .collect(),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = ?e, "PFX does not open");
                vec![]
            }
        };
    }
    if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return pem::parse_many(bytes)
            .map(|v| {
                v.into_iter()
                    .filter(|p| p.tag() == "CERTIFICATE")
                    .map(|p| p.contents().to_vec())
                    .collect()
            })
            .unwrap_or_default();
    }
    if bytes.first() == Some(&0x30) {
        return vec![bytes.to_vec()];
    }
    vec![]
}
