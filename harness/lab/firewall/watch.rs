//! The firewall's own record of SYNs that never become connections.
//!
//! A dropped destination is a black hole whose accept queue is full and a rejected one a port that
//! is bound but not listening: the kernel drops or refuses the SYN and no user-space socket ever
//! sees it. A real firewall logs such attempts, so the lab watches for them with a raw IPv4 TCP
//! socket, which receives a copy of every incoming TCP segment, narrowed in the kernel by a classic
//! BPF filter to SYNs (without ACK) to the lab's silent ports. That needs CAP_NET_RAW (root); without
//! it the lab says so once in the timeline and the firewall's decisions are recorded only where the
//! lab routes traffic itself (a proxy's legs). A lab with v6 places (a v6 drop, a dual-stack
//! endpoint) runs a second watcher on a raw IPv6 socket, built by the same constructor and filter
//! builder (`rawsock.rs`), so a v6 drop leaves the same `syn` events as a v4 one.
//!
//! Hand-written on libc because no maintained crate offers "raw socket + cBPF filter" as a unit: the
//! filter is eight instructions; the headers are read with etherparse.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::sync::{watch, Notify};

use super::rawsock::{self, Keep, MAX_PORTS};
use super::{decision, Silent, SOURCE};
use crate::lab::context::Serving;
use crate::lab::live::{Gate, GateKind};
use crate::lab::plan::Family;
use crate::lab::timeline::{ConnId, EventKind};
use crate::lab::world::FirewallTag;

/// How many client ports the watcher remembers (to number retransmissions); older ones age out.
const REMEMBERED: usize = 4096;
/// Bytes kept of each segment: an IPv4 header with options (60) and the TCP header's first 14.
const SNAP: u32 = 96;
/// Room for what a v6 socket delivers: the IPv6 header `rawsock::receive` writes, then the snap.
const BUFFER: usize = 40 + SNAP as usize;
/// What the watcher keeps: connection attempts to the silent ports, headers only.
const SYNS: Keep = Keep {
    syns_only: true,
    from_ports_too: false,
    snap: SNAP,
};

/// A raw socket that sees the SYNs to a lab's silent addresses.
pub(crate) struct SynWatcher {
    family: Family,
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
    /// Open the watcher for the `family` addresses in `silent` and the lab's TCP listeners of that
    /// family while they are turned off, or record in the timeline why it cannot watch and return
    /// `None` (a v6 watcher only when the lab has v6 places at all).
    pub(crate) fn open(family: Family, silent: &[Silent], serving: &Serving) -> Option<SynWatcher> {
        let fixed: Vec<Silent> = silent
            .iter()
            .filter(|place| Family::of(place.address.ip()) == family)
            .cloned()
            .collect();
        let gates: Vec<_> = serving
            .live
            .gates()
            .into_iter()
            .filter(|gate| matches!(gate.kind, GateKind::Endpoint | GateKind::Proxy))
            .filter(|gate| Family::of(gate.address.ip()) == family)
            .map(|gate| {
                let changes = gate.watch_enabled();
                (gate, changes)
            })
            .collect();
        if family == Family::V6 && fixed.is_empty() && gates.is_empty() {
            return None;
        }
        let mut watcher = SynWatcher {
            family,
            socket: match open_socket(family) {
                Ok(socket) => socket,
                Err(error) if family == Family::V6 => {
                    // The v4 watcher has said why in the timeline already.
                    tracing::info!(%error, "no raw IPv6 socket: v6 SYNs leave no event");
                    return None;
                }
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
        rawsock::attach(self.socket.get_ref(), self.family, &ports, SYNS)?;
        self.silent = silent;
        Ok(())
    }

    /// Record each SYN until the lab shuts down; follow the gates as they turn off and on.
    pub(crate) async fn run(mut self) {
        let mut buffer = [0u8; BUFFER];
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
            let family = self.family;
            let received = guard.try_io(|fd| rawsock::receive(fd.get_ref(), family, &mut buffer));
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

/// A non-blocking raw TCP socket of `family`, registered with the runtime; it passes nothing
/// until [`rawsock::attach`] gives it ports.
fn open_socket(family: Family) -> std::io::Result<AsyncFd<OwnedFd>> {
    let fd = rawsock::open(family, SYNS)?;
    // SAFETY: the OwnedFd is open and owned by the AsyncFd for its whole life, and its as_raw_fd
    // always returns that same descriptor.
    unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)
}

/// The (source, destination) of a TCP SYN without ACK, from a whole IP packet (v4 or v6).
fn parse_syn(packet: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let seen = rawsock::parse(packet)?;
    (seen.syn && !seen.ack).then_some((seen.from, seen.to))
}

/// Whether this process may open the raw socket the watcher needs (for tests that must say why they
/// cannot check a drop's SYNs).
pub fn can_watch_syns() -> bool {
    rawsock::open(Family::V4, SYNS).is_ok()
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
        use crate::lab::capture::packet::{self, Segment};
        for (from, to) in [
            ("127.0.0.1:40000", "127.0.0.2:443"),
            ("[::1]:40000", "[::1]:443"),
        ] {
            let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
            let mut segment = Segment::syn(from, to);
            let mut out = Vec::new();
            packet::tcp(&segment, &mut out).unwrap();
            assert_eq!(parse_syn(&out), Some((from, to)));
            segment.flags.ack = true;
            packet::tcp(&segment, &mut out).unwrap();
            assert_eq!(parse_syn(&out), None, "a SYN-ACK is not an attempt");
            assert_eq!(parse_syn(&out[..30]), None, "a short packet is ignored");
        }
    }
}
