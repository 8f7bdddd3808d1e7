//! Building the IP packets a capture holds: IPv4 or IPv6 with a TCP segment or a UDP datagram,
//! checksums filled in, headers from `etherparse`.

use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader, UdpHeader};

/// The largest TCP payload put in one packet: an IPv4 datagram's 65 535 bytes less the IP and TCP
/// headers, rounded down. Longer chunks become several segments.
pub(crate) const MAX_SEGMENT: usize = 65_000;

/// The TCP flags of one segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) syn: bool,
    pub(crate) ack: bool,
    pub(crate) fin: bool,
    pub(crate) rst: bool,
    pub(crate) psh: bool,
}

/// One TCP segment to build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) flags: Flags,
    pub(crate) payload: &'a [u8],
}

impl Segment<'static> {
    /// A bare SYN from `from` to `to` (for tests of what reads packets back).
    #[cfg(test)]
    pub(crate) fn syn(from: SocketAddr, to: SocketAddr) -> Self {
        Segment {
            from,
            to,
            seq: 1,
            ack: 0,
            flags: Flags {
                syn: true,
                ..Flags::default()
            },
            payload: &[],
        }
    }
}

/// Why a packet could not be built: addresses of two families, or a payload too long for IP.
#[derive(Debug, thiserror::Error)]
#[error("cannot build a packet from {from} to {to}: {why}")]
pub(crate) struct Unbuildable {
    from: SocketAddr,
    to: SocketAddr,
    why: String,
}

impl Unbuildable {
    fn new(from: SocketAddr, to: SocketAddr, why: impl std::fmt::Display) -> Self {
        Unbuildable {
            from,
            to,
            why: why.to_string(),
        }
    }
}

/// The IP header of a datagram from `from` to `to` carrying `length` bytes of `protocol`.
enum Ip {
    V4(Ipv4Header),
    V6(Ipv6Header),
}

fn ip_header(
    from: SocketAddr,
    to: SocketAddr,
    protocol: IpNumber,
    length: usize,
) -> Result<Ip, Unbuildable> {
    match (from.ip(), to.ip()) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => {
            let length = u16::try_from(length).map_err(|e| Unbuildable::new(from, to, e))?;
            Ipv4Header::new(length, 64, protocol, source.octets(), destination.octets())
                .map(Ip::V4)
                .map_err(|e| Unbuildable::new(from, to, e))
        }
        (IpAddr::V6(source), IpAddr::V6(destination)) => Ok(Ip::V6(Ipv6Header {
            traffic_class: 0,
            flow_label: Ipv6FlowLabel::ZERO,
            payload_length: u16::try_from(length).map_err(|e| Unbuildable::new(from, to, e))?,
            next_header: protocol,
            hop_limit: 64,
            source: source.octets(),
            destination: destination.octets(),
        })),
        _ => Err(Unbuildable::new(
            from,
            to,
            "the addresses are of two IP families",
        )),
    }
}

/// Write the IP and TCP headers of `segment` into `out` (cleared first); its payload follows them
/// in the file, not in `out`.
pub(crate) fn tcp(segment: &Segment<'_>, out: &mut Vec<u8>) -> Result<(), Unbuildable> {
    let (from, to) = (segment.from, segment.to);
    let mut header = TcpHeader::new(from.port(), to.port(), segment.seq, 65_535);
    header.syn = segment.flags.syn;
    header.ack = segment.flags.ack;
    header.fin = segment.flags.fin;
    header.rst = segment.flags.rst;
    header.psh = segment.flags.psh;
    header.acknowledgment_number = if segment.flags.ack { segment.ack } else { 0 };
    let length = header.header_len() + segment.payload.len();
    let ip = ip_header(from, to, IpNumber::TCP, length)?;
    header.checksum = match &ip {
        Ip::V4(ip) => header.calc_checksum_ipv4(ip, segment.payload),
        Ip::V6(ip) => header.calc_checksum_ipv6(ip, segment.payload),
    }
    .map_err(|e| Unbuildable::new(from, to, e))?;
    out.clear();
    write_ip(&ip, out);
    // Writing to a Vec cannot fail.
    let _ = header.write(out);
    Ok(())
}

/// Write the IP and UDP headers of a datagram from `from` to `to` carrying `payload` into `out`;
/// the payload follows them in the file.
pub(crate) fn udp(
    from: SocketAddr,
    to: SocketAddr,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Unbuildable> {
    let ip = ip_header(from, to, IpNumber::UDP, UdpHeader::LEN + payload.len())?;
    let header = match &ip {
        Ip::V4(ip) => UdpHeader::with_ipv4_checksum(from.port(), to.port(), ip, payload),
        Ip::V6(ip) => UdpHeader::with_ipv6_checksum(from.port(), to.port(), ip, payload),
    }
    .map_err(|e| Unbuildable::new(from, to, e))?;
    out.clear();
    write_ip(&ip, out);
    let _ = header.write(out);
    Ok(())
}

fn write_ip(ip: &Ip, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = match ip {
        Ip::V4(ip) => ip.write(out),
        Ip::V6(ip) => ip.write(out),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    #[test]
    fn a_segment_reads_back_with_its_fields() {
        let segment = Segment {
            from: "127.0.0.1:40000".parse().unwrap(),
            to: "127.0.0.2:443".parse().unwrap(),
            seq: 7,
            ack: 9,
            flags: Flags {
                ack: true,
                psh: true,
                ..Flags::default()
            },
            payload: b"hello",
        };
        let mut out = Vec::new();
        tcp(&segment, &mut out).unwrap();
        out.extend_from_slice(segment.payload);
        let sliced = SlicedPacket::from_ip(&out).unwrap();
        let Some(NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().destination(), [127, 0, 0, 2]);
        let Some(TransportSlice::Tcp(tcp)) = sliced.transport else {
            panic!("not TCP")
        };
        assert_eq!((tcp.sequence_number(), tcp.acknowledgment_number()), (7, 9));
        assert!(tcp.psh() && tcp.ack() && !tcp.syn());
        assert_eq!(tcp.payload(), b"hello");
    }

    #[test]
    fn mixed_families_are_refused() {
        let mut out = Vec::new();
        let error = udp(
            "127.0.0.1:1".parse().unwrap(),
            "[::1]:2".parse().unwrap(),
            b"x",
            &mut out,
        )
        .unwrap_err();
        assert!(error.to_string().contains("two IP families"), "{error}");
    }
}
