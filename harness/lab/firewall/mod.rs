//! The firewall and middleboxes, realised as places in the routing table.
//!
//! Each rule becomes routing entries, in rule order and before the endpoints' own entries, so the first
//! matching rule decides where a vantage's connection lands: the endpoint (allow), a closed port
//! (reject), a black hole (drop), a silent listener (hang) or a relay in front of the endpoint
//! (reset after N bytes, TLS 1.2 killer, SHA-512 killer).

pub(crate) mod blackhole;
pub(crate) mod rawsock;
pub(crate) mod relay;
pub(crate) mod tls_sniff;
pub(crate) mod watch;

use std::net::{IpAddr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};

use self::blackhole::{closed_port, listen, BlackHole};
use self::relay::{Middlebox, Relay};
use super::capture::{Leg as Side, Watched};
use super::context::{ResetOnShutdown, Serving};
use super::error::LabError;
use super::pattern::host_matches;
use super::plan::{Family, FirewallAction, FirewallRule};
use super::timeline::{EventKind, Leg, Timeline};
use super::world::{FirewallTag, RouteEntry};

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
    /// The lab's general refused port and each reject rule's own, so a SYN's port names its rule.
    closed: Vec<TcpSocket>,
    /// The refused address (also the lab's address for known names on unserved ports).
    pub(crate) closed_address: SocketAddr,
    /// Its v6 twin, when some endpoint answers in v6 (a v6 client meets it where v4 meets the other).
    pub(crate) closed_v6: Option<SocketAddr>,
    /// Each drop rule's own black hole.
    blackholes: Vec<BlackHole>,
    hangs: Vec<(TcpListener, FirewallTag)>,
    relays: Vec<Relay>,
    /// Routing entries, in rule order.
    pub(crate) entries: Vec<RouteEntry>,
    /// Addresses where no handshake ever completes, with what a SYN there means (for the watcher).
    pub(crate) silent: Vec<Silent>,
}

/// An address where the kernel answers a SYN itself (RST) or never (a full accept queue), with the
/// rule it stands for.
#[derive(Debug, Clone)]
pub(crate) struct Silent {
    pub(crate) address: SocketAddr,
    pub(crate) tag: FirewallTag,
    pub(crate) fate: &'static str,
}

