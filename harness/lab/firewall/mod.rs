//! The firewall and middleboxes, realised as places in the routing table.
//!
//! Each rule becomes routing entries, in rule order and before the endpoints' own entries, so the first
//! matching rule decides where a vantage's connection lands: the endpoint (allow), a closed port
//! (reject), a black hole (drop), a silent listener (hang) or a relay in front of the endpoint
//! (reset after N bytes, TLS 1.2 killer, SHA-512 killer).

pub(crate) mod blackhole;
pub(crate) mod relay;
pub(crate) mod tls_sniff;

use std::net::{IpAddr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};

use self::blackhole::{closed_port, listen, BlackHole};
use self::relay::{Middlebox, Relay};
use super::capture::{Leg, Watched};
use super::context::{ResetOnShutdown, Serving};
use super::error::LabError;
use super::pattern::host_matches;
use super::plan::{FirewallAction, FirewallRule};
use super::timeline::EventKind;
use super::world::RouteEntry;

/// An endpoint as the firewall sees it: the names and port it answers and where it really listens.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    pub(crate) hosts: &'a [String],
    pub(crate) port: u16,
    pub(crate) address: SocketAddr,
}

/// The bound sockets of a lab's firewall and the routing entries they imply.
#[derive(Debug)]
pub(crate) struct Firewall {
    closed: TcpSocket,
    /// The refused address (also the lab's address for known names on unserved ports).
    pub(crate) closed_address: SocketAddr,
    blackhole: Option<BlackHole>,
    hangs: Vec<(TcpListener, String)>,
    relays: Vec<Relay>,
    /// Routing entries, in rule order.
    pub(crate) entries: Vec<RouteEntry>,
}

