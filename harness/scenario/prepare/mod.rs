//! Completing a scenario's client once its lab is up, one job a module:
//!
//! - [`client`]: the client profile — proxy, trust roots, client certificate, the name mapping, DNS,
//!   artifact files — that the checks and an external command both use;
//! - [`connect`]: the typed name mapping (`--connect-to`) and the only places it becomes curl's text;
//! - [`env`]: the environment and `.curlrc` of an external command (docs/exec-contract.md);
//! - [`ready`]: the ready file of `egresslab up`.
//!
//! Every file written here is owner-only (0600, folders 0700).

pub mod client;
pub mod connect;
pub mod env;
pub mod ready;

use std::path::PathBuf;

pub use client::{legitimate_issuers, prepare, ClientProfile};
pub use connect::concrete_connect_to;
pub use env::{curl_command, exec_env, openssl_command, target_url};
pub use ready::{ready_json, ReadyFile};

/// Why a scenario's client could not be completed, or its files written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// A file or folder could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A certificate could not be minted.
    #[error("cannot mint a `{profile}` certificate for the client")]
    Mint {
        /// The certificate profile.
        profile: String,
        /// The factory's error.
        #[source]
        source: egresslab_certs::CertError,
    },
    /// PEM text the lab gave could not be read back.
    #[error("cannot read the {what} back")]
    Pem {
        /// Which PEM (`trust bundle`).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: std::io::Error,
    },
    /// The ready file's path holds something other than a regular file (a device, a FIFO, a folder, a
    /// symbolic link); it is never replaced.
    #[error("refusing to write the ready file {path}: it exists and is not a regular file")]
    NotARegularFile {
        /// The path given.
        path: PathBuf,
    },
}

/// `path` and the I/O error, as a [`PrepareError::Write`].
pub(crate) fn write_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PrepareError {
    let path = path.into();
    move |source| PrepareError::Write { path, source }
}
