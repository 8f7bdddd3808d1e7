//! squid.conf → scenario: the directives the lab models become a `[[proxy]]` with Squid's access
//! lists; every other directive is listed as ignored with its file and line.
//!
//! Modelled: `http_port` (the first; `ssl-bump` turns interception on), `acl` (the types of
//! [`ACL_TYPES`](crate::lab::ACL_TYPES), values from a quoted file too, Squid's predefined ACLs),
//! `http_access`, `deny_info`, `auth_param` (scheme order and realm; a user table to fill in),
//! `cache_peer ... parent`, `never_direct allow all`, `always_direct`, `ssl_bump` (splice lists
//! become hosts tunnelled blind), `connect_timeout`, `request_start_timeout`,
//! `request_header_max_size`, `client_ip_max_connections`, `visible_hostname` and `include` (globs in the
//! last path component, nested at most [`MAX_INCLUDE_DEPTH`] deep).

use std::path::Path;

#[cfg(test)]
use crate::lab::AclKind;
use crate::lab::{parse_acl, BUILTIN_ACLS};

use super::reader::{strip_comment, Directive, Reader};

mod write;
use crate::scenario::convert_access::parse_deny_page;

/// How deep `include` may nest (Squid itself stops at 16): a file including itself is an error.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// The password written for every user of the imported user table.
pub const PLACEHOLDER_PASSWORD: &str = "change-me";

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The scenario, as TOML text that `egresslab run` loads.
    pub scenario: String,
    /// The name of the imported proxy in the scenario.
    pub proxy: String,
    /// The port of the first `http_port`, as written.
    pub http_port: Option<u16>,
    /// The parent of `cache_peer ... parent` as written (host, HTTP port).
    pub parent: Option<(String, u16)>,
    /// Directives (and options) the lab does not model, in file order.
    pub ignored: Vec<Ignored>,
}

/// A directive or option that was read but is not modelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The file it is in.
    pub file: String,
    /// Its line (1-based).
    pub line: usize,
    /// The directive's name (`cache_dir`, `http_port option intercept`, ...).
    pub directive: String,
    /// Why it is not modelled.
    pub reason: String,
}

/// A squid.conf that cannot be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A directive that cannot be read as Squid would.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// `include` nested too deep (a file including itself, directly or not).
    #[error("{file}:{line}: include nested deeper than {MAX_INCLUDE_DEPTH} files (does it include itself?)")]
    IncludeDepth {
        /// The file.
        file: String,
        /// The line of the `include`.
        line: usize,
    },
    /// More files or lines than one import reads.
    #[error(
        "{file}:{line}: more than {} files or {} lines in all",
        super::reader::MAX_FILES,
        super::reader::MAX_LINES
    )]
    TooLarge {
        /// The file.
        file: String,
        /// The line reached.
        line: usize,
    },
}

/// Import a squid.conf given as text; `include` and quoted ACL files are read relative to
/// `base_dir`. The file is named `squid.conf` in errors.
///
/// ```
/// use egresslab::scenario::import::squid::import;
/// let conf = "acl SSL_ports port 443\nacl CONNECT method CONNECT\n\
///             http_access deny CONNECT !SSL_ports\nhttp_access allow all\ncache_mem 64 MB\n";
/// let imported = import(conf, std::path::Path::new(".")).unwrap();
/// assert!(imported.scenario.contains("http_access"));
/// assert_eq!(imported.ignored[0].line, 5);
/// assert!(import("http_access allow nosuch\n", std::path::Path::new(".")).is_err());
/// ```
pub fn import(text: &str, base_dir: &Path) -> Result<Import, ImportError> {
    import_named(text, "squid.conf", base_dir, "imported-squid")
}

/// Import the squid.conf at `path`; the scenario is named after the file.
pub fn import_file(path: &Path) -> Result<Import, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        file: path.display().to_string(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .map(sanitize)
        .unwrap_or_else(|| "imported-squid".to_owned());
    import_named(&text, &path.display().to_string(), base, &stem)
}

