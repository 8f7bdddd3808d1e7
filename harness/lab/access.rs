//! Squid's access lists, for a proxy imported from a squid.conf: named ACLs, `http_access` lines,
//! `deny_info` pages and `always_direct` lines, decided with Squid's own semantics.
//!
//! A list of lines is read top to bottom and the first line whose ACLs all match decides (ACLs on
//! one line are AND-ed, the values of one ACL OR-ed, `!` negates). When no line matches, the
//! answer is the opposite of the last line's action (deny when there is no line at all). A
//! `proxy_auth` ACL checked without valid credentials ends the check with "authentication
//! required". The error page of a denial is the `deny_info` of the last ACL checked (Squid's
//! `AclMatchedName`), and a denial whose last ACL is a `proxy_auth` one is a 407 challenge, not a
//! 403. These rules were checked against a real Squid 5.7 (tests/real_squid_import.rs).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The Squid access configuration of one proxy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SquidAccess {
    /// Named ACLs; a name defined twice in squid.conf is one ACL whose values are joined.
    pub acls: Vec<Acl>,
    /// `http_access` lines, in order.
    pub http_access: Vec<AccessLine>,
    /// `deny_info` entries, in order.
    pub deny_info: Vec<DenyInfo>,
    /// `always_direct` lines: an allowed request bypasses the parent proxy.
    pub always_direct: Vec<AccessLine>,
}

/// One named ACL.
#[derive(Debug, Clone, PartialEq)]
pub struct Acl {
    /// The ACL's name, as `http_access` lines refer to it.
    pub name: String,
    /// What it matches.
    pub kind: AclKind,
}

/// What an ACL matches; values of one ACL are OR-ed.
#[derive(Debug, Clone, PartialEq)]
pub enum AclKind {
    /// `all`: every request.
    All,
    /// `dstdomain`: `.example.com` matches the name and every name below it, `example.com` only
    /// itself (ASCII case ignored). An IP literal destination is matched by its text, then by its
    /// reverse name unless `no_lookup` (`-n`).
    DstDomain {
        /// Lower-case domains as written.
        domains: Vec<String>,
        /// `-n`: never look up the name of an IP literal.
        no_lookup: bool,
    },
    /// `dstdom_regex`: regular expressions over the destination host name.
    DstDomRegex {
        /// The expressions (`-i` already applied).
        patterns: Vec<SquidRegex>,
        /// `-n`: never look up the name of an IP literal.
        no_lookup: bool,
    },
    /// `dst`: the destination's address (a name is resolved first) is in one of the ranges.
    Dst(Vec<IpRange>),
    /// `src`: the client's address is in one of the ranges.
    Src(Vec<IpRange>),
    /// `port`: the destination port is in one of the inclusive ranges.
    Port(Vec<(u16, u16)>),
    /// `method`: the request method is one of these (upper case).
    Method(Vec<String>),
    /// `proxy_auth`: the client authenticated; `None` is `REQUIRED` (any valid user).
    ProxyAuth(Option<Vec<String>>),
    /// `ssl::server_name`: the TLS server name (the CONNECT host here), matched like `dstdomain`.
    ServerName(Vec<String>),
}

impl AclKind {
    /// Whether checking this ACL needs the client's credentials.
    pub fn is_proxy_auth(&self) -> bool {
        matches!(self, AclKind::ProxyAuth(_))
    }
}

/// The ACL types [`parse_acl`] knows, as squid.conf writes them.
pub const ACL_TYPES: &[&str] = &[
    "all",
    "dstdomain",
    "dstdom_regex",
    "dst",
    "src",
    "port",
    "method",
    "proxy_auth",
    "ssl::server_name",
];

