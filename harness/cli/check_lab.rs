//! `egresslab check --ready-file F` and `--from-env`: the client of a running lab (`egresslab up`),
//! read back from the ready file it wrote or the `export` lines it printed, so that the checks meet
//! the lab as its simulated client does (proxy, trust, name mapping, client certificate, DNS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use egresslab::check::{ConnectTo, ProxyAuthKind, ProxySetting};
use serde_json::Value;

/// What a running lab tells a client: everything but the proxy password, which `up` never writes
/// or prints (give it with `--proxy-user`).
#[derive(Debug)]
pub struct LabClient {
    /// How the client finds its proxy.
    pub proxy: ProxySetting,
    /// The proxy user name and scheme, when the scenario's client has credentials.
    pub proxy_auth: Option<(String, ProxyAuthKind)>,
    /// PEM of the CAs the client trusts.
    pub trust: PathBuf,
    /// PEM files of the intermediates the client already holds.
    pub intermediates: Vec<PathBuf>,
    /// Issuers the client expects on the service's certificates.
    pub expected_issuers: Vec<String>,
    /// The client certificate chain and key.
    pub client_files: Option<(PathBuf, PathBuf)>,
    /// Where each lab name really listens.
    pub connect_to: Vec<ConnectTo>,
    /// The lab DNS server.
    pub dns: Option<SocketAddr>,
    /// The URL the lab points clients at (`EGRESSLAB_URL`).
    pub url: Option<String>,
}

/// Parse `HOST:PORT:ADDR:PORT`, ADDR an IPv4 address or an IPv6 one with or without brackets.
pub fn parse_connect_to(s: &str) -> anyhow::Result<ConnectTo> {
    let (host, rest) = s.split_once(':').context("expected HOST:PORT:ADDR:PORT")?;
    let (port, rest) = rest
        .split_once(':')
        .context("expected HOST:PORT:ADDR:PORT")?;
    let address: SocketAddr = match rest.parse() {
        Ok(address) => address,
        Err(_) => {
            let (ip, real_port) = rest
                .rsplit_once(':')
                .with_context(|| format!("{rest:?} is not ADDR:PORT"))?;
            let ip: std::net::IpAddr = ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .with_context(|| format!("{rest:?} is not ADDR:PORT"))?;
            let real_port: u16 = real_port
                .parse()
                .with_context(|| format!("{rest:?} is not ADDR:PORT"))?;
            SocketAddr::new(ip, real_port)
        }
    };
    Ok(ConnectTo {
        host: host.to_string(),
        port: port.parse().context("bad PORT")?,
        address,
    })
}

/// Read the ready file `up --ready-file` wrote. Every problem names the file and the field.
pub fn from_ready_file(path: &Path) -> anyhow::Result<LabClient> {
    let text = egresslab_certs::fs::read_regular_text(path, egresslab_certs::fs::MAX_INPUT_FILE)
        .with_context(|| format!("--ready-file {}: cannot read it", path.display()))?;
    let json: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "--ready-file {}: not the JSON `egresslab up --ready-file` writes",
            path.display()
        )
    })?;
    let fields = Fields { path, json: &json };
    let client = fields.object("client")?;
    let proxy = match client.get("proxy") {
        Some(Value::String(s)) if s == "direct" => ProxySetting::Direct,
        Some(Value::Object(kind)) => match (kind.get("url"), kind.get("pac"), kind.get("wpad")) {
            (Some(Value::String(url)), _, _) => ProxySetting::Url(url.clone()),
            (_, Some(Value::String(url)), _) => ProxySetting::Pac(url.clone()),
            (_, _, Some(Value::String(suffix))) => ProxySetting::Wpad {
                suffix: suffix.clone(),
            },
            _ => return Err(fields.wrong("client.proxy", "{\"url\"|\"pac\"|\"wpad\": STRING}")),
        },
        _ => {
            return Err(fields.wrong(
                "client.proxy",
                "\"direct\" or {\"url\"|\"pac\"|\"wpad\": STRING}",
            ))
        }
    };
    let proxy_auth = match (client.get("proxy_user"), client.get("proxy_auth")) {
        (Some(Value::String(user)), Some(Value::String(kind))) => {
            let kind = ProxyAuthKind::from_name(kind)
                .ok_or_else(|| fields.wrong("client.proxy_auth", "basic, ntlm or digest"))?;
            Some((user.clone(), kind))
        }
        (None | Some(Value::Null), _) => None,
        _ => {
            return Err(fields.wrong(
                "client.proxy_user",
                "a user name with client.proxy_auth, or null",
            ))
        }
    };
    let strings = |field: &str, value: Option<&Value>| -> anyhow::Result<Vec<String>> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| fields.wrong(field, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(fields.wrong(field, "a list of strings")),
        }
    };
    let connect_to = strings("connect_to", json.get("connect_to"))?
        .iter()
        .map(|c| {
            parse_connect_to(c)
                .map_err(|e| fields.wrong("connect_to", &format!("HOST:PORT:ADDR:PORT ({e})")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client_files = match (
        fields.path_or_null("client_cert")?,
        fields.path_or_null("client_key")?,
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(fields.wrong("client_key", "set exactly when client_cert is")),
    };
    let dns = match json.get("dns") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse()
                .map_err(|_| fields.wrong("dns", "ADDRESS:PORT or null"))?,
        ),
        Some(_) => return Err(fields.wrong("dns", "ADDRESS:PORT or null")),
    };
    let url = json
        .get("env")
        .and_then(|env| env.get("EGRESSLAB_URL"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(LabClient {
        proxy,
        proxy_auth,
        trust: fields.path("ca_bundle")?,
        intermediates: strings("client.intermediates", client.get("intermediates"))?
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        expected_issuers: strings("client.expected_issuers", client.get("expected_issuers"))?,
        client_files,
        connect_to,
        dns,
        url,
    })
}

/// The ready file's fields, each error naming the file and the field.
struct Fields<'a> {
    path: &'a Path,
    json: &'a Value,
}

impl Fields<'_> {
    fn wrong(&self, field: &str, expected: &str) -> anyhow::Error {
        let found = field
            .split('.')
            .try_fold(self.json, |value, key| value.get(key))
            .map_or("nothing".to_owned(), |v| match v {
                Value::Null => "null".to_owned(),
                Value::String(s) => format!("{s:?}"),
                other => other.to_string().chars().take(60).collect(),
            });
        anyhow::anyhow!(
            "--ready-file {}: field `{field}`: expected {expected}, found {found}",
            self.path.display()
        )
    }

    fn object(&self, field: &str) -> anyhow::Result<&serde_json::Map<String, Value>> {
        self.json
            .get(field)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                self.wrong(
                    field,
                    "an object (a ready file of this egresslab version: restart `up`)",
                )
            })
    }

    fn path(&self, field: &str) -> anyhow::Result<PathBuf> {
        self.path_or_null(field)?
            .ok_or_else(|| self.wrong(field, "a file path"))
    }

    fn path_or_null(&self, field: &str) -> anyhow::Result<Option<PathBuf>> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(PathBuf::from(s))),
            Some(_) => Err(self.wrong(field, "a file path or null")),
        }
    }
}

