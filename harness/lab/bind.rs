//! Phase one of a lab start: bind every socket the plan needs, before anything is served.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket, UdpSocket};

use super::error::LabError;
use super::firewall::blackhole::{closed_port_at, listen_at};
use super::net::Placement;
use super::plan::{Family, LabPlan};

/// Every socket of phase one except the firewall's, in plan order.
pub(crate) struct Bound {
    /// Each endpoint's listener and address (on the v6 address for an endpoint that is v6 only).
    pub(crate) endpoints: Vec<(TcpListener, SocketAddr)>,
    /// Each dual-stack endpoint's second listener, on the v6 address; `None` for one family only.
    pub(crate) twins: Vec<Option<(TcpListener, SocketAddr)>>,
    /// Each proxy's socket and address.
    pub(crate) proxies: Vec<(ProxySocket, SocketAddr)>,
    /// The DNS server's sockets, if the plan runs one.
    pub(crate) dns: Option<(UdpSocket, Option<TcpListener>, SocketAddr)>,
    /// Each UDP responder's socket and address.
    pub(crate) udp: Vec<(UdpSocket, SocketAddr)>,
}

impl Bound {
    /// Where each endpoint listens, in plan order.
    pub(crate) fn endpoint_addresses(&self) -> Vec<SocketAddr> {
        self.endpoints.iter().map(|(_, address)| *address).collect()
    }

    /// Where each dual-stack endpoint's v6 listener is, in plan order.
    pub(crate) fn twin_addresses(&self) -> Vec<Option<SocketAddr>> {
        self.twins
            .iter()
            .map(|twin| twin.as_ref().map(|(_, address)| *address))
            .collect()
    }
}

/// The address a lab bound on `ip` uses for v6 listeners: `ip` itself when it is v6, else ::1.
pub(crate) fn v6_ip(ip: IpAddr) -> IpAddr {
    if ip.is_ipv6() {
        ip
    } else {
        Family::V6.loopback()
    }
}

/// Bind the endpoints, proxies, DNS server and UDP responders of `plan` on `ip`; with a network
/// placement, the proxies and the DNS server bind where it puts them.
pub(crate) fn all(
    plan: &LabPlan,
    ip: IpAddr,
    placement: Option<&Placement>,
) -> Result<Bound, LabError> {
    let endpoints = plan
        .endpoints
        .iter()
        .map(|endpoint| {
            let own = if endpoint.families.v4 { ip } else { v6_ip(ip) };
            endpoint_socket(own, &endpoint.name)
        })
        .collect::<Result<_, _>>()?;
    let twins = plan
        .endpoints
        .iter()
        .map(|endpoint| {
            (endpoint.families.v4 && endpoint.families.v6)
                .then(|| endpoint_socket(v6_ip(ip), &format!("{} (v6)", endpoint.name)))
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    let proxies = plan
        .proxies
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let at = placement
                .and_then(|placement| placement.proxy_address(plan, index))
                .unwrap_or(SocketAddr::new(ip, 0));
            proxy(at, &p.name, p.down)
        })
        .collect::<Result<_, _>>()?;
    let dns = match placement {
        // A lab on a network always runs its DNS server: it is how a real client finds the hosts.
        Some(placement) => Some(dns_at(placement.dns_address())?),
        _ => plan.names.dns.then(|| dns(ip)).transpose()?,
    };
    let udp = plan
        .udp
        .iter()
        .map(|responder| udp(ip, &format!("udp {}", responder.name)))
        .collect::<Result<_, _>>()?;
    Ok(Bound {
        endpoints,
        twins,
        proxies,
        dns,
        udp,
    })
}

/// A proxy's socket: listening, or bound and refusing (a proxy that is down).
pub(crate) enum ProxySocket {
    Listening(TcpListener),
    Down(TcpSocket),
}

/// Bind a proxy's socket.
fn proxy(at: SocketAddr, name: &str, down: bool) -> Result<(ProxySocket, SocketAddr), LabError> {
    let what = format!("proxy {name}");
    if down {
        let (socket, address) = closed_port_at(at, &what)?;
        return Ok((ProxySocket::Down(socket), address));
    }
    let listener = listen_at(at, &what)?;
    let address = local_tcp(&listener, &what, at.ip())?;
    Ok((ProxySocket::Listening(listener), address))
}

