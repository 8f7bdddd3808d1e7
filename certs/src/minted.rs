//! Minted certificates and their exports (PEM, DER, PKCS#12).

use std::io::Write;
use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha1::{Digest, Sha1};

use crate::{CertError, CertInfo};

/// A certificate signed by an authority, without its private key (the result of signing a CSR).
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// Leaf first, then every intermediate; never the root.
    pub full_chain: Vec<CertificateDer<'static>>,
    /// The trust anchor the chain ends at.
    pub root: CertificateDer<'static>,
}

impl IssuedCert {
    /// The end-entity certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.full_chain[0]
    }

    /// What the leaf says about itself.
    pub fn info(&self) -> Result<CertInfo, CertError> {
        crate::inspect(self.leaf())
    }

    /// The full chain (leaf first) as concatenated PEM blocks.
    pub fn chain_pem(&self) -> String {
        certs_pem(&self.full_chain)
    }
}

/// A minted certificate with its private key and both chains a lab server may need.
#[derive(Debug)]
pub struct Minted {
    /// Leaf first: exactly what a TLS server sends (`IncompleteChain` withholds the intermediate).
    pub served_chain: Vec<CertificateDer<'static>>,
    /// Leaf first, then every intermediate; never the root.
    pub full_chain: Vec<CertificateDer<'static>>,
    /// The trust anchor the chain ends at (for `SelfSigned`, the leaf itself).
    pub root: CertificateDer<'static>,
    /// The leaf's private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Minted {
    fn clone(&self) -> Self {
        Minted {
            served_chain: self.served_chain.clone(),
            full_chain: self.full_chain.clone(),
            root: self.root.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// The files [`Minted::write_to`] produced.
#[derive(Debug, Clone)]
pub struct WrittenFiles {
    /// `<stem>.pem`: the leaf certificate.
    pub leaf_pem: PathBuf,
    /// `<stem>-chain.pem`: the served chain, leaf first.
    pub chain_pem: PathBuf,
    /// `<stem>.key`: the private key, PKCS#8 PEM, mode 0600.
    pub key_pem: PathBuf,
    /// `<stem>.cer`: the leaf in DER, as Windows expects.
    pub cer: PathBuf,
    /// `<stem>.pfx`: PKCS#12 with key, leaf, intermediates and root.
    pub pfx: PathBuf,
    /// `<stem>-root.pem`: the trust anchor.
    pub root_pem: PathBuf,
}

impl Minted {
    pub(crate) fn new(issued: IssuedCert, key: PrivateKeyDer<'static>, serve_full: bool) -> Minted {
        let served_chain = if serve_full {
            issued.full_chain.clone()
        } else {
            issued.full_chain[..1].to_vec()
        };
        Minted {
            served_chain,
            full_chain: issued.full_chain,
            root: issued.root,
            key,
        }
    }

    /// The end-entity certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.full_chain[0]
    }

    /// What the leaf says about itself.
    pub fn info(&self) -> Result<CertInfo, CertError> {
        crate::inspect(self.leaf())
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn key_pem(&self) -> String {
        to_pem("PRIVATE KEY", self.key.secret_der())
    }

    /// The leaf alone as PEM.
    pub fn leaf_pem(&self) -> String {
        to_pem("CERTIFICATE", self.leaf())
    }

    /// The served chain (leaf first) as PEM: what a server's certificate file should hold.
    pub fn chain_pem(&self) -> String {
        certs_pem(&self.served_chain)
    }

    /// The full chain (leaf and every intermediate) as PEM.
    pub fn full_chain_pem(&self) -> String {
        certs_pem(&self.full_chain)
    }

    /// The trust anchor as PEM.
    pub fn root_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.root)
    }

    /// A PKCS#12 file (key, leaf, intermediates, root) protected by `password`, encrypted with
    /// PBES2/AES-256-CBC and MAC'd with HMAC-SHA256, which OpenSSL 3 and Windows Server 2019+
    /// import.
    pub fn to_pfx(&self, password: &str) -> Result<Vec<u8>, CertError> {
        use p12_keystore::{
            Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm,
            PrivateKeyChain,
        };
        let export_err = |e: p12_keystore::error::Error| CertError::Pkcs12 {
            operation: "export",
            reason: e.to_string(),
        };
        let mut chain = Vec::with_capacity(self.full_chain.len() + 1);
        for der in self
            .full_chain
            .iter()
            .chain(Some(&self.root).filter(|root| self.full_chain.first() != Some(*root)))
        {
            chain.push(Certificate::from_der(der).map_err(export_err)?);
        }
        let local_key_id = Sha1::digest(self.leaf().as_ref());
        let entry = PrivateKeyChain::new(self.key.secret_der(), local_key_id, chain);
        let mut store = KeyStore::new();
        store.add_entry("egresslab", KeyStoreEntry::PrivateKeyChain(entry));
        store
            .writer(password)
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .encryption_iterations(2048)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .mac_iterations(2048)
            .write()
            .map_err(export_err)
    }

    /// Writes `<stem>.pem`, `<stem>-chain.pem`, `<stem>.key` (0600), `<stem>.cer`, `<stem>.pfx`
    /// (protected by `pfx_password`) and `<stem>-root.pem` into `dir`, creating it owner-only (0700)
    /// if needed.
    pub fn write_to(
        &self,
        dir: &Path,
        stem: &str,
        pfx_password: &str,
    ) -> Result<WrittenFiles, CertError> {
        crate::fs::create_private_dir(dir).map_err(CertError::io(dir))?;
        let files = WrittenFiles {
            leaf_pem: dir.join(format!("{stem}.pem")),
            chain_pem: dir.join(format!("{stem}-chain.pem")),
            key_pem: dir.join(format!("{stem}.key")),
            cer: dir.join(format!("{stem}.cer")),
            pfx: dir.join(format!("{stem}.pfx")),
            root_pem: dir.join(format!("{stem}-root.pem")),
        };
        write_file(&files.leaf_pem, self.leaf_pem().as_bytes(), false)?;
        write_file(&files.chain_pem, self.chain_pem().as_bytes(), false)?;
        write_file(&files.key_pem, self.key_pem().as_bytes(), true)?;
        write_file(&files.cer, self.leaf().as_ref(), false)?;
        write_file(&files.pfx, &self.to_pfx(pfx_password)?, true)?;
        write_file(&files.root_pem, self.root_pem().as_bytes(), false)?;
        Ok(files)
    }
}

/// Writes `bytes` to `path`, replacing it; secret files are created owner-only (0600).
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CertError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(CertError::io(path))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(CertError::io(path))?;
    }
    let _ = secret;
    file.write_all(bytes).map_err(CertError::io(path))
}

pub(crate) fn to_pem(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

pub(crate) fn certs_pem(certs: &[CertificateDer<'static>]) -> String {
    certs.iter().map(|c| to_pem("CERTIFICATE", c)).collect()
}
