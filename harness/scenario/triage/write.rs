//! Writing the scenario that reproduces a triage verdict: the lab of the catalog's scenario for that
//! cause, filled in with what the customer's files say (their thumbprint, their NPS rows, their event
//! text, their proxy's schemes and realm, their bypass list). The text is checked by the scenario loader
//! before it is returned, so what `egresslab run` gets always loads.

use serde_json::{json, Value};

use super::read::Folder;
use super::verdict::Verdict;
use super::TriageError;
use crate::check::artifacts::netsh::Netsh;
use crate::check::taxonomy;

/// The connector's cloud endpoint, as in the catalog.
fn cloud(client_auth: bool) -> Value {
    let mut tls = json!({ "profile": "valid" });
    if client_auth {
        tls["client_auth"] = json!("connector-registration");
    }
    json!([{ "name": "cloud", "hosts": ["*.msappproxy.net"], "port": 443, "tls": tls }])
}

fn probes() -> Value {
    json!([{ "url": "https://connector-sample.msappproxy.net/" }])
}

/// Every text the folder pasted or logged (for header lines such as Proxy-Authenticate).
fn texts(folder: &Folder) -> impl Iterator<Item = &str> {
    folder
        .explained
        .iter()
        .map(|e| e.text.as_str())
        .chain(folder.events.iter().map(|(_, t)| t.as_str()))
}

/// The schemes and realm a pasted 407 answer offered (`Proxy-Authenticate:` lines); Basic when none.
fn offered_auth(folder: &Folder) -> (Vec<String>, Option<String>) {
    let mut schemes: Vec<String> = Vec::new();
    let mut realm = None;
    for line in texts(folder).flat_map(str::lines) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().trim_start_matches(['<', ' ']);
        if !name.eq_ignore_ascii_case("proxy-authenticate") {
            continue;
        }
        let value = value.trim();
        let scheme = value
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if ["basic", "ntlm", "negotiate"].contains(&scheme.as_str()) && !schemes.contains(&scheme) {
            schemes.push(scheme.clone());
        }
        if scheme == "basic" {
            realm = value
                .split_once("realm=\"")
                .and_then(|(_, r)| r.split('"').next())
                .map(str::to_string);
        }
    }
    if schemes.is_empty() {
        schemes.push("basic".into());
    }
    (schemes, realm)
}

fn bypass_on_local(folder: &Folder) -> bool {
    folder
        .service
        .as_ref()
        .and_then(|(_, c)| c.default_proxy.as_ref())
        .and_then(|dp| dp.bypass_on_local)
        .unwrap_or(false)
}

/// The inner EAP method of a ProfileXML: EAP type 26 is MSCHAPv2, anything else is taken as a certificate.
fn inner_method(raw: &str) -> &'static str {
    let squashed: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = squashed.to_ascii_lowercase();
    if lower.contains(":type>26<") || lower.contains("<type>26<") || lower.contains("mschapv2") {
        "mschapv2"
    } else {
        "tls"
    }
}

