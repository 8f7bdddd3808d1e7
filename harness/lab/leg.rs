//! Opening a connection on a client's behalf, and matching it with its far end in the timeline.
//!
//! A leg's local port is chosen by connect(2) (binding port 0 first would take a fresh port per
//! leg and, with thousands of short legs in TIME_WAIT, run the machine out of ephemeral ports), so
//! the leg and the lab listener at its far end may reach the timeline in either order. The
//! [`LegBook`] pairs them either way, so both ends of one TCP connection share one id.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use tokio::net::{TcpSocket, TcpStream};

use super::timeline::{ConnId, Leg, Timeline};

/// How many entries each part of the book keeps; older ones age out (a leg to a place that never
/// accepts, an outside client that is no leg at all).
const REMEMBERED: usize = 4096;

/// Connect to `remote` for `destination` as `source`, serving the connection the current task
/// serves, and record the leg in the timeline.
pub(crate) async fn open(
    timeline: &Timeline,
    source: &str,
    remote: SocketAddr,
    destination: &str,
) -> std::io::Result<TcpStream> {
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if remote.ip().is_loopback() {
        // The lab's own address as the source, the port left to connect(2).
        no_port_at_bind(&socket);
        socket.bind(SocketAddr::new(remote.ip(), 0))?;
    }
    let leg = timeline.leg_opening(source, remote);
    match socket.connect(remote).await {
        Ok(stream) => {
            let local = stream.local_addr()?;
            timeline.leg_opened(&leg, local, remote, destination);
            Ok(stream)
        }
        Err(error) => {
            timeline.leg_failed(&leg, remote, destination);
            Err(error)
        }
    }
}

/// IP_BIND_ADDRESS_NO_PORT: bind(2) sets the source address only; connect(2) picks the port by
/// the whole 4-tuple (reusing loopback TIME_WAIT ports as the kernel allows).
fn no_port_at_bind(socket: &TcpSocket) {
    let set = super::firewall::rawsock::set_flag(
        socket.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
    );
    if let Err(error) = set {
        tracing::debug!(%error, "IP_BIND_ADDRESS_NO_PORT refused");
    }
}

/// The legs the lab is opening or has opened, waiting for their far end, and the far ends that
/// came first.
#[derive(Debug, Default)]
pub(crate) struct LegBook {
    /// Legs whose connect(2) is under way, by remote address (the SYN watcher claims them).
    opening: VecDeque<Opening>,
    /// Connected legs by local address, until the lab listener at the far end accepts them.
    opened: Bounded<SocketAddr, Leg>,
    /// Accepted connections by peer address whose leg (if they are one) has not reported yet.
    early: Bounded<SocketAddr, ConnId>,
}

#[derive(Debug)]
struct Opening {
    remote: SocketAddr,
    leg: Leg,
    claimed: bool,
}

impl LegBook {
    pub(crate) fn opening(&mut self, remote: SocketAddr, leg: Leg) {
        if self.opening.len() >= REMEMBERED {
            self.opening.pop_front();
        }
        self.opening.push_back(Opening {
            remote,
            leg,
            claimed: false,
        });
    }

    /// The leg is connected from `local`: its id is that of a far end that already accepted it, or
    /// its own (then the far end finds it here).
    pub(crate) fn opened(&mut self, leg: &Leg, local: SocketAddr) -> ConnId {
        self.opening.retain(|opening| opening.leg.id != leg.id);
        if let Some(far_end) = self.early.remove(&local) {
            return far_end;
        }
        self.opened.insert(local, leg.clone());
        leg.id
    }

    pub(crate) fn failed(&mut self, leg: &Leg) {
        self.opening.retain(|opening| opening.leg.id != leg.id);
    }

    /// A lab listener accepted a connection from `peer`: the leg it is, if one reported, else a
    /// fresh id `fresh` that a leg reporting later adopts.
    pub(crate) fn arrived(&mut self, peer: SocketAddr, fresh: ConnId) -> Result<Leg, ConnId> {
        match self.opened.remove(&peer) {
            Some(leg) => Ok(leg),
            None => {
                self.early.insert(peer, fresh);
                Err(fresh)
            }
        }
    }

