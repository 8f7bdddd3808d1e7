//! A customer's PAC file added to an imported scenario: served as written on WPAD, and the
//! simulated client told to use it, so the checks' PAC engine evaluates the customer's own script
//! (bounded in time: a script that never returns is the `proxy.pac_timeout` diagnosis).

/// The WPAD host name the imported scenario serves the PAC file on.
pub const WPAD_HOST: &str = "wpad.corp.test";

/// Why a PAC file cannot be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PacImportError {
    /// The scenario text is not TOML (it did not come from the importer).
    #[error("the scenario to add the PAC file to does not parse: {0}")]
    Scenario(String),
    /// The PAC file is empty or not text.
    #[error("{file}: the PAC file is empty (a FindProxyForURL function expected)")]
    Empty {
        /// The PAC file.
        file: String,
    },
}

/// Add `script` (from `file`) to `scenario`: a `wpad` endpoint serving it as-is on
/// `http://wpad.corp.test/wpad.dat`, and the client set to `proxy = "pac"`.
///
/// ```
/// use egresslab::scenario::import::{pac, squid};
/// let imported = squid::import("http_access allow all\n", std::path::Path::new(".")).unwrap();
/// let script = "function FindProxyForURL(url, host) { return \"DIRECT\"; }";
/// let text = pac::add_pac(&imported.scenario, script, "wpad.dat").unwrap();
/// let loaded = egresslab::scenario::load_str("s.toml", &text).unwrap();
/// assert!(loaded.plan.endpoints.iter().any(|e| e.name == "wpad"));
/// ```
pub fn add_pac(scenario: &str, script: &str, file: &str) -> Result<String, PacImportError> {
    if script.trim().is_empty() {
        return Err(PacImportError::Empty {
            file: file.to_owned(),
        });
    }
    let mut table: toml::Table = scenario
        .parse()
        .map_err(|e: toml::de::Error| PacImportError::Scenario(e.message().to_owned()))?;
    let mut endpoint = toml::Table::new();
    endpoint.insert("name".into(), "wpad".into());
    endpoint.insert("hosts".into(), vec![WPAD_HOST].into());
    endpoint.insert("port".into(), toml::Value::Integer(80));
    endpoint.insert("behaviour".into(), "pac".into());
    let mut pac = toml::Table::new();
    pac.insert("script".into(), script.into());
    endpoint.insert("pac".into(), pac.into());
    let endpoints = table
        .entry("endpoint")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    if let toml::Value::Array(list) = endpoints {
        list.push(endpoint.into());
    }
    let client = table
        .entry("client")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(client) = client {
        client.insert("proxy".into(), "pac".into());
    }
    let header: String = scenario
        .lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let body = toml::to_string(&table).map_err(|e| PacImportError::Scenario(e.to_string()))?;
    Ok(format!(
        "{header}# The PAC file {file} is served as written on http://{WPAD_HOST}/wpad.dat.\n\n{body}"
    ))
}
