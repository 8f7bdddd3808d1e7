//! The lab's routing table: where a (host, port) really leads, seen from the client or from a proxy.
//!
//! Firewall rules are realised here: a dropped destination leads to a listener whose accept queue is
//! full, a rejected one to a bound port that is not listening, a middlebox to a relay in front of the
//! endpoint. Clients and proxies then simply connect, and see what they would see on a real network.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::pattern::host_matches;
use super::plan::{Families, Family, Vantage};

/// Where a connection attempt leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Connect to this address (an endpoint, a middlebox in front of one, a closed port, a black hole,
    /// or a declared real destination).
    Connect(SocketAddr),
    /// The name does not exist in the lab: a resolver answers NXDOMAIN.
    UnknownHost,
    /// An IP literal the plan never declared: the lab refuses to relay there (it is not an open proxy).
    UndeclaredAddress,
}

/// One routing entry: traffic from `from` to a host matching `hosts` on `port` goes to `address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// Whose traffic the entry applies to.
    pub from: Vantage,
    /// Host pattern.
    pub hosts: String,
    /// Port clients believe in; `None` covers every port.
    pub port: Option<u16>,
    /// Where the traffic goes.
    pub address: SocketAddr,
    /// The firewall rule that made this entry, if a rule did (an endpoint's own entry has none).
    pub rule: Option<FirewallTag>,
}

/// The firewall rule behind a routing decision, in the words the timeline records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallTag {
    /// The rule (`rule 1: drop *.msappproxy.net:443 from client`).
    pub rule: String,
    /// What it does (`drop`, `reject`, `hang`, `reset after 100 bytes`, `allow`).
    pub action: String,
}

/// Where a connection attempt leads, and the firewall rule that decided it, if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where it leads.
    pub route: Route,
    /// The rule that decided it.
    pub rule: Option<FirewallTag>,
}

/// What a firewall rule set through the control API does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveAction {
    /// Let the traffic through to the endpoint, past any firewall rule of the scenario.
    Allow,
    /// Send it here instead (the lab's closed port for reject, a black hole for drop).
    Connect(SocketAddr),
}

impl LiveAction {
    /// The action in the timeline's words: a connect to the lab's closed port is a reject, any
    /// other a drop (the control API has no other places to send traffic).
    fn word(self, closed: Option<SocketAddr>) -> &'static str {
        match self {
            LiveAction::Allow => "allow",
            LiveAction::Connect(address) if Some(address) == closed => "reject",
            LiveAction::Connect(_) => "drop",
        }
    }
}

/// A firewall rule set while the lab runs; the newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    /// Whose traffic it applies to.
    pub from: Vantage,
    /// Host pattern.
    pub hosts: String,
    /// Port; `None` covers every port.
    pub port: Option<u16>,
    /// What it does.
    pub action: LiveAction,
}

/// Changes to names and routes made while the lab runs.
#[derive(Debug, Default)]
struct LiveRoutes {
    rules: Vec<LiveRule>,
    /// Names made NXDOMAIN.
    removed: Vec<String>,
    /// Names given back (a scenario's NXDOMAIN lifted).
    restored: Vec<String>,
}

/// The routing table of one lab: fixed entries from the scenario once every listener is bound,
/// and the changes the control API makes on top of them.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Entries in priority order: the first that matches wins.
    entries: Vec<RouteEntry>,
    /// Names that exist in the lab (patterns); a known name on an unserved port is refused, not unknown.
    names: Vec<String>,
    /// Names forced to NXDOMAIN.
    nxdomain: Vec<String>,
    /// Names only proxies resolve: NXDOMAIN for the client.
    proxy_only: Vec<String>,
    /// A bound, non-listening address: connecting to it is refused.
    closed: Option<SocketAddr>,
    /// Its v6 twin, for v6 clients, when some endpoint answers in v6.
    closed_v6: Option<SocketAddr>,
    /// Proxies by name, for chaining and for clients.
    proxies: Vec<(String, SocketAddr)>,
    /// Per-host addresses in 127.0.0.0/8, if the plan asked for them.
    host_addresses: Vec<(String, IpAddr)>,
    /// How many of `entries` come from the scenario's firewall rules (they come first).
    firewall_entries: usize,
    /// Changes made while the lab runs.
    live: Arc<RwLock<LiveRoutes>>,
}