    /// The oldest leg under way to `remote` not yet claimed: the SYN watcher's match for a SYN it
    /// saw going there.
    pub(crate) fn claim_opening(&mut self, remote: SocketAddr) -> Option<Leg> {
        let opening = self
            .opening
            .iter_mut()
            .find(|opening| opening.remote == remote && !opening.claimed)?;
        opening.claimed = true;
        Some(opening.leg.clone())
    }
}

/// A map that forgets its oldest entries beyond [`REMEMBERED`].
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Hash + Eq + Copy, V> Bounded<K, V> {
    fn insert(&mut self, key: K, value: V) {
        if self.map.len() >= REMEMBERED {
            while let Some(oldest) = self.order.pop_front() {
                if self.map.remove(&oldest).is_some() {
                    break;
                }
            }
        }
        if self.map.insert(key, value).is_none() {
            self.order.push_back(key);
        }
        // Keys removed (claimed) stay in `order` until here: drop them once they outnumber the live
        // ones, so `order` stays within twice the bound however many keys pass through.
        if self.order.len() > 2 * REMEMBERED {
            let map = &self.map;
            self.order.retain(|key| map.contains_key(key));
        }
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        // The key stays in `order` until it ages out; insert skips keys already gone.
        self.map.remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(id: ConnId) -> Leg {
        Leg {
            id,
            serves: Some(1),
            opened_by: "proxy:corp".into(),
        }
    }

    #[test]
    fn a_leg_and_its_far_end_pair_in_either_order() {
        let mut book = LegBook::default();
        let (local, remote): (SocketAddr, SocketAddr) = (
            "127.0.0.1:6000".parse().unwrap(),
            "127.0.0.1:443".parse().unwrap(),
        );
        book.opening(remote, leg(2));
        assert_eq!(book.opened(&leg(2), local), 2, "the leg reports first");
        assert_eq!(book.arrived(local, 9), Ok(leg(2)));
        let later: SocketAddr = "127.0.0.1:6001".parse().unwrap();
        book.opening(remote, leg(3));
        assert_eq!(book.arrived(later, 10), Err(10), "the far end comes first");
        assert_eq!(book.opened(&leg(3), later), 10, "and the leg adopts its id");
    }

    #[test]
    fn the_watcher_claims_each_leg_under_way_once() {
        let mut book = LegBook::default();
        let remote: SocketAddr = "127.0.0.1:9".parse().unwrap();
        book.opening(remote, leg(4));
        book.opening(remote, leg(5));
        assert_eq!(book.claim_opening(remote).map(|l| l.id), Some(4));
        assert_eq!(book.claim_opening(remote).map(|l| l.id), Some(5));
        assert_eq!(book.claim_opening(remote), None);
        book.failed(&leg(4));
        book.failed(&leg(5));
        assert!(book.opening.is_empty());
    }

    #[test]
    fn claimed_keys_do_not_pile_up_in_the_order() {
        let mut book = LegBook::default();
        for port in 0..(5 * REMEMBERED as u16) {
            let local = SocketAddr::from(([127, 0, 0, 1], port));
            let _ = book.opened(&leg(u64::from(port)), local);
            let _ = book.arrived(local, 0);
        }
        assert!(book.opened.map.is_empty());
        assert!(
            book.opened.order.len() <= 2 * REMEMBERED + 1,
            "{}",
            book.opened.order.len()
        );
    }

    #[test]
    fn the_book_stays_bounded() {
        let mut book = LegBook::default();
        for port in 0..(REMEMBERED as u16 + 100) {
            let peer = SocketAddr::from(([127, 0, 0, 1], port));
            let _ = book.arrived(peer, ConnId::from(port));
        }
        assert_eq!(book.early.map.len(), REMEMBERED);
    }
}
