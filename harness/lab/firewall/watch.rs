//! The firewall's own record of SYNs that never become connections.
//!
//! A dropped destination is a black hole whose accept queue is full and a rejected one a port that
//! is bound but not listening: the kernel drops or refuses the SYN and no user-space socket ever
//! sees it. A real firewall logs such attempts, so the lab watches for them with a raw IPv4 TCP
//! socket, which receives a copy of every incoming TCP segment, narrowed in the kernel by a classic
//! BPF filter to SYNs (without ACK) to the lab's silent ports. That needs CAP_NET_RAW (root); without
//! it the lab says so once in the timeline and the firewall's decisions are recorded only where the
//! lab routes traffic itself (a proxy's legs).
//!
//! Hand-written on libc because no maintained crate offers "raw socket + cBPF filter" as a unit: the
//! filter is eight instructions and the parse reads three header fields.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::sync::{watch, Notify};

use super::rawsock::{self, Keep, MAX_PORTS};
use super::{decision, Silent, SOURCE};
use crate::lab::context::Serving;
use crate::lab::live::{Gate, GateKind};
use crate::lab::timeline::{ConnId, EventKind};
use crate::lab::world::FirewallTag;

/// How many client ports the watcher remembers (to number retransmissions); older ones age out.
const REMEMBERED: usize = 4096;
/// Bytes kept of each segment: an IPv4 header with options (60) and the TCP header's first 14.
const SNAP: u32 = 96;
/// What the watcher keeps: connection attempts to the silent ports, headers only.
const SYNS: Keep = Keep {
    syns_only: true,
    from_ports_too: false,
    snap: SNAP,
};

/// A raw socket that sees the SYNs to a lab's silent addresses.
pub(crate) struct SynWatcher {
    socket: AsyncFd<OwnedFd>,
    /// The firewall's own silent places (closed ports, black holes).
    fixed: Vec<Silent>,
    /// The lab's TCP listeners: one turned off refuses like a closed port, so it is watched while off.
    gates: Vec<(Arc<Gate>, watch::Receiver<bool>)>,
    /// What is watched now: `fixed` and the gates that are off.
    silent: Vec<Silent>,
    /// Woken when a gate turns on or off.
    gate_changed: Arc<Notify>,
    serving: Serving,
    /// Client address → its connection id and the SYNs seen from it, oldest first.
    seen: HashMap<SocketAddr, (ConnId, u32)>,
    order: VecDeque<SocketAddr>,
}