/// Import `text` (named `file` in errors) as the scenario `name`.
pub fn import_named(
    text: &str,
    file: &str,
    base_dir: &Path,
    name: &str,
) -> Result<Import, ImportError> {
    let mut reader = Reader::default();
    reader.read(text, file, base_dir, 0)?;
    let mut conf = Conf::default();
    for directive in &reader.directives {
        conf.apply(directive)?;
    }
    conf.finish(name)
}

/// What the directives say, gathered.
#[derive(Default)]
struct Conf {
    /// ACLs in definition order: name, type, values, where defined.
    acls: Vec<(String, String, Vec<String>, usize)>,
    http_access: Vec<(bool, Vec<String>)>,
    always_direct: Vec<(bool, Vec<String>)>,
    deny_info: Vec<(String, Vec<String>)>,
    schemes: Vec<String>,
    realm: Option<String>,
    http_port: Option<u16>,
    bump: bool,
    splice: Vec<String>,
    parent: Option<(String, u16)>,
    never_direct_all: bool,
    connect_timeout_ms: Option<u64>,
    /// `request_start_timeout`, the lab's `header_timeout_ms`.
    header_timeout_ms: Option<u64>,
    /// `request_header_max_size`, the lab's `max_head_bytes`.
    max_head_bytes: Option<u64>,
    /// `client_ip_max_connections`, as the lab's `max_connections`.
    max_connections: Option<u64>,
    visible_hostname: Option<String>,
    ignored: Vec<Ignored>,
    /// Where the first `cache_peer` was written, for the note on `never_direct`.
    parent_at: Option<Directive>,
    /// ACLs of types the lab does not model (listed as ignored; usable only by `ssl_bump`).
    unmodelled: Vec<String>,
}