impl Firewall {
    /// Bind everything the rules need and compute their routing entries.
    pub(crate) async fn bind(
        rules: &[FirewallRule],
        targets: &[Target<'_>],
        ip: IpAddr,
    ) -> Result<Firewall, LabError> {
        let (closed, closed_address) = closed_port(ip, "closed port")?;
        let mut firewall = Firewall {
            closed,
            closed_address,
            blackhole: None,
            hangs: Vec::new(),
            relays: Vec::new(),
            entries: Vec::new(),
        };
        for (index, rule) in rules.iter().enumerate() {
            let words = describe(index, rule);
            let whole_rule = match &rule.action {
                FirewallAction::Reject => Some(closed_address),
                FirewallAction::Drop => Some(firewall.blackhole(ip).await?),
                FirewallAction::Hang => {
                    let listener = listen(ip, &format!("hang for {words}"))?;
                    let address = local(&listener, &words)?;
                    firewall.hangs.push((listener, words.clone()));
                    Some(address)
                }
                _ => None,
            };
            if let Some(address) = whole_rule {
                firewall.entries.push(RouteEntry {
                    from: rule.from.clone(),
                    hosts: rule.hosts.clone(),
                    port: rule.port,
                    address,
                });
                continue;
            }
            for target in targets {
                if rule.port.is_some_and(|port| port != target.port) {
                    continue;
                }
                for host in target.hosts {
                    let Some(hosts) = overlap(&rule.hosts, host) else {
                        continue;
                    };
                    let address = match middlebox(&rule.action) {
                        None => target.address,
                        Some(kind) => firewall.relay(ip, kind, target.address, &words)?,
                    };
                    firewall.entries.push(RouteEntry {
                        from: rule.from.clone(),
                        hosts,
                        port: Some(target.port),
                        address,
                    });
                }
            }
        }
        Ok(firewall)
    }

    async fn blackhole(&mut self, ip: IpAddr) -> Result<SocketAddr, LabError> {
        if let Some(hole) = &self.blackhole {
            return Ok(hole.address);
        }
        let hole = BlackHole::open(ip).await?;
        let address = hole.address;
        self.blackhole = Some(hole);
        Ok(address)
    }

    fn relay(
        &mut self,
        ip: IpAddr,
        kind: Middlebox,
        target: SocketAddr,
        words: &str,
    ) -> Result<SocketAddr, LabError> {
        if let Some(existing) = self
            .relays
            .iter()
            .find(|relay| relay.kind == kind && relay.target == target && relay.rule == words)
        {
            return local(&existing.listener, words);
        }
        let listener = listen(ip, &format!("middlebox for {words}"))?;
        let address = local(&listener, words)?;
        self.relays.push(Relay {
            listener,
            kind,
            target,
            rule: words.to_owned(),
        });
        Ok(address)
    }

    /// The addresses whose packets only a raw socket can show the capture (the black hole and the
    /// closed port), each with the rule words written on its first packet; none when no rule drops
    /// or rejects (then the capture opens no raw socket).
    pub(crate) fn watched(&self, rules: &[FirewallRule]) -> Vec<Watched> {
        let mut watched = Vec::new();
        let words = |action: FirewallAction| {
            rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.action == action)
                .map(|(index, rule)| describe(index, rule))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let rejects = words(FirewallAction::Reject);
        if !rejects.is_empty() {
            watched.push(Watched {
                address: self.closed_address,
                reason: format!("firewall reject (closed port, SYN answered by RST): {rejects}"),
            });
        }
        if let Some(hole) = &self.blackhole {
            watched.push(Watched {
                address: hole.address,
                reason: format!(
                    "firewall drop (black hole, SYNs never answered): {}",
                    words(FirewallAction::Drop)
                ),
            });
        }
        watched
    }

    /// Every address its listeners (hangs and relays) accept on.
    pub(crate) fn listening(&self) -> Vec<SocketAddr> {
        self.hangs
            .iter()
            .map(|(listener, _)| listener)
            .chain(self.relays.iter().map(|relay| &relay.listener))
            .filter_map(|listener| listener.local_addr().ok())
            .collect()
    }

    /// Each relay's address and the endpoint address it fronts.
    pub(crate) fn relay_targets(&self) -> Vec<(SocketAddr, SocketAddr)> {
        self.relays
            .iter()
            .filter_map(|relay| Some((relay.listener.local_addr().ok()?, relay.target)))
            .collect()
    }

    /// Start serving the hang listeners and relays; the closed port and black hole live until shutdown.
    pub(crate) fn spawn(self, serving: &Serving) {
        for relay in self.relays {
            serving.tasks.spawn(relay::serve(relay, serving.clone()));
        }
        for (listener, rule) in self.hangs {
            serving
                .tasks
                .spawn(serve_hang(listener, rule, serving.clone()));
        }
        let held = (self.closed, self.blackhole);
        let token = serving.shutdown.clone();
        serving.tasks.spawn(async move {
            token.cancelled().await;
            drop(held);
        });
    }
}

fn local(listener: &TcpListener, what: &str) -> Result<SocketAddr, LabError> {
    listener.local_addr().map_err(|source| LabError::Setup {
        what: what.to_owned(),
        source,
    })
}

fn middlebox(action: &FirewallAction) -> Option<Middlebox> {
    match action {
        FirewallAction::ResetAfter(bytes) => Some(Middlebox::ResetAfter(*bytes)),
        FirewallAction::KillTls12 => Some(Middlebox::KillTls12),
        FirewallAction::KillSha512 => Some(Middlebox::KillSha512),
        _ => None,
    }
}

/// The narrower of two overlapping host patterns, or `None` when no name matches both.
fn overlap(rule: &str, endpoint: &str) -> Option<String> {
    if rule.eq_ignore_ascii_case(endpoint) || host_matches(rule, endpoint) {
        Some(endpoint.to_owned())
    } else if host_matches(endpoint, rule) {
        Some(rule.to_owned())
    } else {
        None
    }
}

fn describe(index: usize, rule: &FirewallRule) -> String {
    let port = rule.port.map_or("*".to_owned(), |port| port.to_string());
    format!(
        "rule {index}: {:?} from {:?} to {}:{port}",
        rule.action, rule.from, rule.hosts
    )
}

/// Accept and stay silent until the client gives up or the lab stops.
async fn serve_hang(listener: TcpListener, rule: String, serving: Serving) {
    loop {
        let accepted = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let timeline = serving.timeline.clone();
        timeline.record("firewall", EventKind::Accepted { peer });
        timeline.record(
            "firewall",
            EventKind::RuleFired {
                rule: rule.clone(),
                action: "hang: accepted, never answering".to_owned(),
                target: peer.to_string(),
            },
        );
        let token = serving.shutdown.clone();
        let tap = serving.clone();
        let reason = format!("client to a firewall hang ({rule})");
        serving.tasks.spawn(async move {
            let stream = tap.tapped(stream, Leg::Accepted, || reason).await;
            let mut stream = ResetOnShutdown::new(stream, &tap.shutdown);
            let mut sink = [0u8; 4096];
            let mut received = 0u64;
            let reason = loop {
                tokio::select! {
                    () = token.cancelled() => break "shutdown",
                    read = stream.read(&mut sink) => match read {
                        Ok(0) | Err(_) => break "client closed",
                        Ok(n) => received += n as u64,
                    },
                }
            };
            timeline.record(
                "firewall",
                EventKind::Closed {
                    bytes_up: received,
                    bytes_down: 0,
                    reason: reason.to_owned(),
                },
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_keeps_the_narrower_pattern() {
        assert_eq!(overlap("*", "login.example"), Some("login.example".into()));
        assert_eq!(overlap("*.b.test", "*.a.b.test"), Some("*.a.b.test".into()));
        assert_eq!(overlap("x.b.test", "*.b.test"), Some("x.b.test".into()));
        assert_eq!(overlap("*.b.test", "*.b.test"), Some("*.b.test".into()));
        assert_eq!(overlap("x.c.test", "*.b.test"), None);
    }
}
