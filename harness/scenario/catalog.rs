//! The built-in scenario catalog (embedded from scenarios/ at build time) and scenario look-up by id,
//! file or folder.

use std::path::Path;

use super::error::ScenarioError;
use super::expand::Expanded;
use super::load::{load_file, load_str};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// One built-in scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Path under `scenarios/`, e.g. `tls/tls-expired.toml`.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

impl CatalogEntry {
    /// The id: the file name without `.toml`.
    pub fn id(&self) -> &'static str {
        let name = self.path.rsplit('/').next().unwrap_or(self.path);
        name.strip_suffix(".toml").unwrap_or(name)
    }

    /// The field: the folder under `scenarios/`.
    pub fn field(&self) -> &'static str {
        self.path.split_once('/').map_or("", |(field, _)| field)
    }

    /// Load the scenario; errors name `scenarios/<path>`.
    pub fn load(&self) -> Result<Expanded, ScenarioError> {
        load_str(&format!("scenarios/{}", self.path), self.text)
    }
}

/// The built-in catalog.
#[derive(Debug, Clone, Copy, Default)]
pub struct Catalog;

impl Catalog {
    /// Every built-in scenario, sorted by path.
    pub fn entries() -> impl Iterator<Item = CatalogEntry> {
        embedded::CATALOG
            .iter()
            .map(|(path, text)| CatalogEntry { path, text })
    }

    /// The built-in scenario with this id.
    pub fn get(id: &str) -> Option<CatalogEntry> {
        Catalog::entries().find(|entry| entry.id() == id)
    }

    /// Load every built-in scenario.
    pub fn load_all() -> Result<Vec<Expanded>, ScenarioError> {
        Catalog::entries().map(|entry| entry.load()).collect()
    }
}

/// Find scenarios by file path, folder (every `*.toml` below it, sorted) or catalog id.
pub fn find(query: &str) -> Result<Vec<Expanded>, ScenarioError> {
    let path = Path::new(query);
    if path.is_file() {
        return Ok(vec![load_file(path)?]);
    }
    if path.is_dir() {
        let mut files = Vec::new();
        collect(path, &mut files).map_err(|source| ScenarioError::Read {
            file: path.to_owned(),
            source,
        })?;
        files.sort();
        return load_folder(&files);
    }
    let id = query.strip_suffix(".toml").unwrap_or(query);
    let id = id.rsplit('/').next().unwrap_or(id);
    match Catalog::get(id) {
        Some(entry) => Ok(vec![entry.load()?]),
        None => Err(ScenarioError::NotFound {
            query: query.to_owned(),
        }),
    }
}

/// Load every file; report every bad file and every id two files share, not only the first.
fn load_folder(files: &[std::path::PathBuf]) -> Result<Vec<Expanded>, ScenarioError> {
    let mut loaded: Vec<Expanded> = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for file in files {
        match load_file(file) {
            Ok(scenario) => {
                if let Some(first) = loaded.iter().find(|other| other.id == scenario.id) {
                    errors.push(ScenarioError::DuplicateScenario {
                        id: scenario.id.clone(),
                        first: first.source.clone(),
                        second: scenario.source.clone(),
                    });
                } else {
                    loaded.push(scenario);
                }
            }
            Err(error) => errors.push(error),
        }
    }
    match errors.len() {
        0 => Ok(loaded),
        1 => Err(errors.remove(0)),
        _ => Err(ScenarioError::Several { errors }),
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_file_loads_and_is_named_after_its_file() {
        let entries: Vec<CatalogEntry> = Catalog::entries().collect();
        assert!(entries.len() >= 55, "only {} catalog files", entries.len());
        for entry in entries {
            let scenario = entry.load().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scenario.id, entry.id(), "{}", entry.path);
            assert!(!scenario.tags.is_empty(), "{} has no tags", entry.path);
            assert!(
                !scenario.seed.is_empty() && !scenario.summary.is_empty(),
                "{}",
                entry.path
            );
            assert!(
                ["entra-connector", "always-on-vpn", "tls", "proxy", "ipv6"]
                    .contains(&entry.field()),
                "{} is in an unknown field",
                entry.path
            );
        }
    }

    #[test]
    fn the_catalog_matches_the_scenarios_folder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut files = Vec::new();
        collect(&root, &mut files).expect("scenarios folder");
        let mut on_disk: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(&root)
                    .expect("below root")
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = Catalog::entries().map(|e| e.path.to_owned()).collect();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn every_row_of_the_table_has_a_file() {
        let ids = [
            "connector-healthy-direct",
            "connector-healthy-proxy",
            "port-443-filtered",
            "port-443-refused",
            "port-80-blocked",
            "signin-unreachable",
            "tls12-blocked",
            "sha512-blocked",
            "client-cert-expired",
            "trust-settings-mismatch",
            "tls-inspection",
            "inspection-breaks-client-auth",
            "proxy-auth-required",
            "proxy-denies-domain",
            "proxy-denies-port-80",
            "proxy-bad-gateway",
            "proxy-bad-gateway-squid",
            "proxy-down",
            "proxy-bypassed-but-required",
            "wpad-pac",
            "wpad-pac-dead-proxy",
            "netsh-overrides",
            "servicebus-tcp-fallback",
            "name-unresolved",
            "backend-timeout",
            "backend-via-forward-proxy",
            "untrusted-root",
            "registration-errors",
            "vpn-healthy",
            "vpn-ike-blocked",
            "vpn-server-unreachable",
            "vpn-no-server-auth-eku",
            "vpn-server-cert-expired",
            "vpn-untrusted-root",
            "vpn-name-mismatch",
            "vpn-no-machine-cert",
            "vpn-auth-mismatch",
            "vpn-conditional-access",
            "tls-expired",
            "tls-not-yet-valid",
            "tls-wrong-host",
            "tls-self-signed",
            "tls-untrusted-root",
            "tls-incomplete-chain",
            "tls-revoked",
            "tls12-server-tls13-client",
            "tls13-server-tls12-client",
            "client-cert-missing",
            "client-cert-healthy",
            "proxy-chained",
            "proxy-https",
            "proxy-closes-after-connect",
            "proxy-slow",
            "proxy-garbage",
            "tls-healthy",
            "proxy-healthy",
            "backend-slow-link",
            "backend-link-healthy",
            "registration-bandwidth-starved",
            "registration-link-healthy",
            "proxy-flapping",
            "proxy-tunnels-healthy",
            "vpn-ike-lossy",
        ];
        for id in ids {
            assert!(Catalog::get(id).is_some(), "no catalog file for `{id}`");
        }
    }

    #[test]
    fn find_accepts_ids_and_paths() {
        assert_eq!(find("tls-expired").expect("by id")[0].id, "tls-expired");
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/tls/tls-expired.toml"
        );
        assert_eq!(find(path).expect("by path")[0].id, "tls-expired");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/always-on-vpn");
        assert_eq!(find(dir).expect("by folder").len(), 11);
        assert!(matches!(
            find("no-such-scenario"),
            Err(ScenarioError::NotFound { .. })
        ));
    }
}
