//! What no lab socket sees: the SYNs a firewall drop leaves unanswered and the RST of a rejected
//! port. As root (or with CAP_NET_RAW) a raw IPPROTO_TCP socket receives a copy of every TCP packet
//! the host receives, loopback included; a kernel filter (shared with the firewall's SYN watcher,
//! `firewall/rawsock.rs`) keeps only those of the watched ports, and the watcher keeps those to or from the firewall's drop and
//! reject addresses and writes them as they were, with their real timestamps (IPv4 and IPv6, one
//! socket per family; a v6 packet with the IPv6 header `rawsock::receive` rebuilds). Without the
//! privilege the file's header says so.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

use super::Capture;
use crate::lab::firewall::rawsock::{self, Keep};
use crate::lab::plan::Family;

/// What the capture keeps of the silent places' traffic: every segment to or from them (the
/// SYNs and their retransmissions, the kernel's RST), whole.
const SEGMENTS: Keep = Keep {
    syns_only: false,
    from_ports_too: true,
    snap: 65_535,
};

fn raw_socket(family: Family) -> io::Result<OwnedFd> {
    rawsock::open(family, SEGMENTS)
}

/// Whether this process may open a raw socket (tried and closed at once).
pub(crate) fn available() -> io::Result<()> {
    raw_socket(Family::V4).map(drop)
}

/// The file-header note on how the firewall's drops and rejects are recorded.
pub(crate) fn note(error: Option<&io::Error>) -> String {
    match error {
        None => "firewall drops and rejects: the real packets (SYN retransmissions, RST) seen by a raw socket".to_owned(),
        Some(error) => format!(
            "firewall drops and rejects: not visible (no raw socket: {error}; run as root or with CAP_NET_RAW to see the SYNs a drop leaves unanswered)"
        ),
    }
}

/// A firewall address to watch and the reason written on its first packet.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    pub(crate) address: SocketAddr,
    pub(crate) reason: String,
}

/// Open the raw socket of `family` for the `watched` addresses of that family: `None` (and a
/// warning) when it cannot be had or nothing of that family is watched.
pub(crate) fn open(
    capture: &Capture,
    family: Family,
    watched: &[Watched],
) -> Option<AsyncFd<OwnedFd>> {
    if !capture.is_recording() {
        return None;
    }
    let ports: Vec<u16> = watched
        .iter()
        .filter(|w| Family::of(w.address.ip()) == family)
        .map(|w| w.address.port())
        .collect();
    if ports.is_empty() {
        return None;
    }
    let socket = match raw_socket(family).and_then(|socket| {
        // Only the watched ports' segments reach user space: not the lab's bulk traffic.
        rawsock::attach(&socket, family, &ports, SEGMENTS).map(|()| socket)
    }) {
        Ok(socket) => socket,
        Err(error) => {
            tracing::info!(%error, "no raw socket: the capture cannot show the firewall's drops and rejects");
            return None;
        }
    };
    let size: libc::c_int = 4 << 20;
    // SAFETY: setsockopt(2) on an owned descriptor with a pointer to a live c_int of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    // SAFETY: the AsyncFd takes the OwnedFd by value: nothing else holds or closes the descriptor
    // while it is registered.
    unsafe { AsyncFd::register(socket) }.ok()
}

/// Write every packet to or from a watched address until `shutdown`.
pub(crate) async fn watch(
    socket: AsyncFd<OwnedFd>,
    family: Family,
    capture: Capture,
    watched: Vec<Watched>,
    shutdown: CancellationToken,
) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let ready = tokio::select! {
            () = shutdown.cancelled() => return,
            ready = socket.readable() => ready,
        };
        let Ok(mut guard) = ready else {
            return;
        };
        loop {
            let n = match rawsock::receive(socket.get_ref(), family, &mut buffer) {
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the capture's raw socket failed");
                    return;
                }
            };
            let packet = &buffer[..n];
            if let Some((client, server, reason)) = concerns(packet, &watched) {
                capture.raw_packet(packet, client, server, reason);
            }
        }
    }
}

/// Whether `packet` goes to or comes from a watched address: the conversation's client and server
/// and the reason to write on its first packet.
fn concerns<'a>(
    packet: &[u8],
    watched: &'a [Watched],
) -> Option<(SocketAddr, SocketAddr, &'a str)> {
    let seen = rawsock::parse(packet)?;
    let (source, destination) = (seen.from, seen.to);
    watched.iter().find_map(|w| {
        if w.address == destination {
            Some((source, destination, w.reason.as_str()))
        } else if w.address == source {
            Some((destination, source, w.reason.as_str()))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::capture::packet::{self, Segment};

    #[test]
    fn keeps_packets_of_watched_addresses_either_way() {
        let hole: SocketAddr = "127.0.0.9:443".parse().unwrap();
        let curl: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let watched = [Watched {
            address: hole,
            reason: "drop".into(),
        }];
        let mut out = Vec::new();
        let mut segment = Segment::syn(curl, hole);
        packet::tcp(&segment, &mut out).unwrap();
        out.extend_from_slice(segment.payload);
        assert_eq!(concerns(&out, &watched), Some((curl, hole, "drop")));
        segment.from = hole;
        segment.to = curl;
        packet::tcp(&segment, &mut out).unwrap();
        out.extend_from_slice(segment.payload);
        assert_eq!(concerns(&out, &watched), Some((curl, hole, "drop")));
        segment.from = "127.0.0.2:1".parse().unwrap();
        packet::tcp(&segment, &mut out).unwrap();
        out.extend_from_slice(segment.payload);
        assert_eq!(concerns(&out, &watched), None);
        let hole6: SocketAddr = "[::1]:443".parse().unwrap();
        let curl6: SocketAddr = "[::1]:50000".parse().unwrap();
        let watched = [Watched {
            address: hole6,
            reason: "drop".into(),
        }];
        segment.from = curl6;
        segment.to = hole6;
        packet::tcp(&segment, &mut out).unwrap();
        assert_eq!(concerns(&out, &watched), Some((curl6, hole6, "drop")));
    }
}
