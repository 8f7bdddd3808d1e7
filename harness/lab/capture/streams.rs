//! Numbering TCP conversations as tshark does (`tcp.stream`: in the order of their first packet),
//! with a bounded memory of the recent ones so the timeline can look a connection up.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// How many conversations are remembered for look-ups; older ones keep their number in the file.
const REMEMBERED: usize = 65_536;

/// The numbers given so far and the recent conversations they belong to.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    next: u32,
    by_pair: HashMap<(SocketAddr, SocketAddr), u32>,
    order: VecDeque<(SocketAddr, SocketAddr)>,
    /// Conversations forgotten to keep the bound.
    forgotten: u64,
}

impl Streams {
    /// Number a new conversation between `client` and `server`.
    pub(crate) fn open(&mut self, client: SocketAddr, server: SocketAddr) -> u32 {
        let index = self.next;
        self.next += 1;
        if self.by_pair.insert((client, server), index).is_none() {
            self.order.push_back((client, server));
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.by_pair.remove(&old);
                self.forgotten += 1;
            }
        }
        index
    }

    /// The number of the conversation between the two addresses, in either order.
    pub(crate) fn find(&self, client: SocketAddr, server: SocketAddr) -> Option<u32> {
        self.by_pair
            .get(&(client, server))
            .or_else(|| self.by_pair.get(&(server, client)))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_order_of_first_packet_and_finds_either_way() {
        let mut streams = Streams::default();
        let (a, b, c) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.2:2".parse().unwrap(),
            "127.0.0.3:3".parse().unwrap(),
        );
        assert_eq!(streams.open(a, b), 0);
        assert_eq!(streams.open(a, c), 1);
        assert_eq!(streams.find(b, a), Some(0));
        assert_eq!(streams.find(c, b), None);
    }
}
