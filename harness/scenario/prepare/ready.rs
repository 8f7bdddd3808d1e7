//! The ready file of `egresslab up` (a stable contract, see docs/exec-contract.md): its JSON, and a
//! writer that never replaces or deletes anything but the regular file this process wrote.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use egresslab_certs::CaRole;
use serde_json::json;

use crate::check::ProxySetting;
use crate::lab::Lab;

use super::super::expand::Expanded;
use super::client::ClientProfile;
use super::connect::curl_connect_to;
use super::{write_error, PrepareError};

/// The ready file's JSON: proxies, endpoints, CA files (and whether they are the persisted CA
/// folder's), the client's proxy, files and credentials scheme, DNS, UDP, name mapping, env.
pub fn ready_json(
    scenario: &Expanded,
    client: &ClientProfile,
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
            let file = lab.ca_file(*role);
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
    let connect_to: Vec<String> = client.connect_to().iter().map(curl_connect_to).collect();
    let proxy = match &client.config.proxy {
        ProxySetting::Direct => json!("direct"),
        ProxySetting::Url(url) => json!({ "url": url }),
        ProxySetting::Pac(url) => json!({ "pac": url }),
        ProxySetting::Wpad { suffix } => json!({ "wpad": suffix }),
    };
    let credentials = client.config.proxy_credentials.as_ref();
    let intermediates: Vec<String> = if client.config.intermediates.is_empty() {
        Vec::new()
    } else {
        vec![lab.ca_file(CaRole::Intermediate).display().to_string()]
    };
    // What `egresslab check --ready-file` needs beyond the files: never the password.
    let client_view = json!({
        "proxy": proxy,
        "proxy_user": credentials.map(|(user, _)| user),
        "proxy_auth": credentials.map(|_| client.config.proxy_auth.name()),
        "intermediates": intermediates,
        "expected_issuers": client.config.expected_issuers,
    });
    json!({
        "scenario": scenario.id,
        "proxies": proxies,
        "endpoints": endpoints,
        "cas": cas,
        "ca": if lab.ca_dir().is_some() { "persisted" } else { "ephemeral" },
        "ca_dir": lab.ca_dir().map(|d| d.display().to_string()),
        "ca_bundle": client.trust_bundle.display().to_string(),
        "client": client_view,
        "client_cert": client.client_files.as_ref().map(|(c, _)| c.display().to_string()),
        "client_key": client.client_files.as_ref().map(|(_, k)| k.display().to_string()),
        "dns": lab.dns_address().map(|a| a.to_string()),
        "udp": udp,
        "connect_to": connect_to,
        "env": env,
    })
}

/// A written ready file. It appears whole (written beside the path, owner-only, then renamed), only
/// where nothing but a regular file stood, and is removed on drop only while it is still the file
/// written — a device, FIFO, folder or link at the path, or a file put there since, is left alone.
#[derive(Debug)]
pub struct ReadyFile {
    path: PathBuf,
    /// (device, inode) of the file written.
    written: (u64, u64),
    /// Held open so that its inode cannot be reused by a file put at the path later.
    _file: std::fs::File,
}

impl ReadyFile {
    /// Write `ready` (pretty JSON) to `path`, refusing a path that holds anything but a regular file.
    pub fn write(path: &Path, ready: &serde_json::Value) -> Result<ReadyFile, PrepareError> {
        refuse_special(path)?;
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut partial = tempfile::Builder::new()
            .prefix(".egresslab-ready-")
            .suffix(".partial")
            .tempfile_in(parent)
            .map_err(write_error(parent))?;
        let text = serde_json::to_string_pretty(ready).unwrap_or_else(|_| ready.to_string());
        std::io::Write::write_all(partial.as_file_mut(), text.as_bytes())
            .map_err(write_error(partial.path()))?;
        let metadata = partial
            .as_file()
            .metadata()
            .map_err(write_error(partial.path()))?;
        // Checked again just before the rename, which is what would replace a special file.
        refuse_special(path)?;
        let file = partial
            .persist(path)
            .map_err(|error| write_error(path)(error.error))?;
        Ok(ReadyFile {
            path: path.to_owned(),
            written: (metadata.dev(), metadata.ino()),
            _file: file,
        })
    }

    /// Where the ready file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the ready file now (as dropping it does).
    pub fn remove(self) {}
}

impl Drop for ReadyFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_file() && (m.dev(), m.ino()) == self.written => {
                if let Err(error) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), %error, "cannot remove the ready file");
                }
            }
            Ok(_) => tracing::warn!(
                path = %self.path.display(),
                "the ready file was replaced by something else; leaving it"
            ),
            Err(_) => {}
        }
    }
}

fn refuse_special(path: &Path) -> Result<(), PrepareError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.file_type().is_file() => Err(PrepareError::NotARegularFile {
            path: path.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(write_error(path)(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_special_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("ready.json");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = ReadyFile::write(&fifo, &json!({})).expect_err("refused");
        assert!(
            matches!(error, PrepareError::NotARegularFile { .. }),
            "{error}"
        );
        let kind = std::fs::symlink_metadata(&fifo).expect("still there");
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind.file_type()));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    #[test]
    fn the_file_is_removed_only_while_it_is_the_one_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "stale").expect("stale file");
        let ready = ReadyFile::write(&path, &json!({"scenario": "x"})).expect("written");
        assert_eq!(super::super::super::files::mode(&path), 0o600);
        ready.remove();
        assert!(!path.exists());

        let ready = ReadyFile::write(&path, &json!({"scenario": "x"})).expect("written");
        std::fs::remove_file(&path).expect("removed by someone else");
        std::fs::write(&path, "someone else's").expect("replaced");
        drop(ready);
        assert_eq!(
            std::fs::read_to_string(&path).expect("kept"),
            "someone else's"
        );
    }
}