/// Read the variables `egresslab up` printed as `export` lines (and `--exec` sets).
pub fn from_env() -> anyhow::Result<LabClient> {
    from_vars(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
}

fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<LabClient> {
    let trust = var("EGRESSLAB_CA_BUNDLE").context(
        "--from-env: EGRESSLAB_CA_BUNDLE is not set; paste the `export` lines `egresslab up` printed first",
    )?;
    let proxy = if let Some(url) = var("EGRESSLAB_PROXY") {
        ProxySetting::Url(url)
    } else if let Some(url) = var("EGRESSLAB_PAC_URL") {
        ProxySetting::Pac(url)
    } else if let Some(suffix) = var("EGRESSLAB_WPAD_SUFFIX") {
        ProxySetting::Wpad { suffix }
    } else {
        ProxySetting::Direct
    };
    let proxy_auth = match (var("EGRESSLAB_PROXY_USER"), var("EGRESSLAB_PROXY_AUTH")) {
        (Some(user), Some(kind)) => {
            let kind = ProxyAuthKind::from_name(&kind).with_context(|| {
                format!("--from-env: EGRESSLAB_PROXY_AUTH={kind:?}: expected basic, ntlm or digest")
            })?;
            Some((user, kind))
        }
        _ => None,
    };
    let connect_to = var("EGRESSLAB_CONNECT_TO")
        .unwrap_or_default()
        .split_whitespace()
        .map(|c| {
            parse_connect_to(c)
                .with_context(|| format!("--from-env: EGRESSLAB_CONNECT_TO value {c:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client_files = match (var("EGRESSLAB_CLIENT_CERT"), var("EGRESSLAB_CLIENT_KEY")) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        _ => bail!("--from-env: EGRESSLAB_CLIENT_CERT and EGRESSLAB_CLIENT_KEY go together; one is not set"),
    };
    let dns = var("EGRESSLAB_DNS")
        .map(|d| {
            d.parse()
                .with_context(|| format!("--from-env: EGRESSLAB_DNS={d:?}: expected ADDRESS:PORT"))
        })
        .transpose()?;
    let expected_issuers = match var("EGRESSLAB_EXPECTED_ISSUERS") {
        Some(json) => serde_json::from_str::<Vec<String>>(&json).with_context(|| {
            format!(
                "--from-env: EGRESSLAB_EXPECTED_ISSUERS={json:?}: expected a JSON list of names"
            )
        })?,
        None => Vec::new(),
    };
    Ok(LabClient {
        proxy,
        proxy_auth,
        trust: PathBuf::from(trust),
        intermediates: var("EGRESSLAB_INTERMEDIATES")
            .map(PathBuf::from)
            .into_iter()
            .collect(),
        expected_issuers,
        client_files,
        connect_to,
        dns,
        url: var("EGRESSLAB_URL"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_takes_v4_and_v6_with_or_without_brackets() {
        let v4 = parse_connect_to("a.test:443:127.0.0.1:4000").unwrap();
        assert_eq!(v4.address, "127.0.0.1:4000".parse().unwrap());
        let v6 = parse_connect_to("a.test:443:[::1]:4000").unwrap();
        assert_eq!(v6.address, "[::1]:4000".parse().unwrap());
        let bare = parse_connect_to("a.test:443:::1:4000").unwrap();
        assert_eq!(bare.address, "[::1]:4000".parse().unwrap());
        assert!(parse_connect_to("a.test:443").is_err());
    }

    #[test]
    fn env_without_the_bundle_says_what_to_do() {
        let error = from_vars(|_| None).unwrap_err().to_string();
        assert!(error.contains("EGRESSLAB_CA_BUNDLE"), "{error}");
    }

    #[test]
    fn a_ready_file_field_of_the_wrong_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        std::fs::write(
            &path,
            r#"{"client": {"proxy": "direct"}, "ca_bundle": 7, "connect_to": []}"#,
        )
        .unwrap();
        let error = from_ready_file(&path).unwrap_err().to_string();
        assert!(error.contains("ready.json"), "{error}");
        assert!(error.contains("`ca_bundle`"), "{error}");
        assert!(error.contains("found 7"), "{error}");
    }
}