impl Firewall {
    /// Bind everything the rules need and compute their routing entries. A rule is realised in
    /// each family it applies to that the lab serves (`ip` for v4, its v6 twin for v6), so a v6
    /// client meets a v6 black hole or closed port, and an entry's family is its address's.
    pub(crate) async fn bind(
        rules: &[FirewallRule],
        targets: &[Target<'_>],
        ip: IpAddr,
    ) -> Result<Firewall, LabError> {
        let served_v6 = targets.iter().any(|target| target.address.is_ipv6());
        let lab_families: Vec<Family> = if served_v6 {
            vec![Family::V4, Family::V6]
        } else {
            vec![Family::V4]
        };
        let ip_of = |family: Family| match family {
            Family::V4 if ip.is_ipv4() => ip,
            Family::V4 => Family::V4.loopback(),
            Family::V6 => super::bind::v6_ip(ip),
        };
        let no_listener = FirewallTag {
            rule: "no listener: a known name on a port nothing serves, or a control API reject"
                .to_owned(),
            action: "reject".to_owned(),
        };
        let (closed, closed_address) = closed_port(ip_of(Family::V4), "closed port")?;
        let mut firewall = Firewall {
            closed: vec![closed],
            closed_address,
            closed_v6: None,
            blackholes: Vec::new(),
            hangs: Vec::new(),
            relays: Vec::new(),
            entries: Vec::new(),
            silent: Vec::new(),
        };
        firewall.silent(closed_address, &no_listener, REFUSED);
        if served_v6 {
            let (closed, address) = closed_port(ip_of(Family::V6), "closed port (v6)")?;
            firewall.closed.push(closed);
            firewall.closed_v6 = Some(address);
            firewall.silent(address, &no_listener, REFUSED);
        }
        for (index, rule) in rules.iter().enumerate() {
            let tag = describe(index, rule);
            let families: Vec<Family> = match rule.family {
                Some(family) => vec![family],
                None => lab_families.clone(),
            };
            let whole_rule = matches!(
                rule.action,
                FirewallAction::Reject | FirewallAction::Drop | FirewallAction::Hang
            );
            if whole_rule {
                for family in families {
                    let address = firewall.place(&rule.action, ip_of(family), &tag).await?;
                    firewall.entries.push(RouteEntry {
                        from: rule.from.clone(),
                        hosts: rule.hosts.clone(),
                        port: rule.port,
                        address,
                        rule: Some(tag.clone()),
                    });
                }
                continue;
            }
            for target in targets {
                if rule.port.is_some_and(|port| port != target.port)
                    || !families.contains(&Family::of(target.address.ip()))
                {
                    continue;
                }
                for host in target.hosts {
                    let Some(hosts) = overlap(&rule.hosts, host) else {
                        continue;
                    };
                    let address = match middlebox(&rule.action) {
                        None => target.address,
                        Some(kind) => {
                            firewall.relay(target.address.ip(), kind, target.address, &tag)?
                        }
                    };
                    firewall.entries.push(RouteEntry {
                        from: rule.from.clone(),
                        hosts,
                        port: Some(target.port),
                        address,
                        rule: Some(tag.clone()),
                    });
                }
            }
        }
        Ok(firewall)
    }

    /// Bind the one place a reject, drop or hang rule sends its traffic to, on `ip`.
    async fn place(
        &mut self,
        action: &FirewallAction,
        ip: IpAddr,
        tag: &FirewallTag,
    ) -> Result<SocketAddr, LabError> {
        match action {
            FirewallAction::Reject => {
                let (socket, address) = closed_port(ip, &tag.rule)?;
                self.closed.push(socket);
                self.silent(address, tag, REFUSED);
                Ok(address)
            }
            FirewallAction::Drop => {
                let hole = BlackHole::open(ip).await?;
                let address = hole.address;
                self.blackholes.push(hole);
                self.silent(address, tag, DROPPED);
                Ok(address)
            }
            _ => {
                let listener = listen(ip, &format!("hang for {}", tag.rule))?;
                let address = local(&listener, &tag.rule)?;
                self.hangs.push((listener, tag.clone()));
                Ok(address)
            }
        }
    }

    fn silent(&mut self, address: SocketAddr, tag: &FirewallTag, fate: &'static str) {
        self.silent.push(Silent {
            address,
            tag: tag.clone(),
            fate,
        });
    }

    fn relay(
        &mut self,
        ip: IpAddr,
        kind: Middlebox,
        target: SocketAddr,
        tag: &FirewallTag,
    ) -> Result<SocketAddr, LabError> {
        if let Some(existing) = self
            .relays
            .iter()
            .find(|relay| relay.kind == kind && relay.target == target && relay.rule == *tag)
        {
            return local(&existing.listener, &tag.rule);
        }
        let listener = listen(ip, &format!("middlebox for {}", tag.rule))?;
        let address = local(&listener, &tag.rule)?;
        self.relays.push(Relay {
            listener,
            kind,
            target,
            rule: tag.clone(),
        });
        Ok(address)
    }

    /// The addresses whose packets only a raw socket can show the capture (the closed ports and
    /// black holes, the same places the SYN watcher records), each with the rule words written on
    /// its first packet.
    pub(crate) fn watched(&self) -> Vec<Watched> {
        self.silent
            .iter()
            .map(|place| Watched {
                address: place.address,
                reason: format!(
                    "firewall {} (SYN {}): {}",
                    place.tag.action, place.fate, place.tag.rule
                ),
            })
            .collect()
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
        for family in [Family::V4, Family::V6] {
            if let Some(watcher) = watch::SynWatcher::open(family, &self.silent, serving) {
                serving.tasks.spawn(watcher.run());
            }
        }
        let held = (self.closed, self.blackholes);
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

/// What a SYN at a closed port meets.
pub(crate) const REFUSED: &str = "refused with RST";
/// What a SYN at a black hole meets.
pub(crate) const DROPPED: &str = "dropped";

/// A rule in the timeline's words: `rule 1: drop *.msappproxy.net:443 from client` (numbered from 1,
/// as a person counts the scenario's `[[firewall]]` tables).
fn describe(index: usize, rule: &FirewallRule) -> FirewallTag {
    let port = rule.port.map_or("*".to_owned(), |port| port.to_string());
    let action = match &rule.action {
        FirewallAction::Allow => "allow".to_owned(),
        FirewallAction::Reject => "reject".to_owned(),
        FirewallAction::Drop => "drop".to_owned(),
        FirewallAction::Hang => "hang".to_owned(),
        FirewallAction::ResetAfter(bytes) => format!("reset after {bytes} bytes"),
        FirewallAction::KillTls12 => "reset TLS 1.2 handshakes".to_owned(),
        FirewallAction::KillSha512 => "reset on a SHA-512 certificate".to_owned(),
    };
    let family = rule
        .family
        .map_or(String::new(), |family| format!(" over {family}"));
    FirewallTag {
        rule: format!(
            "rule {}: {action} {}:{port} from {}{family}",
            index + 1,
            rule.hosts,
            rule.from
        ),
        action,
    }
}

/// Accept and stay silent until the client gives up or the lab stops.
async fn serve_hang(listener: TcpListener, tag: FirewallTag, serving: Serving) {
    loop {
        let accepted = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let local = stream.local_addr().unwrap_or(peer);
        let timeline = serving.timeline.clone();
        let (id, leg) = timeline.arrival(SOURCE, peer, local);
        timeline.record_on(SOURCE, Some(id), decision(&tag, leg.as_ref(), local));
        let token = serving.shutdown.clone();
        let tap = serving.clone();
        let reason = format!("client to a firewall hang ({})", tag.rule);
        serving.tasks.spawn(Timeline::in_connection(id, async move {
            let stream = tap.tapped(stream, Side::Accepted, || reason).await;
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
                SOURCE,
                EventKind::Closed {
                    bytes_up: received,
                    bytes_down: 0,
                    reason: format!("{reason} (the firewall answered nothing)"),
                },
            );
        }));
    }
}

/// The timeline's source name for the firewall and its middleboxes.
pub(crate) const SOURCE: &str = "firewall";

/// The firewall event for traffic arriving at `local` that `tag`'s rule decided: a proxy's when it
/// came on a leg the lab opened, else the client's.
pub(crate) fn decision(tag: &FirewallTag, leg: Option<&Leg>, local: SocketAddr) -> EventKind {
    EventKind::Firewall {
        rule: tag.rule.clone(),
        vantage: leg.map_or_else(|| "client".to_owned(), |leg| leg.opened_by.clone()),
        action: tag.action.clone(),
        destination: local.to_string(),
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