/// Why an ACL's type or values cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// A type the lab does not model.
    #[error("ACL type {kind:?} is not modelled, expected one of {}", ACL_TYPES.join(", "))]
    UnknownType {
        /// The type as written.
        kind: String,
    },
    /// A value that does not fit the type.
    #[error("{value:?} is not a valid {kind} value, expected {expected}")]
    BadValue {
        /// The type.
        kind: String,
        /// The value as written.
        value: String,
        /// What the type takes.
        expected: &'static str,
    },
    /// A flag the type does not take.
    #[error("flag {flag:?} is not supported for {kind}, expected -i or -n")]
    BadFlag {
        /// The type.
        kind: String,
        /// The flag as written.
        flag: String,
    },
    /// A type that needs values got none.
    #[error("ACL type {kind} needs at least one value")]
    NoValues {
        /// The type.
        kind: String,
    },
}

/// Parse an ACL of type `kind` with `values` as squid.conf writes them (leading `-i` / `-n` flags
/// included), so the importer and the scenario format read ACLs one way.
///
/// ```
/// use egresslab::lab::{parse_acl, AclKind};
/// let acl = parse_acl("port", &["80".into(), "1025-65535".into()]).unwrap();
/// assert_eq!(acl, AclKind::Port(vec![(80, 80), (1025, 65535)]));
/// assert!(parse_acl("port", &["http".into()]).is_err());
/// assert!(parse_acl("url_regex", &["x".into()]).is_err());
/// ```
pub fn parse_acl(kind: &str, values: &[String]) -> Result<AclKind, AclError> {
    let mut case_insensitive = false;
    let mut no_lookup = false;
    let mut rest = values;
    while let Some((flag, tail)) = rest.split_first() {
        if !flag.starts_with('-') || flag.len() < 2 || flag.as_bytes()[1].is_ascii_digit() {
            break;
        }
        match flag.as_str() {
            "-i" => case_insensitive = true,
            "-n" => no_lookup = true,
            // `--` ends the flags.
            "--" => {
                rest = tail;
                break;
            }
            _ => {
                return Err(AclError::BadFlag {
                    kind: kind.to_owned(),
                    flag: flag.clone(),
                })
            }
        }
        rest = tail;
    }
    let bad = |value: &str, expected: &'static str| AclError::BadValue {
        kind: kind.to_owned(),
        value: value.to_owned(),
        expected,
    };
    if rest.is_empty() && kind != "all" {
        return Err(AclError::NoValues {
            kind: kind.to_owned(),
        });
    }
    let lower = || rest.iter().map(|v| v.to_ascii_lowercase()).collect();
    let ranges = |rest: &[String]| -> Result<Vec<IpRange>, AclError> {
        rest.iter()
            .map(|v| match v.as_str() {
                "all" => Ok(vec!["0.0.0.0/0".parse(), "::/0".parse()]),
                _ => Ok(vec![v.parse()]),
            })
            .collect::<Result<Vec<_>, AclError>>()?
            .into_iter()
            .flatten()
            .map(|r| r.map_err(|e: BadIpRange| bad(&e.text, "an address, a-b or a/bits")))
            .collect()
    };
    Ok(match kind {
        "all" => AclKind::All,
        "dstdomain" => AclKind::DstDomain {
            domains: lower(),
            no_lookup,
        },
        "ssl::server_name" => AclKind::ServerName(lower()),
        "dstdom_regex" => AclKind::DstDomRegex {
            patterns: rest
                .iter()
                .map(|v| {
                    SquidRegex::new(v, case_insensitive).map_err(|_| bad(v, "a regular expression"))
                })
                .collect::<Result<_, _>>()?,
            no_lookup,
        },
        "dst" => AclKind::Dst(ranges(rest)?),
        "src" => AclKind::Src(ranges(rest)?),
        "port" => AclKind::Port(
            rest.iter()
                .map(|v| {
                    let (a, b) = v.split_once('-').unwrap_or((v, v));
                    match (a.parse::<u16>(), b.parse::<u16>()) {
                        (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                        _ => Err(bad(v, "a port or a range a-b")),
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
        "method" => AclKind::Method(
            rest.iter()
                .map(
                    |v| match v.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                        true => Ok(v.to_ascii_uppercase()),
                        false => Err(bad(v, "an HTTP method name")),
                    },
                )
                .collect::<Result<_, _>>()?,
        ),
        "proxy_auth" => match rest {
            [only] if only == "REQUIRED" => AclKind::ProxyAuth(None),
            _ if rest.iter().any(|v| v == "REQUIRED") => {
                return Err(bad("REQUIRED", "REQUIRED alone or a list of user names"))
            }
            _ => AclKind::ProxyAuth(Some(rest.to_vec())),
        },
        _ => {
            return Err(AclError::UnknownType {
                kind: kind.to_owned(),
            })
        }
    })
}

/// Squid 5's predefined ACLs (its squid.conf says "ACLs all, manager, localhost, to_localhost,
/// and CONNECT are predefined"), as (name, type, values): defined by the importer when a
/// squid.conf uses one without defining it. `manager` (cache manager URLs) is modelled as a
/// method no client sends: it matches no request the lab serves.
pub const BUILTIN_ACLS: &[(&str, &str, &[&str])] = &[
    ("all", "all", &[]),
    ("localhost", "src", &["127.0.0.1/32", "::1/128"]),
    (
        "to_localhost",
        "dst",
        &["127.0.0.0/8", "0.0.0.0/32", "::1/128"],
    ),
    ("CONNECT", "method", &["CONNECT"]),
    ("manager", "method", &["X-SQUID-CACHE-MANAGER"]),
];

/// A regular expression of a `dstdom_regex` ACL, compared by its source text.
#[derive(Debug, Clone)]
pub struct SquidRegex(regex::Regex);

impl SquidRegex {
    /// Compile `pattern` (POSIX extended syntax as Squid writes it; `case_insensitive` for `-i`).
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Self, Box<regex::Error>> {
        // Squid's regular expressions are POSIX extended; the common subset reads the same.
        regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .size_limit(1 << 20)
            .build()
            .map(SquidRegex)
            .map_err(Box::new)
    }

    /// The expression as compiled (with `(?i)` folded into the builder, so as written).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the expression matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

impl PartialEq for SquidRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// An inclusive range of addresses of one family: `10.0.0.0/8`, `10.1.2.3-10.1.2.9` or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The first address.
    pub first: IpAddr,
    /// The last address.
    pub last: IpAddr,
}

impl IpRange {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.first, self.last, ip) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => a <= x && x <= b,
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => a <= x && x <= b,
            _ => false,
        }
    }
}