/// The body of the scenario for a verdict, or why there is none.
fn body(folder: &Folder, verdict: &Verdict) -> Result<Value, TriageError> {
    let not = |why: &str| TriageError::NotReproducible {
        code: verdict.code.clone(),
        why: why.to_string(),
    };
    Ok(match verdict.code.as_str() {
        "proxy.auth_required" => {
            let (schemes, realm) = offered_auth(folder);
            let mut auth = json!({ "schemes": schemes, "users": { "svc": "fill-in-a-password" } });
            if let Some(r) = realm {
                auth["realm"] = json!(r);
            }
            json!({
                "endpoint": cloud(false),
                "proxy": [{ "name": "corp", "auth": auth }],
                "client": {
                    "proxy": "corp",
                    "probes": probes(),
                    "artifacts": { "exe_config": { "proxy": "corp", "bypass_on_local": bypass_on_local(folder) } },
                },
            })
        }
        "config.netsh_overrides" => {
            let bypass = match &folder.netsh {
                Some((_, Netsh::Proxy { bypass, .. })) => bypass.clone(),
                _ => return Err(not("the folder has no netsh output that sets a proxy")),
            };
            json!({
                "endpoint": cloud(false),
                "proxy": [{ "name": "corp" }, { "name": "winhttp" }],
                "client": {
                    "proxy": "winhttp",
                    "probes": probes(),
                    "artifacts": {
                        "exe_config": { "proxy": "corp", "bypass_on_local": bypass_on_local(folder) },
                        "netsh": { "proxy": "winhttp", "bypass": bypass },
                    },
                },
            })
        }
        "config.trust.thumbprint_missing" => {
            let Some((_, t)) = &folder.trust else {
                return Err(not("the folder has no TrustSettings.xml"));
            };
            json!({
                "endpoint": cloud(false),
                "client": {
                    "client_cert": { "profile": "connector-client" },
                    "probes": probes(),
                    "artifacts": { "trust_settings": { "thumbprint": t.thumbprint, "is_in_user_store": t.is_in_user_store } },
                },
            })
        }
        "event.trust_cert_expired" => {
            let events: Vec<&str> = folder
                .explained
                .iter()
                .filter(|e| {
                    e.candidates
                        .first()
                        .is_some_and(|c| c.diagnosis.code == verdict.code)
                })
                .map(|e| e.text.as_str())
                .collect();
            json!({
                "endpoint": cloud(true),
                "client": {
                    "client_cert": { "profile": "expired", "hosts": ["connector.egresslab.test"] },
                    "probes": probes(),
                    "artifacts": { "event_log": events },
                },
            })
        }
        "vpn.auth_mismatch" => {
            if folder.nps_rows.is_empty() {
                return Err(not("the folder has no NPS log rows"));
            }
            let method = folder
                .vpn_profile
                .as_ref()
                .map(|(_, _, raw)| inner_method(raw))
                .unwrap_or("mschapv2");
            let host = "vpn.egresslab.test";
            json!({
                "endpoint": [{ "name": "sstp", "hosts": [host], "port": 443, "tls": { "profile": "valid" } }],
                "udp": [
                    { "name": "ike", "host": host, "port": 500, "behaviour": "ike-responder" },
                    { "name": "ike-nat-t", "host": host, "port": 4500, "behaviour": "ike-responder" },
                ],
                "client": {
                    "probes": [{ "ike": host }, { "vpn_server": host }, { "machine_certificate": ["ike-machine"] }],
                    "artifacts": {
                        "vpn_profile": { "server": host, "inner_method": method },
                        "nps_log": folder.nps_rows,
                    },
                },
            })
        }
        _ => {
            return Err(not(
                "egresslab writes reproductions for proxy.auth_required, config.netsh_overrides, \
                 config.trust.thumbprint_missing, event.trust_cert_expired and vpn.auth_mismatch",
            ))
        }
    })
}

fn to_toml(doc: &Value, verdict: &Verdict) -> Result<String, TriageError> {
    toml::Value::try_from(doc)
        .and_then(|v| toml::to_string(&v))
        .map_err(|e| TriageError::NotReproducible {
            code: verdict.code.clone(),
            why: format!("the scenario does not serialise: {e}"),
        })
}

/// The scenario text (TOML) named `name` that reproduces `verdict`, checked by the scenario loader.
pub fn scenario(name: &str, folder: &Folder, verdict: &Verdict) -> Result<String, TriageError> {
    let mut doc = body(folder, verdict)?;
    let seed = taxonomy::lookup(&verdict.code)
        .map(|d| d.source.clone())
        .unwrap_or_default();
    doc["expect"] = json!({ "diagnoses": [verdict.code] });
    let head = json!({ "scenario": {
        "name": name,
        "summary": format!("Reproduces a customer folder: {}", verdict.summary),
        "seed": seed,
        "tags": ["triage"],
    }});
    let text = format!(
        "# Written by `egresslab triage`; run it with `egresslab run {name}.toml`.\n{}\n{}",
        to_toml(&head, verdict)?,
        to_toml(&doc, verdict)?
    );
    crate::scenario::load_str(&format!("{name}.toml"), &text).map_err(|e| {
        TriageError::NotReproducible {
            code: verdict.code.clone(),
            why: format!("the written scenario does not load: {e}"),
        }
    })?;
    Ok(text)
}