impl World {
    /// An empty world; `closed` is the address used for known names on ports nothing serves.
    pub fn new(closed: Option<SocketAddr>) -> Self {
        World {
            closed,
            ..World::default()
        }
    }

    /// Give the world a refused address for v6 clients (a lab with a v6 endpoint has one).
    pub fn set_closed_v6(&mut self, closed: SocketAddr) {
        self.closed_v6 = Some(closed);
    }

    /// Add a routing entry after the existing ones.
    pub fn push(&mut self, entry: RouteEntry) {
        self.entries.push(entry);
    }

    /// Mark every entry pushed so far as a firewall entry (a live `allow` skips them).
    pub fn end_firewall_entries(&mut self) {
        self.firewall_entries = self.entries.len();
    }

    fn live(&self) -> RwLockReadGuard<'_, LiveRoutes> {
        self.live.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Put a firewall rule in front of every other (the control API's firewall route).
    pub fn add_live_rule(&self, rule: LiveRule) {
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        live.rules
            .retain(|r| !(r.from == rule.from && r.hosts == rule.hosts && r.port == rule.port));
        live.rules.insert(0, rule);
    }

    /// Make `name` exist (`true`) or answer NXDOMAIN (`false`) from now on.
    pub fn set_name_exists(&self, name: &str, exists: bool) {
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        let name = name.to_ascii_lowercase();
        live.removed.retain(|n| *n != name);
        live.restored.retain(|n| *n != name);
        if exists {
            live.restored.push(name);
        } else {
            live.removed.push(name);
        }
    }

    /// Undo every change made while the lab ran.
    pub fn reset_live(&self) {
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = LiveRoutes::default();
    }

    /// Declare that a host pattern exists in the lab's namespace.
    pub fn declare_name(&mut self, pattern: &str) {
        self.names.push(pattern.to_owned());
    }

    /// Force a name to NXDOMAIN.
    pub fn declare_nxdomain(&mut self, name: &str) {
        self.nxdomain.push(name.to_owned());
    }

    /// Make a name known to the proxies' resolvers only (the client's answers NXDOMAIN).
    pub fn declare_proxy_only(&mut self, pattern: &str) {
        self.proxy_only.push(pattern.to_owned());
    }

    /// Whether `host` is one only the proxies' resolvers know.
    pub fn is_proxy_only(&self, host: &str) -> bool {
        self.proxy_only
            .iter()
            .any(|pattern| host_matches(pattern, host))
    }

    /// Register a proxy's listening address.
    pub fn add_proxy(&mut self, name: &str, address: SocketAddr) {
        self.proxies.push((name.to_owned(), address));
    }

    /// Give a host pattern its own loopback address.
    pub fn add_host_address(&mut self, pattern: &str, ip: IpAddr) {
        self.host_addresses.push((pattern.to_owned(), ip));
    }

    /// Where a connection from `from` to `host:port` leads.
    pub fn route(&self, host: &str, port: u16, from: &Vantage) -> Route {
        self.decide(host, port, from).route
    }

    /// Where a connection from `from` to `host:port` leads, and which firewall rule (of the scenario
    /// or set through the control API) decided it, in the family a client prefers for the host:
    /// v4 when the lab answers it in v4, else v6 ([`World::decide_in`]).
    pub fn decide(&self, host: &str, port: u16, from: &Vantage) -> Decision {
        let family = if self.families_of(host).v4 {
            Family::V4
        } else {
            Family::V6
        };
        self.decide_in(host, port, from, family)
    }

    /// [`World::decide`] for a connection over `family`: only entries whose address is of that
    /// family apply (a v6 drop leaves v4 untouched), and a known name on an unserved port leads to
    /// that family's refused address.
    pub fn decide_in(&self, host: &str, port: u16, from: &Vantage, family: Family) -> Decision {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let unruled = |route| Decision { route, rule: None };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return unruled(self.route_address(SocketAddr::new(ip, port), from));
        }
        let proxy_side = matches!(from, Vantage::Proxy(_) | Vantage::AnyProxy);
        if !self.resolves(host) || (!proxy_side && self.is_proxy_only(host)) {
            return unruled(Route::UnknownHost);
        }
        let live = self.live();
        let rule = live.rules.iter().find(|rule| {
            rule.from.covers(from)
                && rule.port.is_none_or(|p| p == port)
                && host_matches(&rule.hosts, host)
        });
        let live_tag = rule.map(|rule| FirewallTag {
            rule: format!(
                "control API rule: {} {}:{} from {}",
                rule.action.word(self.closed),
                rule.hosts,
                rule.port.map_or("*".to_owned(), |p| p.to_string()),
                rule.from
            ),
            action: rule.action.word(self.closed).to_owned(),
        });
        let skip = match rule.map(|rule| rule.action) {
            Some(LiveAction::Connect(address)) => {
                return Decision {
                    route: Route::Connect(address),
                    rule: live_tag,
                }
            }
            Some(LiveAction::Allow) => self.firewall_entries,
            None => 0,
        };
        drop(live);
        let hit = self.entries[skip..].iter().find(|entry| {
            entry.from.covers(from)
                && entry.port.is_none_or(|p| p == port)
                && Family::of(entry.address.ip()) == family
                && host_matches(&entry.hosts, host)
        });
        let closed = match family {
            Family::V6 => self.closed_v6.or(self.closed),
            Family::V4 => self.closed,
        };
        match (hit, closed) {
            (Some(entry), _) => Decision {
                route: Route::Connect(entry.address),
                rule: live_tag.or_else(|| entry.rule.clone()),
            },
            (None, Some(closed)) => Decision {
                route: Route::Connect(closed),
                rule: live_tag,
            },
            (None, None) => unruled(Route::UnknownHost),
        }
    }