/// Text that is not an address, a range or a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an IP address, a range a-b or a network a/bits")]
#[non_exhaustive]
pub struct BadIpRange {
    /// The text as written.
    pub text: String,
}

impl FromStr for IpRange {
    type Err = BadIpRange;

    /// Parse Squid's forms: `a`, `a-b`, `a/bits` and `a/netmask` (IPv4 or IPv6).
    ///
    /// ```
    /// use egresslab::lab::IpRange;
    /// let net: IpRange = "10.0.0.0/8".parse().unwrap();
    /// assert!(net.contains("10.200.1.1".parse().unwrap()));
    /// assert!(!net.contains("11.0.0.1".parse().unwrap()));
    /// assert!("10.0.0.0/40".parse::<IpRange>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadIpRange {
            text: text.to_owned(),
        };
        if let Some((first, last)) = text.split_once('-') {
            let first: IpAddr = first.parse().map_err(|_| bad())?;
            let last: IpAddr = last.parse().map_err(|_| bad())?;
            return match (first, last) {
                (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
                    if first <= last =>
                {
                    Ok(IpRange { first, last })
                }
                _ => Err(bad()),
            };
        }
        let (address, bits) = match text.split_once('/') {
            Some((address, mask)) => {
                let address: IpAddr = address.parse().map_err(|_| bad())?;
                let bits = match (mask.parse::<u8>(), mask.parse::<std::net::Ipv4Addr>()) {
                    (Ok(bits), _) => bits,
                    (_, Ok(netmask)) if address.is_ipv4() => {
                        let m = u32::from(netmask);
                        if m.leading_ones() + m.trailing_zeros() != 32 {
                            return Err(bad());
                        }
                        m.leading_ones() as u8
                    }
                    _ => return Err(bad()),
                };
                (address, bits)
            }
            None => {
                let address: IpAddr = text.parse().map_err(|_| bad())?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        match address {
            IpAddr::V4(v4) if bits <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                let base = u32::from(v4) & mask;
                Ok(IpRange {
                    first: IpAddr::V4(base.into()),
                    last: IpAddr::V4((base | !mask).into()),
                })
            }
            IpAddr::V6(v6) if bits <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                let base = u128::from(v6) & mask;
                Ok(IpRange {
                    first: IpAddr::V6(base.into()),
                    last: IpAddr::V6((base | !mask).into()),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// One `http_access` (or `always_direct`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLine {
    /// `allow` (true) or `deny`.
    pub allow: bool,
    /// The ACLs, AND-ed, each with `true` when written with `!`.
    pub acls: Vec<(bool, String)>,
}

impl fmt::Display for AccessLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.allow { "allow" } else { "deny" })?;
        for (negated, name) in &self.acls {
            write!(f, " {}{name}", if *negated { "!" } else { "" })?;
        }
        Ok(())
    }
}

/// A line that is not `allow` or `deny` followed by ACL names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an access line, expected `allow|deny [!]ACL...`")]
#[non_exhaustive]
pub struct BadAccessLine {
    /// The text as written.
    pub text: String,
}

impl FromStr for AccessLine {
    type Err = BadAccessLine;

    /// Parse a line as squid.conf writes it after `http_access`.
    ///
    /// ```
    /// use egresslab::lab::AccessLine;
    /// let line: AccessLine = "deny CONNECT !SSL_ports".parse().unwrap();
    /// assert!(!line.allow);
    /// assert_eq!(line.acls, [(false, "CONNECT".into()), (true, "SSL_ports".into())]);
    /// assert_eq!(line.to_string(), "deny CONNECT !SSL_ports");
    /// assert!("permit all".parse::<AccessLine>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut words = text.split_whitespace();
        let allow = match words.next() {
            Some("allow") => true,
            Some("deny") => false,
            _ => {
                return Err(BadAccessLine {
                    text: text.to_owned(),
                })
            }
        };
        let acls = words
            .map(|w| match w.strip_prefix('!') {
                Some(bare) => (true, bare.to_owned()),
                None => (false, w.to_owned()),
            })
            .collect();
        Ok(AccessLine { allow, acls })
    }
}

