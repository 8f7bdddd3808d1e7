//! Bound sockets that imitate a firewall without root: a closed port (reject) and a black hole (drop).

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::lab::error::LabError;

/// How long the lab waits for its own filler connection into a black hole.
const FILLER_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// A bound TCP socket that never listens: connecting to it is refused (the kernel answers the SYN
/// with an RST), exactly like a firewall rule that rejects.
pub(crate) fn closed_port(ip: IpAddr, what: &str) -> Result<(TcpSocket, SocketAddr), LabError> {
    closed_port_at(SocketAddr::new(ip, 0), what)
}

/// [`closed_port`] on a chosen address (port 0 picks one).
pub(crate) fn closed_port_at(
    address: SocketAddr,
    what: &str,
) -> Result<(TcpSocket, SocketAddr), LabError> {
    let ip = address.ip();
    let bind_error = |source| LabError::Bind {
        what: what.to_owned(),
        address,
        source,
    };
    let socket = new_socket(ip).map_err(bind_error)?;
    socket.bind(address).map_err(bind_error)?;
    let local = socket.local_addr().map_err(bind_error)?;
    Ok((socket, local))
}

/// A listener that never accepts and whose accept queue the lab fills itself, so the kernel drops
/// every further SYN: a client retransmits and times out, as behind a firewall that drops.
#[derive(Debug)]
pub(crate) struct BlackHole {
    /// Kept open, never accepted from.
    _listener: TcpListener,
    /// The lab's own connections that fill the queue.
    _fillers: Vec<TcpStream>,
    /// Where the black hole is.
    pub(crate) address: SocketAddr,
}

impl BlackHole {
    /// Bind the black hole and fill its accept queue.
    pub(crate) async fn open(ip: IpAddr) -> Result<BlackHole, LabError> {
        BlackHole::open_at(SocketAddr::new(ip, 0)).await
    }

    /// [`BlackHole::open`] on a chosen address (port 0 picks one).
    pub(crate) async fn open_at(requested: SocketAddr) -> Result<BlackHole, LabError> {
        let ip = requested.ip();
        let bind_error = |source| LabError::Bind {
            what: "black hole".to_owned(),
            address: requested,
            source,
        };
        let socket = new_socket(ip).map_err(bind_error)?;
        // A fixed address (a networked lab's door) may still hold an earlier lab's fillers in
        // TIME_WAIT; they must not stop a new lab from binding it.
        socket.set_reuseaddr(true).map_err(bind_error)?;
        socket.bind(requested).map_err(bind_error)?;
        // Linux keeps at most backlog + 1 established connections waiting; with 0 one filler is enough,
        // after which the listener is full and incoming SYNs are dropped without an answer.
        let listener = socket.listen(0).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        // Without SYN cookies a zero backlog already drops every SYN, the filler's too: then the
        // hole is complete without it, and the short wait bounds the start-up cost.
        let filler = tokio::time::timeout(FILLER_WAIT, TcpStream::connect(address)).await;
        let fillers = match filler {
            Ok(Ok(stream)) => vec![stream],
            Ok(Err(source)) => {
                return Err(LabError::Setup {
                    what: format!("black hole filler for {address}"),
                    source,
                })
            }
            Err(_elapsed) => Vec::new(),
        };
        Ok(BlackHole {
            _listener: listener,
            _fillers: fillers,
            address,
        })
    }
}

fn new_socket(ip: IpAddr) -> std::io::Result<TcpSocket> {
    match ip {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(v6) if v6.is_loopback() => TcpSocket::new_v6(),
        IpAddr::V6(_) => {
            let socket = TcpSocket::new_v6()?;
            freebind_v6(&socket)?;
            Ok(socket)
        }
    }
}

/// Let a v6 socket bind an address of a prefix routed locally (`ip -6 route add local PREFIX dev
/// lo`) without the address being assigned to an interface: v4 allows that for local routes, v6 only
/// with IPV6_FREEBIND. Used for a networked lab's v6 host addresses.
fn freebind_v6(socket: &TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    super::rawsock::set_flag(socket.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_FREEBIND)
}

/// Accept-queue length of lab listeners: deep enough that thousands of clients connecting at once are
/// queued rather than dropped (the kernel caps it at net.core.somaxconn).
const LISTEN_BACKLOG: u32 = 8192;

/// Bind a listening TCP socket with a normal backlog.
pub(crate) fn listen(ip: IpAddr, what: &str) -> Result<TcpListener, LabError> {
    listen_at(SocketAddr::new(ip, 0), what)
}

/// [`listen`] on a chosen address (port 0 picks one).
pub(crate) fn listen_at(address: SocketAddr, what: &str) -> Result<TcpListener, LabError> {
    let ip = address.ip();
    let bind_error = |source| LabError::Bind {
        what: what.to_owned(),
        address,
        source,
    };
    let socket = new_socket(ip).map_err(bind_error)?;
    // As std and tokio listeners do: the port can be bound again at once after the lab stops, even
    // while connections the lab closed first sit in TIME_WAIT on it.
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(address).map_err(bind_error)?;
    socket.listen(LISTEN_BACKLOG).map_err(bind_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn closed_port_refuses() {
        let (_socket, address) = closed_port(LOOPBACK, "test").unwrap();
        let error = TcpStream::connect(address).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn black_hole_times_out_instead_of_refusing() {
        let hole = BlackHole::open(LOOPBACK).await.unwrap();
        let attempt =
            tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(hole.address))
                .await;
        assert!(attempt.is_err(), "connect finished: {attempt:?}");
    }
}