    /// The families the lab answers `host` in: those of its endpoints' addresses (v4 alone for a
    /// name no endpoint serves, as a UDP responder's).
    pub fn families_of(&self, host: &str) -> Families {
        let mut families = Families {
            v4: false,
            v6: false,
        };
        for entry in &self.entries[self.firewall_entries..] {
            if host_matches(&entry.hosts, host) {
                match Family::of(entry.address.ip()) {
                    Family::V4 => families.v4 = true,
                    Family::V6 => families.v6 = true,
                }
            }
        }
        if !families.v6 {
            families.v4 = true;
        }
        families
    }

    /// An IP literal is relayed only when it is one of the lab's own declared addresses.
    fn route_address(&self, target: SocketAddr, from: &Vantage) -> Route {
        let declared = self
            .entries
            .iter()
            .any(|entry| entry.from.covers(from) && entry.address == target);
        if declared {
            Route::Connect(target)
        } else {
            Route::UndeclaredAddress
        }
    }

    /// Whether a name exists in the lab (what the lab DNS server and the proxies' resolvers answer).
    pub fn resolves(&self, host: &str) -> bool {
        let live = self.live();
        if live.removed.iter().any(|name| host_matches(name, host)) {
            return false;
        }
        let restored = live.restored.iter().any(|name| host_matches(name, host));
        let forced_nx = !restored && self.nxdomain.iter().any(|name| host_matches(name, host));
        !forced_nx && self.names.iter().any(|pattern| host_matches(pattern, host))
    }

    /// The lab's refused address, if it has one.
    pub fn closed_address(&self) -> Option<SocketAddr> {
        self.closed
    }

    /// The address the lab DNS server answers for `host`, if it exists (its v4 one when it has
    /// both; a name only the proxies resolve has none, for the clients this server answers).
    pub fn address_of(&self, host: &str) -> Option<IpAddr> {
        self.addresses_of(host).first().copied()
    }