/// One `deny_info` entry: the answer for a denial whose last checked ACL is one of `acls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyInfo {
    /// What the client gets.
    pub page: DenyPage,
    /// The ACL names it applies to.
    pub acls: Vec<String>,
}

/// The answer a `deny_info` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyPage {
    /// An error page by name (`ERR_ACCESS_DENIED`, or a custom template): 403, and the name in
    /// `X-Squid-Error`.
    Page(String),
    /// `TCP_RESET`: the connection is reset without an answer.
    Reset,
    /// `3xx:URL`: a redirect with this status to this URL (`%u`, `%H` and `%%` expanded).
    Redirect {
        /// 301, 302, 303 or 307.
        status: u16,
        /// The target, as written.
        url: String,
    },
}

/// What the client's credentials are, as far as the access check needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Valid credentials of this user.
    Valid(String),
    /// None, wrong ones, or a scheme the proxy cannot complete.
    Invalid,
}

/// The facts about one request that ACLs look at.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// The method as sent.
    pub method: &'a str,
    /// The destination host (IPv6 without brackets).
    pub host: &'a str,
    /// The destination port.
    pub port: u16,
    /// The client's address.
    pub client: IpAddr,
    /// The client's credentials.
    pub credentials: Credentials,
}

/// How names and addresses are looked up (the lab's world; Squid's hosts file).
pub trait Resolver {
    /// The addresses of a host name.
    fn addresses(&self, host: &str) -> Vec<IpAddr>;
    /// The name of an address (Squid's reverse lookup of an IP literal).
    fn name_of(&self, ip: IpAddr) -> Option<String>;
}

