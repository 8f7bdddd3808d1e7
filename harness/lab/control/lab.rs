//! egresslab's own control: what Toxiproxy has no words for. A proxy's rules, authentication and
//! interception, the firewall as a proxy sees it, an endpoint's certificate and the lab's names.
//! Each change acts on connections that start after it; a connection already open keeps what it
//! started with. Every change is a `control` event in the timeline.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use egresslab_certs::Profile;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::Control;
use crate::lab::live::LiveProxy;
use crate::lab::plan::{ProxyAuthPlan, ProxyRule, RuleAction, Vantage};
use crate::lab::world::{LiveAction, LiveRule};

/// A rule as posted to `POST /egresslab/proxies/{proxy}/rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleBody {
    action: String,
    hosts: String,
    #[serde(default)]
    ports: Vec<u16>,
}

/// `POST /egresslab/proxies/{proxy}/auth`: off, back to the scenario's, or Basic with one user.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthBody {
    enabled: bool,
    user: Option<String>,
    password: Option<String>,
}

/// `POST /egresslab/proxies/{proxy}/interception`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InterceptionBody {
    enabled: bool,
    #[serde(default)]
    passthrough: Vec<String>,
}

/// `POST /egresslab/firewall`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FirewallBody {
    from: String,
    hosts: String,
    port: Option<u16>,
    action: String,
}

/// `POST /egresslab/endpoints/{endpoint}/certificate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertificateBody {
    profile: String,
}

/// `POST /egresslab/names/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NameBody {
    exists: bool,
}

fn host_pattern(field: &str, pattern: &str) -> Result<String, ApiError> {
    if pattern == "*" || crate::lab::pattern::is_host_pattern(pattern) {
        Ok(pattern.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_body(format!(
            "{field} {pattern:?}: expected `*`, a host name or `*.suffix`"
        )))
    }
}

impl Control {
    fn live_proxy(&self, name: &str) -> Result<Arc<LiveProxy>, ApiError> {
        let live = &self.state.serving.live;
        live.proxy(name)
            .ok_or_else(|| ApiError::no_such("proxy", name, &live.proxy_names()))
    }

    fn change_proxy(
        &self,
        proxy: &LiveProxy,
        what: String,
        change: impl FnOnce(&mut crate::lab::plan::ProxyPlan),
    ) -> Result<Value, ApiError> {
        proxy
            .change(change)
            .map_err(|e| ApiError::bad_body(format!("cannot set up interception: {e}")))?;
        self.event(format!("proxy {}: {what}", proxy.name));
        Ok(self.proxy_json(proxy))
    }

    /// What a proxy does now, as `GET /egresslab/proxies/{proxy}` shows it.
    pub(super) fn proxy_json(&self, proxy: &LiveProxy) -> Value {
        let plan = proxy.plan();
        let up = self
            .state
            .serving
            .live
            .gate(&proxy.name)
            .is_some_and(|g| g.enabled());
        json!({
            "name": proxy.name,
            "up": up,
            "rules": plan.rules.iter().map(|r| json!({
                "action": match r.action { RuleAction::Allow => "allow", RuleAction::Deny => "deny" },
                "hosts": r.hosts,
                "ports": r.ports,
            })).collect::<Vec<_>>(),
            "auth": plan.auth.is_some(),
            "interception": plan.intercept.is_some(),
        })
    }

    /// `GET /egresslab/proxies/{proxy}`.
    pub(super) fn proxy_state(&self, name: &str) -> Result<Value, ApiError> {
        let proxy = self.live_proxy(name)?;
        Ok(self.proxy_json(&proxy))
    }

    /// Put a rule before a proxy's other rules (first match wins, as in Squid's `http_access`).
    pub(super) fn add_rule(&self, name: &str, body: RuleBody) -> Result<Value, ApiError> {
        let proxy = self.live_proxy(name)?;
        let action = match body.action.as_str() {
            "allow" => RuleAction::Allow,
            "deny" => RuleAction::Deny,
            other => {
                return Err(ApiError::bad_body(format!(
                    "action {other:?}: expected \"allow\" or \"deny\""
                )))
            }
        };
        if body.ports.contains(&0) {
            return Err(ApiError::bad_body("ports: 0 is not a port".to_owned()));
        }
        let hosts = host_pattern("hosts", &body.hosts)?;
        let words = format!(
            "rule {} {hosts} ports {:?} put first",
            body.action, body.ports
        );
        self.change_proxy(&proxy, words, |plan| {
            plan.rules.insert(
                0,
                ProxyRule {
                    hosts,
                    ports: body.ports,
                    action,
                },
            );
        })
    }

    /// Give a proxy the rules its scenario started with.
    pub(super) fn restore_rules(&self, name: &str) -> Result<Value, ApiError> {
        let proxy = self.live_proxy(name)?;
        let rules = proxy.plan_at_start().rules.clone();
        self.change_proxy(
            &proxy,
            "rules as the scenario set them".to_owned(),
            |plan| {
                plan.rules = rules;
            },
        )
    }