    /// Every address the lab DNS server answers for `host` (its v4 and v6 address when it has both),
    /// or none when it does not exist. Without per-host addresses a host is answered with the lab's
    /// own address of each family it is served in (127.0.0.1, ::1). A name only the proxies resolve
    /// has none, for the clients this server answers.
    pub fn addresses_of(&self, host: &str) -> Vec<IpAddr> {
        if !self.resolves(host) || self.is_proxy_only(host) {
            return Vec::new();
        }
        let pattern = self
            .host_addresses
            .iter()
            .find(|(pattern, _)| host_matches(pattern, host))
            .map(|(pattern, _)| pattern.as_str());
        let families = self.families_of(host);
        if let Some(pattern) = pattern {
            // A networked lab gives every host a v4 (and maybe a v6) address; a host served in v6
            // only keeps its AAAA alone.
            return self
                .host_addresses
                .iter()
                .filter(|(p, ip)| p == pattern && (families.v4 || ip.is_ipv6()))
                .map(|(_, ip)| *ip)
                .collect();
        }
        let v4 = self.closed.map(|addr| addr.ip()).filter(|_| families.v4);
        let v6 = families.v6.then(|| {
            self.closed_v6
                .map_or(Family::V6.loopback(), |address| address.ip())
        });
        v4.into_iter().chain(v6).collect()
    }

    /// A proxy's listening address by name.
    pub fn proxy_address(&self, name: &str) -> Option<SocketAddr> {
        self.proxies
            .iter()
            .find(|(proxy, _)| proxy == name)
            .map(|(_, address)| *address)
    }

    /// Every routing entry, in priority order.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn world() -> World {
        let mut world = World::new(Some(addr(9)));
        world.declare_name("*.msappproxy.net");
        world.declare_name("login.microsoftonline.com");
        world.declare_nxdomain("gone.msappproxy.net");
        world.push(RouteEntry {
            from: Vantage::Client,
            hosts: "*.msappproxy.net".into(),
            port: Some(443),
            address: addr(1000),
            rule: None,
        });
        world.push(RouteEntry {
            from: Vantage::Any,
            hosts: "*.msappproxy.net".into(),
            port: Some(443),
            address: addr(2000),
            rule: None,
        });
        world
    }

    #[test]
    fn first_matching_entry_for_the_vantage_wins() {
        let world = world();
        assert_eq!(
            world.route("a.msappproxy.net", 443, &Vantage::Client),
            Route::Connect(addr(1000))
        );
        assert_eq!(
            world.route("a.msappproxy.net", 443, &Vantage::Proxy("corp".into())),
            Route::Connect(addr(2000))
        );
    }

    #[test]
    fn known_name_on_unserved_port_is_refused_and_unknown_name_is_nxdomain() {
        let world = world();
        assert_eq!(
            world.route("a.msappproxy.net", 80, &Vantage::Client),
            Route::Connect(addr(9))
        );
        assert_eq!(
            world.route("example.org", 443, &Vantage::Client),
            Route::UnknownHost
        );
        assert_eq!(
            world.route("gone.msappproxy.net", 443, &Vantage::Client),
            Route::UnknownHost
        );
    }

    #[test]
    fn a_proxy_only_name_is_unknown_to_the_client_and_routed_for_proxies() {
        let mut world = world();
        world.declare_proxy_only("intra.msappproxy.net");
        assert_eq!(
            world.route("intra.msappproxy.net", 443, &Vantage::Client),
            Route::UnknownHost
        );
        assert_eq!(
            world.route("intra.msappproxy.net", 443, &Vantage::Proxy("corp".into())),
            Route::Connect(addr(2000))
        );
        assert_eq!(world.address_of("intra.msappproxy.net"), None);
        assert!(world.address_of("a.msappproxy.net").is_some());
    }

    #[test]
    fn only_declared_addresses_are_relayed() {
        let world = world();
        assert_eq!(
            world.route("127.0.0.1", 2000, &Vantage::Any),
            Route::Connect(addr(2000))
        );
        assert_eq!(
            world.route("[::1]", 22, &Vantage::Any),
            Route::UndeclaredAddress
        );
        assert_eq!(
            world.route("127.0.0.1", 22, &Vantage::Any),
            Route::UndeclaredAddress
        );
    }
}