/// The outcome of an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Relay the request.
    Allow {
        /// The line that decided, in words.
        rule: String,
    },
    /// Refuse it.
    Deny {
        /// The line that decided, in words.
        rule: String,
        /// A 407 challenge rather than a 403.
        challenge: bool,
        /// The `deny_info` answer, if one applies.
        page: Option<DenyPage>,
    },
}

impl SquidAccess {
    /// The ACL named `name`.
    pub fn acl(&self, name: &str) -> Option<&Acl> {
        self.acls.iter().find(|acl| acl.name == name)
    }

    /// Decide a request with the `http_access` lines.
    ///
    /// ```
    /// use egresslab::lab::{AccessLine, Acl, AclKind, Credentials, RequestFacts, SquidAccess, Verdict};
    /// let access = SquidAccess {
    ///     acls: vec![Acl { name: "SSL_ports".into(), kind: AclKind::Port(vec![(443, 443)]) }],
    ///     http_access: vec![AccessLine { allow: true, acls: vec![(false, "SSL_ports".into())] }],
    ///     ..SquidAccess::default()
    /// };
    /// let facts = |port| RequestFacts {
    ///     method: "CONNECT", host: "a.test", port,
    ///     client: "127.0.0.1".parse().unwrap(), credentials: Credentials::Invalid,
    /// };
    /// assert!(matches!(access.decide(&facts(443), &()), Verdict::Allow { .. }));
    /// // No line matched: the implicit last rule denies (the opposite of `allow`).
    /// assert!(matches!(access.decide(&facts(80), &()), Verdict::Deny { challenge: false, .. }));
    /// ```
    pub fn decide(&self, facts: &RequestFacts<'_>, resolver: &dyn Resolver) -> Verdict {
        let checked = self.check(&self.http_access, facts, resolver);
        match checked.answer {
            Answer::Allow => Verdict::Allow { rule: checked.rule },
            answer => {
                let auth_required = answer == Answer::AuthRequired;
                let last_is_auth = checked
                    .last
                    .as_deref()
                    .and_then(|name| self.acl(name))
                    .is_some_and(|acl| acl.kind.is_proxy_auth());
                Verdict::Deny {
                    rule: checked.rule,
                    challenge: auth_required || last_is_auth,
                    page: checked
                        .last
                        .as_deref()
                        .and_then(|name| self.deny_page(name, !auth_required)),
                }
            }
        }
    }

    /// Whether `always_direct` sends this request straight to the origin (bypassing the parent).
    pub fn goes_direct(&self, facts: &RequestFacts<'_>, resolver: &dyn Resolver) -> bool {
        !self.always_direct.is_empty()
            && self.check(&self.always_direct, facts, resolver).answer == Answer::Allow
    }

    /// The first `deny_info` naming `acl`; redirects are skipped when not allowed (Squid's
    /// `aclGetDenyInfoPage`).
    fn deny_page(&self, acl: &str, redirect_allowed: bool) -> Option<DenyPage> {
        self.deny_info
            .iter()
            .filter(|info| redirect_allowed || !matches!(info.page, DenyPage::Redirect { .. }))
            .find(|info| info.acls.iter().any(|a| a == acl))
            .map(|info| info.page.clone())
    }