impl Conf {
    fn apply(&mut self, d: &Directive) -> Result<(), ImportError> {
        let args = &d.words[1..];
        match d.words[0].as_str() {
            "acl" => self.acl(d, args),
            "http_access" => {
                let line = self.access_line(d, args)?;
                self.http_access.push(line);
                Ok(())
            }
            "always_direct" => {
                let line = self.access_line(d, args)?;
                self.always_direct.push(line);
                Ok(())
            }
            "never_direct" => {
                let line = self.access_line(d, args)?;
                if line.0 && line.1 == ["all"] {
                    self.never_direct_all = true;
                } else {
                    self.ignored.push(d.ignored(
                        "never_direct",
                        "only `never_direct allow all` is modelled (the parent for every request)",
                    ));
                }
                Ok(())
            }
            "deny_info" => {
                let [page, acls @ ..] = args else {
                    return Err(d.invalid("a page and at least one ACL name expected"));
                };
                if acls.is_empty() {
                    return Err(d.invalid("at least one ACL name expected after the page"));
                }
                if parse_deny_page(page).is_none() {
                    return Err(d.invalid(format!(
                        "{page:?} is not an error page name, TCP_RESET or 3xx:URL"
                    )));
                }
                for acl in acls {
                    self.known(d, acl)?;
                }
                let acls: Vec<String> = acls
                    .iter()
                    .filter(|a| !self.unmodelled.contains(a))
                    .cloned()
                    .collect();
                if !acls.is_empty() {
                    self.deny_info.push((page.clone(), acls));
                }
                Ok(())
            }
            "auth_param" => self.auth_param(d, args),
            "http_port" => self.http_port(d, args),
            "cache_peer" => self.cache_peer(d, args),
            "ssl_bump" => self.ssl_bump(d, args),
            "connect_timeout" => {
                self.connect_timeout_ms = Some(duration_ms(d, args)?);
                Ok(())
            }
            "request_start_timeout" => {
                self.header_timeout_ms = Some(duration_ms(d, args)?.max(1));
                Ok(())
            }
            "request_header_max_size" => {
                self.max_head_bytes = Some(size_bytes(d, args)?);
                Ok(())
            }
            "client_ip_max_connections" => {
                let expected = "a number of connections expected";
                let n: i64 = args
                    .first()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| d.invalid(expected))?;
                // Squid admits one connection more than the number (its count leaves out the
                // connection being accepted; tests/real_squid_differential.rs); -1, its default,
                // is no limit.
                if n >= 0 {
                    self.max_connections = Some(n as u64 + 1);
                }
                Ok(())
            }
            "read_timeout" => {
                duration_ms(d, args)?;
                self.ignored.push(d.ignored(
                    "read_timeout",
                    "the lab's proxy has no idle-read time-out (a tunnel stays open)",
                ));
                Ok(())
            }
            "visible_hostname" => {
                self.visible_hostname = args.first().cloned();
                Ok(())
            }
            other => {
                self.ignored
                    .push(d.ignored(other, "not modelled by the lab"));
                Ok(())
            }
        }
    }

    fn acl(&mut self, d: &Directive, args: &[String]) -> Result<(), ImportError> {
        let [name, kind, values @ ..] = args else {
            return Err(d.invalid("a name and a type expected: acl NAME TYPE VALUES..."));
        };
        if !crate::lab::ACL_TYPES.contains(&kind.as_str()) {
            if !self.unmodelled.contains(name) {
                self.unmodelled.push(name.clone());
            }
            self.ignored.push(d.ignored(
                format!("acl {name} {kind}"),
                "ACL type not modelled; an http_access line using it cannot be imported",
            ));
            return Ok(());
        }
        let mut read = Vec::new();
        for value in values {
            match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(file) => read.extend(values_file(d, file)?),
                None => read.push(value.clone()),
            }
        }
        if let Some(existing) = self.acls.iter_mut().find(|a| a.0 == *name) {
            if existing.1 != *kind {
                return Err(d.invalid(format!(
                    "ACL {name} was defined with type {} on line {}, not {kind}",
                    existing.1, existing.3
                )));
            }
            existing.2.extend(read);
        } else {
            self.acls.push((name.clone(), kind.clone(), read, d.line));
        }
        let Some(acl) = self.acls.iter().find(|a| a.0 == *name) else {
            return Ok(());
        };
        parse_acl(kind, &acl.2).map_err(|error| d.invalid(error.to_string()))?;
        Ok(())
    }

    /// An ACL name as used on a line: defined, or one of Squid's predefined ACLs (defined now).
    fn known(&mut self, d: &Directive, name: &str) -> Result<(), ImportError> {
        if self.acls.iter().any(|a| a.0 == name) || self.unmodelled.iter().any(|a| a == name) {
            return Ok(());
        }
        match BUILTIN_ACLS.iter().find(|(n, _, _)| *n == name) {
            Some((n, kind, values)) => {
                let values = values.iter().map(|v| (*v).to_owned()).collect();
                self.acls
                    .push(((*n).to_owned(), (*kind).to_owned(), values, 0));
                Ok(())
            }
            None => Err(d.invalid(format!(
                "ACL {name:?} is not defined (Squid refuses to start on this line)"
            ))),
        }
    }

    fn access_line(
        &mut self,
        d: &Directive,
        args: &[String],
    ) -> Result<(bool, Vec<String>), ImportError> {
        let [action, acls @ ..] = args else {
            return Err(d.invalid("allow or deny expected"));
        };
        let allow = match action.as_str() {
            "allow" => true,
            "deny" => false,
            other => return Err(d.invalid(format!("{other:?}: allow or deny expected"))),
        };
        for acl in acls {
            let name = acl.trim_start_matches('!');
            self.known(d, name)?;
            if self.unmodelled.iter().any(|a| a == name) {
                return Err(d.invalid(format!(
                    "ACL {name:?} is of a type the lab does not model ({}), so this line cannot be reproduced",
                    "see the ignored list"
                )));
            }
        }
        Ok((allow, acls.to_vec()))
    }

    fn auth_param(&mut self, d: &Directive, args: &[String]) -> Result<(), ImportError> {
        let [scheme, parameter, rest @ ..] = args else {
            return Err(d.invalid("a scheme and a parameter expected"));
        };
        if !matches!(scheme.as_str(), "basic" | "digest" | "ntlm" | "negotiate") {
            return Err(d.invalid(format!(
                "scheme {scheme:?}: basic, digest, ntlm or negotiate expected"
            )));
        }
        if !self.schemes.contains(scheme) {
            self.schemes.push(scheme.clone());
        }
        match parameter.as_str() {
            "realm" if scheme == "basic" || scheme == "digest" => {
                if self.realm.is_none() || scheme == "basic" {
                    self.realm = Some(rest.join(" "));
                }
            }
            "program" => self.ignored.push(d.ignored(
                format!("auth_param {scheme} program"),
                "the lab checks Basic against the scenario's user table (fill in the passwords); \
                 it offers digest, NTLM and Negotiate but never accepts them",
            )),
            other => self.ignored.push(d.ignored(
                format!("auth_param {scheme} {other}"),
                "not modelled by the lab",
            )),
        }
        Ok(())
    }

    fn http_port(&mut self, d: &Directive, args: &[String]) -> Result<(), ImportError> {
        let Some(address) = args.first() else {
            return Err(d.invalid("a port or address:port expected"));
        };
        let port_text = address.rsplit(':').next().unwrap_or(address);
        let port: u16 = port_text
            .parse()
            .map_err(|_| d.invalid(format!("{address:?}: a port or address:port expected")))?;
        if self.http_port.is_some() {
            self.ignored.push(d.ignored(
                "http_port",
                "a second listening port: the lab's proxy listens on one",
            ));
            return Ok(());
        }
        self.http_port = Some(port);
        for option in &args[1..] {
            let key = option.split('=').next().unwrap_or(option);
            match key {
                "ssl-bump" => self.bump = true,
                "cert"
                | "key"
                | "generate-host-certificates"
                | "dynamic_cert_mem_cache_size"
                | "tls-cert"
                | "tls-key"
                | "name" => {}
                _ => self.ignored.push(d.ignored(
                    format!("http_port option {key}"),
                    "not modelled: the lab's proxy is a plain forward proxy on loopback",
                )),
            }
        }
        Ok(())
    }

    fn cache_peer(&mut self, d: &Directive, args: &[String]) -> Result<(), ImportError> {
        let [host, kind, port, _icp, options @ ..] = args else {
            return Err(d.invalid("cache_peer HOST TYPE HTTP-PORT ICP-PORT [options] expected"));
        };
        if kind != "parent" || self.parent.is_some() {
            self.ignored.push(d.ignored(
                format!("cache_peer {kind}"),
                "only the first parent is modelled (the lab chains to one parent)",
            ));
            return Ok(());
        }
        let port: u16 = port
            .parse()
            .map_err(|_| d.invalid(format!("{port:?}: an HTTP port expected")))?;
        self.parent = Some((host.clone(), port));
        self.parent_at = Some(d.clone());
        for option in options {
            let key = option.split('=').next().unwrap_or(option);
            if !matches!(key, "no-query" | "default" | "name" | "no-digest") {
                self.ignored.push(d.ignored(
                    format!("cache_peer option {key}"),
                    "not modelled: the lab sends CONNECT and requests to the parent as they came",
                ));
            }
        }
        Ok(())
    }

    fn ssl_bump(&mut self, d: &Directive, args: &[String]) -> Result<(), ImportError> {
        let [action, acls @ ..] = args else {
            return Err(d.invalid("an action (peek, stare, splice, bump, terminate) expected"));
        };
        for acl in acls {
            self.known(d, acl.trim_start_matches('!'))?;
        }
        match action.as_str() {
            "peek" | "stare" => {}
            "bump" | "client-first" | "server-first" => self.bump = true,
            "splice" | "none" => {
                let mut listed = false;
                for acl in acls.iter().filter(|a| !a.starts_with('!')) {
                    let Some((_, kind, values, _)) = self.acls.iter().find(|a| a.0 == *acl) else {
                        continue;
                    };
                    if matches!(kind.as_str(), "ssl::server_name" | "dstdomain") {
                        self.splice
                            .extend(values.iter().filter(|v| !v.starts_with('-')).cloned());
                        listed = true;
                    }
                }
                if !listed && !acls.iter().all(|a| a == "all") {
                    self.ignored.push(d.ignored(
                        "ssl_bump splice",
                        "only splice lists of ssl::server_name or dstdomain ACLs are modelled",
                    ));
                }
            }
            "terminate" => self.ignored.push(d.ignored(
                "ssl_bump terminate",
                "the lab has no terminate action: those connections are intercepted",
            )),
            other => {
                return Err(d.invalid(format!(
                    "{other:?}: peek, stare, splice, bump or terminate expected"
                )))
            }
        }
        Ok(())
    }
}

