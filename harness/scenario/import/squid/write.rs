//! Writing the scenario: what the directives gathered, as `[[proxy]]` tables with Squid's access
//! lists, a parent, origins the lab can sign for, a client and its probe.

use super::{sanitize, Conf, Import, ImportError, PLACEHOLDER_PASSWORD};

impl Conf {
    pub(super) fn finish(mut self, name: &str) -> Result<Import, ImportError> {
        if let (Some(_), false, Some(at)) = (&self.parent, self.never_direct_all, &self.parent_at) {
            self.ignored.push(at.ignored(
                "cache_peer without never_direct",
                "Squid may go direct (it does for CONNECT); the lab always uses the parent",
            ));
        }
        let proxy = self
            .visible_hostname
            .as_deref()
            .map(|h| sanitize(h.split('.').next().unwrap_or(h)))
            .filter(|h| h != "parent")
            .unwrap_or_else(|| "squid".to_owned());
        let uses_auth = self.acls.iter().any(|a| a.1 == "proxy_auth");
        let mut table = toml::Table::new();
        let mut meta = toml::Table::new();
        meta.insert("name".into(), name.into());
        meta.insert(
            "summary".into(),
            format!(
                "A Squid imported from its squid.conf{}: its acl and http_access lines decide",
                self.http_port
                    .map(|p| format!(" (http_port {p})"))
                    .unwrap_or_default()
            )
            .into(),
        );
        meta.insert("seed".into(), "imported squid.conf".into());
        meta.insert("tags".into(), vec!["imported", "squid"].into());
        table.insert("scenario".into(), meta.into());

        let mut p = toml::Table::new();
        p.insert("name".into(), proxy.clone().into());
        let acls: Vec<toml::Value> = self
            .acls
            .iter()
            .map(|(n, kind, values, _)| {
                let mut t = toml::Table::new();
                t.insert("name".into(), n.clone().into());
                t.insert("type".into(), kind.clone().into());
                t.insert("values".into(), values.clone().into());
                t.into()
            })
            .collect();
        p.insert("acl".into(), acls.into());
        p.insert("http_access".into(), lines(&self.http_access).into());
        if !self.always_direct.is_empty() {
            p.insert("always_direct".into(), lines(&self.always_direct).into());
        }
        if !self.deny_info.is_empty() {
            let infos: Vec<toml::Value> = self
                .deny_info
                .iter()
                .map(|(page, acls)| {
                    let mut t = toml::Table::new();
                    t.insert("page".into(), page.clone().into());
                    t.insert("acls".into(), acls.clone().into());
                    t.into()
                })
                .collect();
            p.insert("deny_info".into(), infos.into());
        }
        let mut users = toml::Table::new();
        if uses_auth || !self.schemes.is_empty() {
            let mut auth = toml::Table::new();
            let schemes: Vec<String> = if self.schemes.is_empty() {
                vec!["basic".to_owned()]
            } else {
                self.schemes.clone()
            };
            auth.insert("schemes".into(), schemes.into());
            auth.insert(
                "realm".into(),
                self.realm
                    .clone()
                    .unwrap_or_else(|| "Squid proxy-caching web server".to_owned())
                    .into(),
            );
            for (_, kind, values, _) in &self.acls {
                if kind == "proxy_auth" {
                    for user in values.iter().filter(|v| *v != "REQUIRED" && *v != "-i") {
                        users.insert(user.clone(), PLACEHOLDER_PASSWORD.into());
                    }
                }
            }
            if users.is_empty() {
                users.insert("user".into(), PLACEHOLDER_PASSWORD.into());
            }
            auth.insert("users".into(), users.clone().into());
            p.insert("auth".into(), auth.into());
        }
        if self.bump {
            let mut intercept = toml::Table::new();
            let passthrough: Vec<String> = self.splice.iter().flat_map(|d| patterns(d)).collect();
            intercept.insert("passthrough".into(), passthrough.into());
            p.insert("intercept".into(), intercept.into());
        }
        if self.parent.is_some() {
            p.insert("upstream".into(), "parent".into());
        }
        let limits = [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("header_timeout_ms", self.header_timeout_ms),
            ("max_head_bytes", self.max_head_bytes),
            ("max_connections", self.max_connections),
        ];
        for (key, value) in limits {
            if let Some(value) = value {
                p.insert(key.into(), toml::Value::Integer(value as i64));
            }
        }
        let mut proxies = vec![toml::Value::from(p)];
        if self.parent.is_some() {
            let mut parent = toml::Table::new();
            parent.insert("name".into(), "parent".into());
            proxies.push(parent.into());
        }
        table.insert("proxy".into(), proxies.into());

        // One TLS origin per dstdomain value the lab's CA may vouch for (its root is
        // name-constrained), so the client has something real at the end of an allowed tunnel.
        let mut endpoints = Vec::new();
        let mut hosts: Vec<String> = Vec::new();
        for (_, _, values, _) in self
            .acls
            .iter()
            .filter(|a| a.1 == "dstdomain" || a.1 == "ssl::server_name")
        {
            for value in values {
                let list: Vec<String> = patterns(value)
                    .into_iter()
                    .filter(|h| !hosts.contains(h) && lab_may_sign(h))
                    .collect();
                if list.is_empty() {
                    continue;
                }
                hosts.extend(list.iter().cloned());
                let mut endpoint = toml::Table::new();
                endpoint.insert(
                    "name".into(),
                    format!("origin-{}", endpoints.len() + 1).into(),
                );
                endpoint.insert("hosts".into(), list.into());
                endpoint.insert("port".into(), toml::Value::Integer(443));
                let mut tls = toml::Table::new();
                tls.insert("profile".into(), "valid".into());
                endpoint.insert("tls".into(), tls.into());
                endpoints.push(toml::Value::from(endpoint));
            }
        }
        if !endpoints.is_empty() {
            table.insert("endpoint".into(), endpoints.into());
        }
        let mut client = toml::Table::new();
        client.insert("proxy".into(), proxy.clone().into());
        if let Some((user, password)) = users.iter().next() {
            let mut credentials = toml::Table::new();
            credentials.insert("user".into(), user.clone().into());
            credentials.insert("password".into(), password.clone());
            client.insert("proxy_credentials".into(), credentials.into());
        }
        table.insert("client".into(), client.into());
        // A proxy that works as configured: edit to the verdict the customer's case shows.
        let mut expect = toml::Table::new();
        expect.insert("healthy".into(), true.into());
        table.insert("expect".into(), expect.into());
        // The probe: the first origin the imported access lists let the client reach.
        let user = users.keys().next().cloned();
        if let Some(url) = first_allowed(&table, &hosts, user) {
            let mut probe = toml::Table::new();
            probe.insert("url".into(), url.into());
            if let Some(toml::Value::Table(client)) = table.get_mut("client") {
                client.insert("probes".into(), vec![toml::Value::from(probe)].into());
            }
        }

        let body = toml::to_string(&table).map_err(|error| ImportError::Invalid {
            file: "squid.conf".into(),
            line: 0,
            message: format!("the scenario could not be written: {error}"),
        })?;
        let users_note = if users.is_empty() {
            String::new()
        } else {
            format!(
                "# The user table under [proxy.auth.users] holds placeholder passwords \
                 ({PLACEHOLDER_PASSWORD:?}):\n# fill in the real ones.\n"
            )
        };
        let header = format!(
            "# Written by `egresslab import` from a squid.conf; {} directive(s) were not\n\
             # modelled (the import lists them with their lines).\n{users_note}\n",
            self.ignored.len()
        );
        Ok(Import {
            scenario: header + &body,
            proxy,
            http_port: self.http_port,
            parent: self.parent,
            ignored: self.ignored,
        })
    }
}