    fn check(
        &self,
        lines: &[AccessLine],
        facts: &RequestFacts<'_>,
        resolver: &dyn Resolver,
    ) -> Checked {
        let mut last: Option<String> = None;
        for (index, line) in lines.iter().enumerate() {
            let mut all = true;
            for (negated, name) in &line.acls {
                last = Some(name.clone());
                match self.matches(name, facts, resolver) {
                    Match::AuthRequired => {
                        return Checked {
                            answer: Answer::AuthRequired,
                            rule: format!("line {} ({line}): {name} needs credentials", index + 1),
                            last,
                        }
                    }
                    Match::Yes(hit) if hit != *negated => {}
                    Match::Yes(_) => {
                        all = false;
                        break;
                    }
                }
            }
            if all {
                return Checked {
                    answer: if line.allow {
                        Answer::Allow
                    } else {
                        Answer::Deny
                    },
                    rule: format!("line {} ({line})", index + 1),
                    last,
                };
            }
        }
        let allow = lines.last().is_some_and(|line| !line.allow);
        Checked {
            answer: if allow { Answer::Allow } else { Answer::Deny },
            rule: match lines.last() {
                Some(line) => format!("implicit rule after line {} ({line})", lines.len()),
                None => "no lines: deny".to_owned(),
            },
            last,
        }
    }

    fn matches(&self, name: &str, facts: &RequestFacts<'_>, resolver: &dyn Resolver) -> Match {
        // An undefined name cannot come from a checked import; it matches nothing.
        let Some(acl) = self.acl(name) else {
            return Match::Yes(false);
        };
        let host = facts.host.trim_end_matches('.');
        let literal = host.parse::<IpAddr>().ok();
        let by_name = |no_lookup: bool, test: &dyn Fn(&str) -> bool| {
            if test(host) {
                return true;
            }
            match literal {
                Some(ip) if !no_lookup => resolver.name_of(ip).is_some_and(|name| test(&name)),
                _ => false,
            }
        };
        Match::Yes(match &acl.kind {
            AclKind::All => true,
            AclKind::DstDomain { domains, no_lookup } => by_name(*no_lookup, &|h| {
                domains.iter().any(|d| domain_matches(d, h))
            }),
            AclKind::ServerName(domains) => domains.iter().any(|d| domain_matches(d, host)),
            AclKind::DstDomRegex {
                patterns,
                no_lookup,
            } => by_name(*no_lookup, &|h| patterns.iter().any(|p| p.is_match(h))),
            AclKind::Dst(ranges) => {
                let addresses = match literal {
                    Some(ip) => vec![ip],
                    None => resolver.addresses(host),
                };
                addresses
                    .iter()
                    .any(|ip| ranges.iter().any(|r| r.contains(*ip)))
            }
            AclKind::Src(ranges) => ranges.iter().any(|r| r.contains(facts.client)),
            AclKind::Port(ranges) => ranges.iter().any(|(a, b)| (*a..=*b).contains(&facts.port)),
            AclKind::Method(methods) => {
                methods.iter().any(|m| m.eq_ignore_ascii_case(facts.method))
            }
            AclKind::ProxyAuth(users) => match &facts.credentials {
                Credentials::Invalid => return Match::AuthRequired,
                Credentials::Valid(user) => users
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|u| u == user)),
            },
        })
    }
}

/// A resolver that knows no names (IP literals only), for examples and tests.
impl Resolver for () {
    fn addresses(&self, _host: &str) -> Vec<IpAddr> {
        Vec::new()
    }

    fn name_of(&self, _ip: IpAddr) -> Option<String> {
        None
    }
}

