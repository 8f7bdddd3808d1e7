//! Whether a request is relayed: the plan's rules and blanket authentication, or its Squid access
//! lists (`harness/lab/access.rs`) with the lab's routes as Squid's resolver and `deny_info`
//! answers (error pages, redirects, resets).

use std::net::{IpAddr, SocketAddr};

use crate::lab::access::{Credentials, DenyPage, RequestFacts, Resolver, SquidAccess, Verdict};
use crate::lab::plan::Vantage;
use crate::lab::timeline::EventKind;
use crate::lab::world::{Route, World};

use super::answers::Failure;
use super::auth::{self, AuthOutcome};
use super::request::{self, Request};
use super::{rules, Proxy};

impl Proxy {
    /// Decide whether a request is relayed: the plan's rules and authentication, or its Squid
    /// access lists when it has them. Records the rule that fired.
    pub(super) fn admit(
        &self,
        request: &Request,
        checked: Option<AuthOutcome>,
        peer: SocketAddr,
        target: &str,
    ) -> Admission {
        if let Some(access) = &self.plan.access {
            return self.admit_squid(access, request, checked, peer, target);
        }
        let connect = request.is_connect();
        let decision = rules::decide(
            &self.plan,
            connect,
            request.target.host(),
            request.target.port(),
        );
        self.record_rule(decision.rule, decision.allow, target);
        if !decision.allow {
            return Admission::Refuse(Failure::Denied);
        }
        if let (Some(plan), Some(outcome)) = (self.plan.auth.as_ref(), checked) {
            if !matches!(outcome, AuthOutcome::Accepted { .. }) {
                self.note_auth(&outcome);
                return Admission::Refuse(Failure::AuthRequired(auth::challenges(
                    plan,
                    Some(&outcome),
                )));
            }
        }
        Admission::Relay { direct: false }
    }

    /// [`Proxy::admit`] with Squid access lists.
    fn admit_squid(
        &self,
        access: &SquidAccess,
        request: &Request,
        checked: Option<AuthOutcome>,
        peer: SocketAddr,
        target: &str,
    ) -> Admission {
        if let Some(outcome) = &checked {
            self.note_auth(outcome);
        }
        let offers = self
            .plan
            .auth
            .as_ref()
            .map(|plan| auth::challenges(plan, checked.as_ref()));
        let facts = RequestFacts {
            method: &request.method,
            host: request.target.host(),
            port: request.target.port(),
            client: peer.ip(),
            credentials: match checked {
                Some(AuthOutcome::Accepted { user }) => Credentials::Valid(user),
                _ => Credentials::Invalid,
            },
        };
        let resolver = WorldResolver {
            world: &self.world,
            from: Vantage::Proxy(self.plan.name.clone()),
            port: facts.port,
        };
        match access.decide(&facts, &resolver) {
            Verdict::Allow { rule } => {
                self.record_rule(format!("http_access {rule}"), true, target);
                Admission::Relay {
                    direct: access.goes_direct(&facts, &resolver),
                }
            }
            Verdict::Deny {
                rule,
                challenge,
                page,
            } => {
                self.record_rule(format!("http_access {rule}"), false, target);
                let challenges = match (offers, challenge) {
                    (Some(offers), true) => offers,
                    _ => Vec::new(),
                };
                let status = if challenge { 407 } else { 403 };
                let default = if challenge {
                    "ERR_CACHE_ACCESS_DENIED"
                } else {
                    "ERR_ACCESS_DENIED"
                };
                let (status, page, location) = match page {
                    Some(DenyPage::Reset) => return Admission::Reset,
                    Some(DenyPage::Redirect { status, url }) => {
                        (status, String::new(), Some(expand_url(&url, request)))
                    }
                    Some(DenyPage::Page(page)) => (status, page, None),
                    None => (status, default.to_owned(), None),
                };
                Admission::Refuse(Failure::AccessRefused {
                    status,
                    page,
                    challenges,
                    location,
                })
            }
        }
    }

    /// Record the access rule that decided `target`.
    pub(super) fn record_rule(&self, rule: String, allow: bool, target: &str) {
        self.record(EventKind::RuleFired {
            rule,
            action: if allow { "allow" } else { "deny" }.to_owned(),
            target: target.to_owned(),
        });
    }

    /// Record what an authentication step means: a scheme the proxy does not offer, a failure
    /// (why, never a secret), a challenge issued.
    fn note_auth(&self, outcome: &AuthOutcome) {
        let message = match outcome {
            AuthOutcome::Unsupported { scheme } => Some(format!(
                "client attempted {scheme} proxy authentication, which this proxy does not offer"
            )),
            other => other.note(),
        };
        if let Some(message) = message {
            self.record(EventKind::Note { message });
        }
    }
}

/// What the access check decided for one request.
pub(super) enum Admission {
    /// Relay it; `direct` bypasses the parent proxy (`always_direct`).
    Relay { direct: bool },
    /// Answer this failure.
    Refuse(Failure),
    /// Reset the client connection without an answer (`deny_info TCP_RESET`).
    Reset,
}

/// The lab's routing table as Squid's resolver: a name's address is where the proxy would
/// connect; an address's name is the first exact host name routed there.
struct WorldResolver<'a> {
    world: &'a World,
    from: Vantage,
    port: u16,
}

impl Resolver for WorldResolver<'_> {
    fn addresses(&self, host: &str) -> Vec<IpAddr> {
        match self.world.route(host, self.port, &self.from) {
            Route::Connect(address) => vec![address.ip()],
            Route::UnknownHost | Route::UndeclaredAddress => Vec::new(),
        }
    }

    fn name_of(&self, ip: IpAddr) -> Option<String> {
        self.world
            .entries()
            .iter()
            .find(|entry| {
                entry.address.ip() == ip
                    && !entry.hosts.contains('*')
                    && entry.from.covers(&self.from)
            })
            .map(|entry| entry.hosts.clone())
    }
}

/// A `deny_info` redirect URL with Squid's `%u` (the URL, percent-encoded), `%H` (the host) and
/// `%%` expanded; other codes are left as written. `%u` is Squid's canonical URL: `host:port` for
/// CONNECT, `http://host[:port]/path` otherwise, the host in lower case and port 80 left out
/// (checked against Squid 5.7).
fn expand_url(url: &str, request: &Request) -> String {
    let host = request.target.host().to_ascii_lowercase();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let requested = match &request.target {
        request::Target::Authority { port, .. } => format!("{host}:{port}"),
        request::Target::Absolute { port: 80, path, .. } => format!("http://{host}{path}"),
        request::Target::Absolute { port, path, .. } => format!("http://{host}:{port}{path}"),
    };
    let mut out = String::with_capacity(url.len());
    let mut chars = url.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(&percent_encode(&requested)),
            Some('H') => out.push_str(request.target.host()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Percent-encode every byte but RFC 3986's unreserved ones, as Squid's `%u` does.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