/// Whether the lab's name-constrained root CA can issue a certificate for `host`.
fn lab_may_sign(host: &str) -> bool {
    let name = host.trim_start_matches("*.");
    egresslab_certs::DEFAULT_PERMITTED_DNS
        .iter()
        .any(|d| name == *d || name.ends_with(&format!(".{d}")))
}

/// `https://HOST/` for the first host (a wildcard sampled as `www`) that the scenario's first
/// proxy allows by CONNECT on 443 from 127.0.0.1 with `user`'s credentials.
fn first_allowed(table: &toml::Table, hosts: &[String], user: Option<String>) -> Option<String> {
    let text = toml::to_string(table).ok()?;
    let loaded = crate::scenario::load_str("import.toml", &text).ok()?;
    let access = loaded.plan.proxies.first()?.access.clone()?;
    hosts.iter().find_map(|pattern| {
        let host = crate::lab::pattern::sample_host(pattern, "www");
        let facts = crate::lab::RequestFacts {
            method: "CONNECT",
            host: &host,
            port: 443,
            client: std::net::IpAddr::from([127, 0, 0, 1]),
            credentials: user.clone().map_or(
                crate::lab::Credentials::Invalid,
                crate::lab::Credentials::Valid,
            ),
        };
        matches!(
            access.decide(&facts, &()),
            crate::lab::Verdict::Allow { .. }
        )
        .then(|| format!("https://{host}/"))
    })
}

/// Access lines as `[[proxy.http_access]]` tables.
fn lines(lines: &[(bool, Vec<String>)]) -> Vec<toml::Value> {
    lines
        .iter()
        .map(|(allow, acls)| {
            let mut t = toml::Table::new();
            t.insert(
                "action".into(),
                if *allow { "allow" } else { "deny" }.into(),
            );
            t.insert("acls".into(), acls.clone().into());
            t.into()
        })
        .collect()
}

/// The lab host patterns of a dstdomain value: `.corp.test` is `corp.test` and `*.corp.test`.
fn patterns(domain: &str) -> Vec<String> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let list = match domain.strip_prefix('.') {
        Some(bare) => vec![bare.to_owned(), format!("*.{bare}")],
        None => vec![domain],
    };
    list.into_iter()
        .filter(|p| crate::lab::pattern::is_host_pattern(p))
        .collect()
}
