//! How a lab sits on a network: one address per lab host, well-known or ephemeral ports, and the
//! "front doors" a real client reaches through the lab's DNS alone.
//!
//! The library default is unchanged (everything on 127.0.0.1, ephemeral ports). With
//! [`NetworkOptions`] the lab claims its own block of addresses (a /24 of 127.0.0.0/8, or the
//! addresses given), binds its DNS server, proxies and one door per host and port there, and its DNS
//! server answers each host's address. Behind the doors the lab is as before: a door forwards to the
//! endpoint (or to the firewall's relay) its client vantage leads to; a dropped destination's door is
//! a full-backlog listener (the kernel drops SYNs) and a rejected one has nothing bound (the kernel
//! answers RST).

mod block;
pub(crate) mod doors;
mod layout;

use std::net::{IpAddr, SocketAddr};

pub(crate) use layout::Placement;

/// Which ports the lab's doors, DNS server and proxies use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PortMode {
    /// Ports the kernel picks (no privilege needed; clients need the address map).
    #[default]
    Ephemeral,
    /// The scenario's own ports (443, 80, 5671…), DNS on 53, proxies on 3128 (Squid) or 8080:
    /// needs root or CAP_NET_BIND_SERVICE, else the lab falls back to ephemeral and says so.
    WellKnown,
}

impl std::str::FromStr for PortMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ephemeral" => Ok(PortMode::Ephemeral),
            "well-known" => Ok(PortMode::WellKnown),
            other => Err(format!(
                "unknown port mode `{other}`: expected `well-known` or `ephemeral`"
            )),
        }
    }
}

impl std::fmt::Display for PortMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortMode::Ephemeral => "ephemeral",
            PortMode::WellKnown => "well-known",
        })
    }
}

/// Where the lab's host addresses come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Addresses {
    /// A /24 of 127.0.0.0/8 claimed for this lab alone (labs side by side never share one).
    #[default]
    LoopbackBlock,
    /// Addresses allocated from a prefix (an interface's subnet, or one routed locally), in order
    /// from its first host address.
    Prefix {
        /// The network address.
        network: IpAddr,
        /// The prefix length.
        len: u8,
    },
    /// Exactly these addresses, in order: the DNS server first, then proxies, then hosts.
    List(Vec<IpAddr>),
}

/// How a lab is put on a network, beyond the library default of 127.0.0.1 and ephemeral ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkOptions {
    /// Which ports.
    pub ports: PortMode,
    /// Which addresses.
    pub addresses: Addresses,
    /// A v6 prefix to give each host a second, v6 address from (its DNS answer's AAAA record); `None`
    /// keeps the lab v4 only.
    pub v6_prefix: Option<(std::net::Ipv6Addr, u8)>,
}

/// What a door at a host's address does, as a client meets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorKind {
    /// Accepts and forwards to what the client vantage reaches (an endpoint, a middlebox, a silent
    /// listener).
    Forward(SocketAddr),
    /// Never completes a handshake: SYNs are dropped by the kernel (a firewall's drop).
    Drop,
    /// Nothing is bound there: the kernel answers RST (a firewall's reject, or a port not served).
    Refuse,
}

/// One door: what a client meets at a host's address on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Door {
    /// The port the scenario names (what the client believes in).
    pub port: u16,
    /// Where the door really is (the same port in well-known mode).
    pub address: SocketAddr,
    /// What it does.
    pub kind: DoorKind,
}

/// One lab host: the name pattern its DNS answer covers, its address and its doors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddress {
    /// The host pattern (`login.microsoftonline.com`, `*.msappproxy.net`).
    pub pattern: String,
    /// Its address (the lab DNS server's A or AAAA answer).
    pub ip: IpAddr,
    /// Its doors, by port.
    pub doors: Vec<Door>,
}

/// Where a networked lab really is: what `up` prints and writes in its ready file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// The port mode in effect (after any fall-back).
    pub ports: PortMode,
    /// Why the lab fell back to ephemeral ports, if it did.
    pub fallback: Option<String>,
    /// The lab DNS server, if the lab runs one.
    pub dns: Option<SocketAddr>,
    /// Each proxy's address, by name.
    pub proxies: Vec<(String, SocketAddr)>,
    /// Each host's address and doors.
    pub hosts: Vec<HostAddress>,
}

impl NetworkInfo {
    /// The address the lab DNS server answers for a host pattern, if the lab placed it.
    pub fn host(&self, pattern: &str) -> Option<&HostAddress> {
        self.hosts
            .iter()
            .find(|host| host.pattern.eq_ignore_ascii_case(pattern))
    }
}

/// A networked lab's placement and doors, held by the lab while it runs.
#[derive(Debug)]
pub(crate) struct Attached {
    /// What the lab reports.
    pub(crate) info: NetworkInfo,
    _doors: doors::Doors,
    _placement: Placement,
}

impl Attached {
    /// Join the placement and the doors into what the lab reports.
    pub(crate) fn new(
        placement: Placement,
        doors: doors::Doors,
        proxies: &[crate::lab::ProxyHandle],
        dns: Option<SocketAddr>,
    ) -> Attached {
        let info = NetworkInfo {
            ports: placement.ports,
            fallback: placement.fallback.clone(),
            dns,
            proxies: proxies
                .iter()
                .map(|proxy| (proxy.name().to_owned(), proxy.address()))
                .collect(),
            hosts: doors.hosts.clone(),
        };
        Attached {
            info,
            _doors: doors,
            _placement: placement,
        }
    }
}