/// Squid's dstdomain match: `.example.com` covers the name and below, `example.com` only itself.
fn domain_matches(domain: &str, host: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    match domain.strip_prefix('.') {
        Some(suffix) => {
            host.eq_ignore_ascii_case(suffix)
                || (host.len() > suffix.len()
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
        }
        None => host.eq_ignore_ascii_case(domain),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Allow,
    Deny,
    AuthRequired,
}

enum Match {
    Yes(bool),
    AuthRequired,
}

struct Checked {
    answer: Answer,
    rule: String,
    /// The last ACL checked (Squid's `AclMatchedName`).
    last: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(name: &str, kind: AclKind) -> Acl {
        Acl {
            name: name.into(),
            kind,
        }
    }

    fn line(allow: bool, acls: &[&str]) -> AccessLine {
        let action = if allow { "allow" } else { "deny" };
        format!("{action} {}", acls.join(" ")).parse().unwrap()
    }

    fn facts<'a>(
        method: &'a str,
        host: &'a str,
        port: u16,
        user: Option<&str>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            method,
            host,
            port,
            client: "127.0.0.1".parse().unwrap(),
            credentials: user.map_or(Credentials::Invalid, |u| Credentials::Valid(u.into())),
        }
    }

    #[test]
    fn dstdomain_dot_form_covers_the_domain_itself() {
        assert!(domain_matches(".corp.test", "corp.test"));
        assert!(domain_matches(".corp.test", "a.b.CORP.test"));
        assert!(!domain_matches(".corp.test", "xcorp.test"));
        assert!(domain_matches("corp.test", "corp.test"));
        assert!(!domain_matches("corp.test", "a.corp.test"));
    }

    #[test]
    fn auth_acl_last_on_a_denial_challenges_and_deny_info_follows_the_last_acl() {
        let access = SquidAccess {
            acls: vec![
                acl("admins", AclKind::ProxyAuth(Some(vec!["alice".into()]))),
                acl(
                    "bad",
                    AclKind::DstDomain {
                        domains: vec![".bad.test".into()],
                        no_lookup: false,
                    },
                ),
            ],
            http_access: vec![line(false, &["bad"]), line(true, &["admins"])],
            deny_info: vec![DenyInfo {
                page: DenyPage::Page("ERR_CORP_BLOCKED".into()),
                acls: vec!["bad".into()],
            }],
            always_direct: vec![],
        };
        let verdict = access.decide(&facts("GET", "www.bad.test", 80, None), &());
        assert_eq!(
            verdict,
            Verdict::Deny {
                rule: "line 1 (deny bad)".into(),
                challenge: false,
                page: Some(DenyPage::Page("ERR_CORP_BLOCKED".into()))
            }
        );
        assert!(matches!(
            access.decide(&facts("GET", "ok.test", 80, Some("alice")), &()),
            Verdict::Allow { .. }
        ));
        // bob is valid but not listed: the implicit deny's last ACL is proxy_auth, so 407.
        assert!(matches!(
            access.decide(&facts("GET", "ok.test", 80, Some("bob")), &()),
            Verdict::Deny {
                challenge: true,
                page: None,
                ..
            }
        ));
        assert!(matches!(
            access.decide(&facts("GET", "ok.test", 80, None), &()),
            Verdict::Deny {
                challenge: true,
                ..
            }
        ));
    }

    #[test]
    fn ranges_parse_squid_forms() {
        let r: IpRange = "192.168.0.0/255.255.0.0".parse().unwrap();
        assert!(r.contains("192.168.9.9".parse().unwrap()));
        let r: IpRange = "10.0.0.1-10.0.0.5".parse().unwrap();
        assert!(r.contains("10.0.0.5".parse().unwrap()));
        assert!(!r.contains("10.0.0.6".parse().unwrap()));
        let r: IpRange = "fc00::/7".parse().unwrap();
        assert!(r.contains("fd00::1".parse().unwrap()));
        assert!("10.0.0.9-10.0.0.1".parse::<IpRange>().is_err());
        assert!("255.0.255.0".parse::<IpRange>().is_ok());
        assert!("10.0.0.0/255.0.255.0".parse::<IpRange>().is_err());
    }
}
