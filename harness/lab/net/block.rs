//! A /24 of 127.0.0.0/8 claimed by one lab, so labs started side by side never share an address.
//!
//! The claim is a UDP socket bound on the block's `.254` at a fixed port: the kernel lets only one
//! socket hold it, and releases it when the lab (or its process) goes away, so a crash leaves no
//! stale lock behind.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// The fixed port of the marker socket.
const MARKER_PORT: u16 = 65_113;
/// Blocks are taken from 127.101.0.0 to 127.200.255.0, away from 127.0.x (tests that ask for nothing).
const FIRST_SECOND_OCTET: u32 = 101;
const BLOCKS: u32 = 100 * 256;
/// How many blocks a lab tries before giving up.
const ATTEMPTS: u32 = 512;

/// A claimed block: its addresses are this lab's while the claim lives.
#[derive(Debug)]
pub(crate) struct Claim {
    _marker: UdpSocket,
    /// The block's network address (`127.B.C.0`).
    pub(crate) network: Ipv4Addr,
}

impl Claim {
    /// The block's host addresses a lab may use, `.1` to `.253`.
    pub(crate) fn hosts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let [a, b, c, _] = self.network.octets();
        (1..=253).map(move |d| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }
}

/// Claim a free block, starting from one derived from the process id so parallel processes spread out.
pub(crate) fn claim() -> std::io::Result<Claim> {
    let start = std::process::id().wrapping_mul(7919);
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        let index = (start.wrapping_add(attempt.wrapping_mul(97))) % BLOCKS;
        let second = u8::try_from(FIRST_SECOND_OCTET + index / 256).unwrap_or(200);
        let third = u8::try_from(index % 256).unwrap_or(0);
        let network = Ipv4Addr::new(127, second, third, 0);
        let marker = SocketAddr::from((Ipv4Addr::new(127, second, third, 254), MARKER_PORT));
        match UdpSocket::bind(marker) {
            Ok(socket) => {
                return Ok(Claim {
                    _marker: socket,
                    network,
                })
            }
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no loopback block tried")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_never_share_a_block() {
        let first = claim().unwrap();
        let second = claim().unwrap();
        assert_ne!(first.network, second.network);
        assert!(first.hosts().all(|ip| ip.is_loopback()));
        assert_eq!(first.hosts().count(), 253);
    }
}