    /// Authentication off, back on as the scenario had it, or on with one Basic user.
    pub(super) fn set_auth(&self, name: &str, body: AuthBody) -> Result<Value, ApiError> {
        let proxy = self.live_proxy(name)?;
        let auth = match (body.enabled, body.user, body.password) {
            (false, None, None) => None,
            (false, _, _) => {
                return Err(ApiError::bad_body(
                    "user and password go with \"enabled\": true".to_owned(),
                ))
            }
            (true, Some(user), Some(password)) if !user.is_empty() && !user.contains(':') => {
                Some(ProxyAuthPlan {
                    schemes: vec![crate::lab::plan::AuthScheme::Basic],
                    realm: "egresslab".to_owned(),
                    users: vec![(user, password)],
                })
            }
            (true, None, None) => match proxy.plan_at_start().auth.clone() {
                Some(auth) => Some(auth),
                None => {
                    return Err(ApiError::bad_body(
                        "this proxy had no authentication in its scenario: give \"user\" and \"password\" for Basic".to_owned(),
                    ))
                }
            },
            _ => {
                return Err(ApiError::bad_body(
                    "expected both \"user\" (not empty, no ':') and \"password\", or neither"
                        .to_owned(),
                ))
            }
        };
        // The password never reaches the timeline.
        let words = match &auth {
            None => "authentication off".to_owned(),
            Some(auth) => format!(
                "authentication on ({} user{})",
                auth.users.len(),
                if auth.users.len() == 1 { "" } else { "s" }
            ),
        };
        self.change_proxy(&proxy, words, |plan| plan.auth = auth)
    }

    /// TLS interception on (leaves from the lab's inspection CA) or off.
    pub(super) fn set_interception(
        &self,
        name: &str,
        body: InterceptionBody,
    ) -> Result<Value, ApiError> {
        let proxy = self.live_proxy(name)?;
        let passthrough = body
            .passthrough
            .iter()
            .map(|p| host_pattern("passthrough", p))
            .collect::<Result<Vec<_>, _>>()?;
        let words = if body.enabled {
            "interception on".to_owned()
        } else {
            "interception off".to_owned()
        };
        self.change_proxy(&proxy, words, |plan| {
            plan.intercept = body
                .enabled
                .then_some(crate::lab::plan::InterceptPlan { passthrough });
        })
    }

    /// A firewall rule in front of the scenario's, for connections a proxy makes: `allow`,
    /// `reject` (refused) or `drop` (no answer).
    pub(super) async fn set_firewall(&self, body: FirewallBody) -> Result<Value, ApiError> {
        let from = Vantage::from_str(&body.from).map_err(|e| ApiError::bad_body(e.to_string()))?;
        if matches!(from, Vantage::Client | Vantage::Any) {
            return Err(ApiError::bad_body(format!(
                "from {:?}: a live firewall rule applies to what proxies connect to (\"any-proxy\" or \"proxy:NAME\"); a direct client was given its addresses when the lab started",
                body.from
            )));
        }
        if let Vantage::Proxy(name) = &from {
            self.live_proxy(name)?;
        }
        if body.port == Some(0) {
            return Err(ApiError::bad_body("port: 0 is not a port".to_owned()));
        }
        let hosts = host_pattern("hosts", &body.hosts)?;
        let world = &self.state.world;
        let action = match body.action.as_str() {
            "allow" => LiveAction::Allow,
            "reject" => match world.closed_address() {
                Some(address) => LiveAction::Connect(address),
                None => {
                    return Err(ApiError::bad_body(
                        "this lab has no refused address".to_owned(),
                    ))
                }
            },
            "drop" => LiveAction::Connect(self.black_hole().await?),
            other => {
                return Err(ApiError::bad_body(format!(
                    "action {other:?}: expected \"allow\", \"reject\" or \"drop\""
                )))
            }
        };
        world.add_live_rule(LiveRule {
            from: from.clone(),
            hosts: hosts.clone(),
            port: body.port,
            action,
        });
        self.event(format!(
            "firewall: {} from {from} to {hosts}{}",
            body.action,
            body.port.map_or(String::new(), |p| format!(":{p}"))
        ));
        Ok(
            json!({"from": from.to_string(), "hosts": hosts, "port": body.port, "action": body.action}),
        )
    }

    /// The black hole a live `drop` sends connections to, opened on first use.
    async fn black_hole(&self) -> Result<SocketAddr, ApiError> {
        let mut hole = self.state.black_hole.lock().await;
        if let Some(hole) = hole.as_ref() {
            return Ok(hole.address);
        }
        let ip = self.address.ip();
        let opened = crate::lab::firewall::blackhole::BlackHole::open(ip)
            .await
            .map_err(|e| ApiError::bad_body(format!("cannot open a black hole: {e}")))?;
        let address = opened.address;
        *hole = Some(opened);
        Ok(address)
    }

    /// Serve a certificate of another profile from an endpoint.
    pub(super) fn set_certificate(
        &self,
        name: &str,
        body: CertificateBody,
    ) -> Result<Value, ApiError> {
        let live = &self.state.serving.live;
        let endpoint = live
            .endpoint(name)
            .ok_or_else(|| ApiError::no_such("endpoint", name, &live.endpoint_names()))?;
        if !endpoint.has_tls() {
            return Err(ApiError::bad_body(format!(
                "endpoint {name} serves plain HTTP: it has no certificate to change"
            )));
        }
        let profile = Profile::from_str(&body.profile)
            .map_err(|e| ApiError::bad_body(format!("profile: {e}")))?;
        endpoint
            .set_profile(profile)
            .map_err(|e| ApiError::bad_body(format!("cannot mint: {e}")))?;
        self.event(format!(
            "endpoint {name}: certificate profile {}",
            body.profile
        ));
        Ok(json!({"endpoint": name, "profile": body.profile}))
    }

    /// Make a lab name answer NXDOMAIN, or exist again.
    pub(super) fn set_name(&self, name: &str, body: NameBody) -> Result<Value, ApiError> {
        if !crate::lab::pattern::is_host_pattern(name) || name.starts_with("*.") {
            return Err(ApiError::bad_body(format!(
                "name {name:?}: expected a host name"
            )));
        }
        self.state.world.set_name_exists(name, body.exists);
        self.event(format!(
            "name {name}: {}",
            if body.exists { "exists" } else { "NXDOMAIN" }
        ));
        Ok(json!({"name": name, "exists": body.exists}))
    }
}