/// Values of a quoted ACL file: one or more per line, `#` comments and blank lines skipped.
fn values_file(d: &Directive, file: &str) -> Result<Vec<String>, ImportError> {
    let path = d.base.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| ImportError::Read {
        file: format!("{} (named at {}:{})", path.display(), d.file, d.line),
        source,
    })?;
    Ok(text
        .lines()
        .flat_map(|l| {
            strip_comment(l)
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect())
}

/// `N [units]` (Squid's time values) in milliseconds.
/// A squid.conf size (`64 KB`, `2 MB`, `512 bytes`) in bytes.
fn size_bytes(d: &Directive, args: &[String]) -> Result<u64, ImportError> {
    let expected = "a size such as `64 KB` expected";
    let Some(number) = args.first() else {
        return Err(d.invalid(expected));
    };
    let value: u64 = number
        .parse()
        .map_err(|_| d.invalid(format!("{number:?}: {expected}")))?;
    let unit = args.get(1).map(String::as_str).unwrap_or("bytes");
    let scale = match unit.to_ascii_uppercase().as_str() {
        "BYTES" | "BYTE" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return Err(d.invalid(format!("unit {unit:?}: {expected}"))),
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| d.invalid(format!("{number} {unit}: {expected}")))
}

fn duration_ms(d: &Directive, args: &[String]) -> Result<u64, ImportError> {
    let expected = "a time such as `30 seconds` expected";
    let Some(number) = args.first() else {
        return Err(d.invalid(expected));
    };
    let value: f64 = number
        .parse()
        .map_err(|_| d.invalid(format!("{number:?}: {expected}")))?;
    let unit = args.get(1).map(String::as_str).unwrap_or("seconds");
    let scale = match unit.trim_end_matches('s') {
        "millisecond" | "msec" => 1.0,
        "second" | "sec" => 1_000.0,
        "minute" | "min" => 60_000.0,
        "hour" => 3_600_000.0,
        "day" => 86_400_000.0,
        _ => return Err(d.invalid(format!("unit {unit:?}: {expected}"))),
    };
    let ms = value * scale;
    if !(0.0..=86_400_000.0 * 365.0).contains(&ms) {
        return Err(d.invalid(format!("{number} {unit}: {expected}")));
    }
    Ok(ms as u64)
}

/// A scenario id made from free text: lower case, `-` for anything else.
fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "imported-squid".to_owned()
    } else {
        out
    }
}