impl SynWatcher {
    /// Open the watcher for the IPv4 addresses in `silent` and the lab's TCP listeners while they
    /// are turned off, or record in the timeline why it cannot watch and return `None`.
    pub(crate) fn open(silent: &[Silent], serving: &Serving) -> Option<SynWatcher> {
        let fixed: Vec<Silent> = silent
            .iter()
            .filter(|place| place.address.is_ipv4())
            .cloned()
            .collect();
        let gates = serving
            .live
            .gates()
            .into_iter()
            .filter(|gate| matches!(gate.kind, GateKind::Endpoint | GateKind::Proxy))
            .filter(|gate| gate.address.is_ipv4())
            .map(|gate| {
                let changes = gate.watch_enabled();
                (gate, changes)
            })
            .collect();
        let mut watcher = SynWatcher {
            socket: match open_socket() {
                Ok(socket) => socket,
                Err(error) => {
                    serving.timeline.record(
                        SOURCE,
                        EventKind::Note {
                            message: format!(
                                "the firewall cannot watch SYNs to its drop and reject places ({error}; it needs CAP_NET_RAW): attempts there leave no event"
                            ),
                        },
                    );
                    return None;
                }
            },
            fixed,
            gates,
            silent: Vec::new(),
            gate_changed: Arc::new(Notify::new()),
            serving: serving.clone(),
            seen: HashMap::new(),
            order: VecDeque::new(),
        };
        if let Err(error) = watcher.refilter() {
            tracing::warn!(%error, "cannot set the SYN watcher's filter");
            return None;
        }
        // One small task per listener tells the watcher when it turns on or off.
        for (_, changes) in &watcher.gates {
            let (mut changes, notify) = (changes.clone(), Arc::clone(&watcher.gate_changed));
            let shutdown = serving.shutdown.clone();
            serving.tasks.spawn(async move {
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        changed = changes.changed() => match changed {
                            Ok(()) => notify.notify_one(),
                            Err(_) => return,
                        },
                    }
                }
            });
        }
        Some(watcher)
    }

    /// Recompute the watched places and give the kernel the filter for them.
    fn refilter(&mut self) -> std::io::Result<()> {
        let mut silent = self.fixed.clone();
        for (gate, _) in &self.gates {
            if !gate.enabled() {
                silent.push(Silent {
                    address: gate.address,
                    tag: FirewallTag {
                        rule: format!("{} is turned off: its port refuses", gate.upstream),
                        action: "reject".to_owned(),
                    },
                    fate: super::REFUSED,
                });
            }
        }
        silent.truncate(MAX_PORTS);
        let ports: Vec<u16> = silent.iter().map(|place| place.address.port()).collect();
        rawsock::attach(self.socket.get_ref(), &ports, SYNS)?;
        self.silent = silent;
        Ok(())
    }

    /// Record each SYN until the lab shuts down; follow the gates as they turn off and on.
    pub(crate) async fn run(mut self) {
        let mut buffer = [0u8; SNAP as usize];
        loop {
            let ready = tokio::select! {
                () = self.serving.shutdown.cancelled() => return,
                () = self.gate_changed.notified() => {
                    if let Err(error) = self.refilter() {
                        tracing::warn!(%error, "SYN watcher stopped");
                        return;
                    }
                    continue;
                }
                ready = self.socket.readable() => ready,
            };
            let Ok(mut guard) = ready else { return };
            let received = guard.try_io(|fd| {
                // SAFETY: the buffer is valid for its length and the fd is an open socket.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buffer.as_mut_ptr().cast(),
                        buffer.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n.unsigned_abs())
                }
            });
            match received {
                Ok(Ok(n)) => {
                    if let Some((peer, local)) = parse_syn(&buffer[..n]) {
                        self.saw(peer, local);
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "SYN watcher stopped");
                    return;
                }
                Err(_would_block) => {}
            }
        }
    }

    fn saw(&mut self, peer: SocketAddr, local: SocketAddr) {
        let Some(place) = self.silent.iter().find(|place| place.address == local) else {
            return;
        };
        let timeline = &self.serving.timeline;
        let (id, attempt) = match self.seen.get_mut(&peer) {
            Some((id, attempts)) => {
                *attempts += 1;
                (*id, *attempts)
            }
            None => {
                let leg = timeline.claim_opening_leg(local);
                let id = leg
                    .as_ref()
                    .map_or_else(|| timeline.new_connection(), |leg| leg.id);
                timeline.record_on(SOURCE, Some(id), decision(&place.tag, leg.as_ref(), local));
                if self.order.len() >= REMEMBERED {
                    if let Some(oldest) = self.order.pop_front() {
                        self.seen.remove(&oldest);
                    }
                }
                self.seen.insert(peer, (id, 1));
                self.order.push_back(peer);
                (id, 1)
            }
        };
        timeline.record_on(
            SOURCE,
            Some(id),
            EventKind::Syn {
                peer,
                local,
                attempt,
                fate: place.fate.to_owned(),
            },
        );
    }
}

/// A non-blocking raw IPv4 TCP socket, registered with the runtime; it passes nothing until
/// [`rawsock::attach`] gives it ports.
fn open_socket() -> std::io::Result<AsyncFd<OwnedFd>> {
    let fd = rawsock::open(SYNS)?;
    // SAFETY: the OwnedFd is open and owned by the AsyncFd for its whole life, and its as_raw_fd
    // always returns that same descriptor.
    unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)
}

/// The (source, destination) of an IPv4 TCP SYN, from the start of its IP header.
fn parse_syn(packet: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let header = usize::from(*packet.first()? & 0x0f) * 4;
    let tcp = packet.get(header..header + 14)?;
    if tcp[13] & 0x12 != 0x02 {
        return None;
    }
    let ip = |at: usize| -> Option<Ipv4Addr> {
        let octets: [u8; 4] = packet.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(octets))
    };
    let port = |at: usize| u16::from_be_bytes([tcp[at], tcp[at + 1]]);
    let source = SocketAddrV4::new(ip(12)?, port(0));
    let destination = SocketAddrV4::new(ip(16)?, port(2));
    Some((SocketAddr::from(source), SocketAddr::from(destination)))
}

/// Whether this process may open the raw socket the watcher needs (for tests that must say why they
/// cannot check a drop's SYNs).
pub fn can_watch_syns() -> bool {
    rawsock::open(SYNS).is_ok()
}

impl std::fmt::Debug for SynWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynWatcher")
            .field("places", &self.silent.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syn_is_parsed_and_other_segments_are_not() {
        let mut packet = vec![0u8; 40];
        packet[0] = 0x45;
        packet[12..16].copy_from_slice(&[127, 0, 0, 1]);
        packet[16..20].copy_from_slice(&[127, 0, 0, 2]);
        packet[20..22].copy_from_slice(&40000u16.to_be_bytes());
        packet[22..24].copy_from_slice(&443u16.to_be_bytes());
        packet[33] = 0x02;
        assert_eq!(
            parse_syn(&packet),
            Some((
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.2:443".parse().unwrap()
            ))
        );
        packet[33] = 0x12;
        assert_eq!(parse_syn(&packet), None, "a SYN-ACK is not an attempt");
        assert_eq!(parse_syn(&packet[..30]), None, "a short packet is ignored");
    }
}
