//! The topology as JSON: the scenario's plan (client, proxies, firewall per vantage, endpoints,
//! names, UDP) with the addresses the lab bound, and, when asked, the live state the control API
//! reports (a proxy up or down, its auth and interception now).

use serde_json::{json, Value};

use crate::lab::control::Control;
use crate::lab::{EndpointBehaviour, Lab, UdpBehaviour};
use crate::scenario::{ClientProxy, Expanded};

/// The plan part, taken once when the view starts; with `lab`, the addresses it bound (a report
/// drawn after the run has none).
pub fn plan_json(scenario: &Expanded, lab: Option<&Lab>) -> Value {
    let plan = &scenario.plan;
    let proxies: Vec<Value> = plan
        .proxies
        .iter()
        .map(|proxy| {
            let socks = proxy.kind == crate::lab::ProxyKind::Socks5;
            json!({
                "name": proxy.name,
                "kind": if socks { "socks5" } else { "http" },
                "personality": format!("{:?}", proxy.personality).to_lowercase(),
                "auth": proxy.auth.as_ref().map(|auth| match socks {
                    // RFC 1929 against the same user table.
                    true => vec!["username/password".to_owned()],
                    false => auth.schemes.iter().map(|s| format!("{s:?}").to_lowercase()).collect::<Vec<_>>(),
                }),
                "interception": proxy.intercept.is_some(),
                "parent": proxy.upstream,
                "fault": proxy.fault.as_ref().map(|f| format!("{f:?}")),
                "rules": proxy.rules.len(),
                "address": lab.and_then(|l| l.proxy(&proxy.name)).map(|p| p.address().to_string()),
                "down": proxy.down,
            })
        })
        .collect();
    let endpoints: Vec<Value> = plan
        .endpoints
        .iter()
        .map(|endpoint| {
            let kind = match &endpoint.behaviour {
                EndpointBehaviour::Pac { .. } => "pac",
                EndpointBehaviour::Echo => "echo",
                EndpointBehaviour::Revocation => "revocation",
                _ => "http",
            };
            json!({
                "name": endpoint.name,
                "hosts": endpoint.hosts,
                "port": endpoint.port,
                "kind": kind,
                "tls": endpoint.tls.as_ref().map(|tls| json!({
                    "profile": tls.profile.name(),
                    "defect": tls.profile.defect(),
                    "versions": format!("{:?}", tls.versions),
                    "client_auth": tls.client_auth.as_ref().map(|auth| auth.ca.name()),
                })),
                "address": lab.and_then(|l| l.endpoint(&endpoint.name)).map(|h| h.address().to_string()),
            })
        })
        .collect();
    let firewall: Vec<Value> = plan
        .firewall
        .iter()
        .map(|rule| {
            json!({
                "from": rule.from.to_string(),
                "hosts": rule.hosts,
                "port": rule.port,
                "action": format!("{:?}", rule.action).to_lowercase(),
            })
        })
        .collect();
    let udp: Vec<Value> = plan
        .udp
        .iter()
        .map(|udp| {
            json!({
                "name": udp.name,
                "host": udp.host,
                "port": udp.port,
                "behaviour": match udp.behaviour {
                    UdpBehaviour::IkeResponder => "ike responder",
                    UdpBehaviour::Silent => "silent",
                },
            })
        })
        .collect();
    let client_proxy = match &scenario.client.proxy {
        ClientProxy::Direct => json!({ "mode": "direct" }),
        ClientProxy::Named(name) => json!({ "mode": "proxy", "proxy": name }),
        other => json!({ "mode": "pac", "detail": format!("{other:?}") }),
    };
    json!({
        "scenario": { "id": scenario.id, "summary": scenario.summary },
        "expected": {
            "diagnoses": scenario.expect.diagnoses.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "healthy": scenario.expect.healthy,
        },
        "client": client_proxy,
        "proxies": proxies,
        "endpoints": endpoints,
        "firewall": firewall,
        "names": {
            "dns": plan.names.dns,
            "nxdomain": plan.names.nxdomain,
            "address": lab.and_then(Lab::dns_address).map(|a| a.to_string()),
        },
        "udp": udp,
    })
}

/// The plan with each element's live state: `state` on every proxy (`up`, `auth`, `interception`,
/// rules as the control API reports them) and `enabled` on every lab listener.
pub(super) async fn live_json(plan: &Value, control: &Control) -> Value {
    let mut topology = plan.clone();
    let listeners = body_json(control.call(&hyper::Method::GET, "/proxies", &[]).await).await;
    if let Some(proxies) = topology["proxies"].as_array_mut() {
        for proxy in proxies {
            let name = proxy["name"].as_str().unwrap_or_default().to_owned();
            let path = format!("/egresslab/proxies/{name}");
            proxy["state"] = body_json(control.call(&hyper::Method::GET, &path, &[]).await).await;
            proxy["toxics"] = listeners[&name]["toxics"].clone();
        }
    }
    for group in ["endpoints", "udp"] {
        if let Some(items) = topology[group].as_array_mut() {
            for item in items {
                let name = item["name"].as_str().unwrap_or_default().to_owned();
                item["enabled"] = listeners[&name]["enabled"].clone();
                item["toxics"] = listeners[&name]["toxics"].clone();
            }
        }
    }
    topology
}

async fn body_json(
    response: hyper::Response<http_body_util::Full<bytes::Bytes>>,
) -> serde_json::Value {
    use http_body_util::BodyExt;
    match response.into_body().collect().await {
        Ok(collected) => serde_json::from_slice(&collected.to_bytes()).unwrap_or(Value::Null),
        Err(never) => match never {},
    }
}