/// The ignored directives, one per line (`file:line directive: reason`).
pub fn ignored_report(ignored: &[Ignored]) -> String {
    ignored
        .iter()
        .map(|i| format!("{}:{} {}: {}\n", i.file, i.line, i.directive, i.reason))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_continuations_and_unknown_directives() {
        let conf = "acl Safe_ports port 80\t\t# http\nacl Safe_ports port \\\n 443\n\
                    http_access deny !Safe_ports\nhttp_access allow localhost\nrefresh_pattern . 0 0 0\n";
        let imported = import(conf, Path::new(".")).unwrap();
        assert_eq!(imported.ignored.len(), 1);
        assert_eq!(imported.ignored[0].line, 6);
        assert_eq!(imported.ignored[0].directive, "refresh_pattern");
        let loaded = crate::scenario::load_str("imported.toml", &imported.scenario).unwrap();
        let access = loaded.plan.proxies[0].access.clone().unwrap();
        assert_eq!(
            access.acl("Safe_ports").unwrap().kind,
            AclKind::Port(vec![(80, 80), (443, 443)])
        );
        assert!(access.acl("localhost").is_some());
    }

    #[test]
    fn the_proxy_limits_carry_over() {
        let conf = "http_access allow all\nrequest_start_timeout 2 seconds\n\
                    request_header_max_size 8 KB\nclient_ip_max_connections 4\n";
        let imported = import(conf, Path::new(".")).unwrap();
        assert!(imported.ignored.is_empty(), "{:?}", imported.ignored);
        let loaded = crate::scenario::load_str("imported.toml", &imported.scenario).unwrap();
        let proxy = &loaded.plan.proxies[0];
        assert_eq!(proxy.header_timeout, std::time::Duration::from_secs(2));
        assert_eq!(proxy.max_head_bytes, 8 * 1024);
        assert_eq!(
            proxy.max_connections, 5,
            "Squid admits one more than its number"
        );
        let error = import("request_header_max_size 8 parsecs\n", Path::new(".")).unwrap_err();
        assert!(error.to_string().starts_with("squid.conf:1:"), "{error}");
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let error = import("acl x port http\n", Path::new(".")).unwrap_err();
        assert!(
            error.to_string().starts_with("squid.conf:1: acl:"),
            "{error}"
        );
        let error = import("\nhttp_access permit all\n", Path::new(".")).unwrap_err();
        assert!(error.to_string().starts_with("squid.conf:2:"), "{error}");
        let error = import("acl a src 10.0.0.0/8\nacl a port 80\n", Path::new(".")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("defined with type src on line 1"),
            "{error}"
        );
    }

    #[test]
    fn include_loops_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loop.conf"), "include loop.conf\n").unwrap();
        let error = import("include loop.conf\n", dir.path()).unwrap_err();
        assert!(matches!(error, ImportError::IncludeDepth { .. }), "{error}");
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/a.conf"),
            "acl a dstdomain .a.test\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/b.conf"), "http_access deny a\n").unwrap();
        let imported =
            import("include conf.d/*.conf\nhttp_access allow all\n", dir.path()).unwrap();
        assert!(imported.scenario.contains(".a.test"));
    }

    #[test]
    fn ssl_bump_splice_lists_become_hosts_tunnelled_blind() {
        let conf = "http_port 3128 ssl-bump cert=/etc/squid/ca.pem\nacl step1 at_step SslBump1\n\
                    acl pinned ssl::server_name .msappproxy.net\nssl_bump peek step1\n\
                    ssl_bump splice pinned\nssl_bump bump all\nhttp_access allow all\n";
        let imported = import(conf, Path::new(".")).unwrap();
        let loaded = crate::scenario::load_str("i.toml", &imported.scenario).unwrap();
        let intercept = loaded.plan.proxies[0].intercept.clone().unwrap();
        assert_eq!(
            intercept.passthrough,
            ["msappproxy.net", "*.msappproxy.net"]
        );
        assert_eq!(imported.ignored[0].line, 2);
        // An http_access line on an ACL type the lab does not model cannot be reproduced.
        let error = import(
            "acl t time 08:00-17:00\nhttp_access allow t\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("squid.conf:2:"), "{error}");
    }

    #[test]
    fn durations_and_wildcards() {
        let d = Directive {
            file: "f".into(),
            line: 1,
            words: vec!["connect_timeout".into()],
            base: std::path::PathBuf::new(),
        };
        assert_eq!(
            duration_ms(&d, &["30".into(), "seconds".into()]).unwrap(),
            30_000
        );
        assert_eq!(
            duration_ms(&d, &["2".into(), "minutes".into()]).unwrap(),
            120_000
        );
        assert!(duration_ms(&d, &["x".into()]).is_err());
        assert!(super::super::reader::wildcard("*.conf", "debian.conf"));
        assert!(!super::super::reader::wildcard("*.conf", "debian.conf~"));
    }
}