/// Bind a listening endpoint socket.
fn endpoint_socket(ip: IpAddr, name: &str) -> Result<(TcpListener, SocketAddr), LabError> {
    let what = format!("endpoint {name}");
    let listener = listen_at(SocketAddr::new(ip, 0), &what)?;
    let address = local_tcp(&listener, &what, ip)?;
    Ok((listener, address))
}

/// Bind a UDP socket on an ephemeral port.
fn udp(ip: IpAddr, what: &str) -> Result<(UdpSocket, SocketAddr), LabError> {
    udp_at(SocketAddr::new(ip, 0), what)
}

/// Bind a UDP socket on `requested` (port 0 picks one).
fn udp_at(requested: SocketAddr, what: &str) -> Result<(UdpSocket, SocketAddr), LabError> {
    let bind_error = |source| LabError::Bind {
        what: what.to_owned(),
        address: requested,
        source,
    };
    let socket = std::net::UdpSocket::bind(requested).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    let address = socket.local_addr().map_err(bind_error)?;
    let socket = UdpSocket::from_std(socket).map_err(bind_error)?;
    Ok((socket, address))
}

/// The DNS server's sockets: UDP on an ephemeral port, and TCP on the same port. The UDP port is chosen by
/// the kernel, so its TCP twin may be taken by another socket; a few fresh ports are tried before the
/// server settles for UDP alone.
fn dns(ip: IpAddr) -> Result<(UdpSocket, Option<TcpListener>, SocketAddr), LabError> {
    const ATTEMPTS: usize = 16;
    let mut attempt = 1;
    loop {
        let (socket, address) = udp(ip, "dns")?;
        let tcp = std::net::TcpListener::bind(address).and_then(|listener| {
            listener.set_nonblocking(true)?;
            TcpListener::from_std(listener)
        });
        match tcp {
            Ok(listener) => return Ok((socket, Some(listener), address)),
            Err(error) if attempt == ATTEMPTS => {
                tracing::warn!(%error, %address, "dns over tcp not available; serving udp only");
                return Ok((socket, None, address));
            }
            Err(error) => {
                tracing::debug!(%error, %address, "tcp twin of the dns port taken; trying another");
                attempt += 1;
            }
        }
    }
}

/// The DNS server's sockets on a chosen address: UDP there, and TCP on the same port. With port 0 the
/// kernel picks the UDP port and its TCP twin is tried as [`dns`] does; a fixed port must bind both.
fn dns_at(requested: SocketAddr) -> Result<(UdpSocket, Option<TcpListener>, SocketAddr), LabError> {
    if requested.port() == 0 {
        return dns(requested.ip());
    }
    let (socket, address) = udp_at(requested, "dns")?;
    let listener = listen_at(address, "dns over tcp")?;
    Ok((socket, Some(listener), address))
}

fn local_tcp(listener: &TcpListener, what: &str, ip: IpAddr) -> Result<SocketAddr, LabError> {
    listener.local_addr().map_err(|source| LabError::Bind {
        what: what.to_owned(),
        address: SocketAddr::new(ip, 0),
        source,
    })
}

/// Why the listener of an API the lab serves to people (the control API, the web view) was not
/// opened.
#[derive(Debug)]
pub(crate) enum ApiListenError {
    /// A non-loopback address without leave to use one.
    NotLoopback,
    /// Binding failed.
    Bind(std::io::Error),
}

/// Bind `address` for an API (the control API, the web view): loopback only unless
/// `allow_remote`, in which case `warning` is logged. Returns the listener and its real address.
pub(crate) fn api_listener(
    address: SocketAddr,
    allow_remote: bool,
    warning: &str,
) -> Result<(TcpListener, SocketAddr), ApiListenError> {
    if !address.ip().is_loopback() {
        if !allow_remote {
            return Err(ApiListenError::NotLoopback);
        }
        tracing::warn!(%address, "{warning}");
    }
    let listener = std::net::TcpListener::bind(address).map_err(ApiListenError::Bind)?;
    listener
        .set_nonblocking(true)
        .map_err(ApiListenError::Bind)?;
    let listener = TcpListener::from_std(listener).map_err(ApiListenError::Bind)?;
    let bound = listener.local_addr().map_err(ApiListenError::Bind)?;
    Ok((listener, bound))
}
