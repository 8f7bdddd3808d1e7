//! One raw TCP socket per address family with a kernel filter, shared by the firewall's SYN
//! watcher and the capture's view of drops and rejects.
//!
//! A raw socket receives a copy of every TCP segment the host receives; the classic BPF filter in
//! the kernel keeps only those to (or from) the lab's silent ports, so bulk traffic elsewhere never
//! reaches user space. Hand-written on libc: no maintained crate offers "raw socket + cBPF" as a
//! unit, and the program is a dozen instructions.
//!
//! The two families differ in one place each: an IPv4 raw socket delivers (and filters) the
//! packet from its IP header, an IPv6 one from the TCP header, so the filter's index register
//! starts at the IPv4 header length or at 0, and [`receive`] puts an IPv6 header (the sender's
//! address, and the destination from `IPV6_PKTINFO`) in front of a v6 segment. Both hand their
//! readers a whole IP packet.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::lab::plan::Family;

/// The most ports one program tests (a BPF conditional jump reaches at most 255 instructions ahead).
pub(crate) const MAX_PORTS: usize = 100;

/// Which segments a filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keep {
    /// Only SYNs without ACK (connection attempts); else every segment.
    pub(crate) syns_only: bool,
    /// Also segments coming from the ports (a refusal's RST), not only those going to them.
    pub(crate) from_ports_too: bool,
    /// Bytes kept of each segment, from the start of its IP header.
    pub(crate) snap: u32,
}

/// A non-blocking raw TCP socket of `family` whose filter keeps nothing until [`attach`] sets one.
pub(crate) fn open(family: Family, keep: Keep) -> io::Result<OwnedFd> {
    let domain = match family {
        Family::V4 => libc::AF_INET,
        Family::V6 => libc::AF_INET6,
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if family == Family::V6 {
        // The destination address of each segment comes as ancillary data.
        set_flag(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
    }
    attach(&fd, family, &[], keep)?;
    Ok(fd)
}

/// Length of the IPv6 header [`receive`] writes in front of a v6 segment.
const IPV6_HEADER: usize = 40;

/// Receive one segment from a socket of [`open`] into `buffer` as a whole IP packet (for v6 an
/// IPv6 header is written in front of the segment); its length, or `WouldBlock` when none waits.
pub(crate) fn receive(fd: &OwnedFd, family: Family, buffer: &mut [u8]) -> io::Result<usize> {
    if family == Family::V4 {
        // SAFETY: recv(2) into a live buffer of the stated length on an open socket.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_DONTWAIT,
            )
        };
        return if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n.unsigned_abs())
        };
    }
    let Some(segment) = buffer.get_mut(IPV6_HEADER..) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "buffer too small",
        ));
    };
    // SAFETY: all-zero is a valid sockaddr_in6 and msghdr.
    let mut source: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: segment.as_mut_ptr().cast(),
        iov_len: segment.len(),
    };
    // Room for one in6_pktinfo control message, 8-byte aligned.
    let mut control = [0u64; 8];
    // SAFETY: see above.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_name = std::ptr::from_mut(&mut source).cast();
    message.msg_namelen = u32::try_from(std::mem::size_of::<libc::sockaddr_in6>()).unwrap_or(28);
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `message` refers to a live local of the stated size.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut message, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n.unsigned_abs();
    let mut destination = Ipv6Addr::UNSPECIFIED;
    // SAFETY: the CMSG_* walk stays inside the control buffer the kernel filled (msg_controllen).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&message);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IPV6 && (*cmsg).cmsg_type == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                destination = Ipv6Addr::from(info.ipi6_addr.s6_addr);
            }
            cmsg = libc::CMSG_NXTHDR(&message, cmsg);
        }
    }
    let header = etherparse::Ipv6Header {
        traffic_class: 0,
        flow_label: etherparse::Ipv6FlowLabel::ZERO,
        payload_length: u16::try_from(n).unwrap_or(u16::MAX),
        next_header: etherparse::IpNumber::TCP,
        // The real hop limit is not delivered without IPV6_RECVHOPLIMIT; loopback keeps 64.
        hop_limit: 64,
        source: source.sin6_addr.s6_addr,
        destination: destination.octets(),
    };
    let mut head = Vec::with_capacity(IPV6_HEADER);
    header
        .write(&mut head)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
    buffer[..IPV6_HEADER].copy_from_slice(&head);
    Ok(IPV6_HEADER + n)
}

/// What the readers of [`receive`] need of a packet: its TCP ends and its SYN and ACK flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) syn: bool,
    pub(crate) ack: bool,
}

/// Read a whole IP packet as [`receive`] gives it (IPv4 or IPv6 with a TCP segment).
pub(crate) fn parse(packet: &[u8]) -> Option<Seen> {
    let sliced = etherparse::SlicedPacket::from_ip(packet).ok()?;
    let (source, destination) = match sliced.net? {
        etherparse::NetSlice::Ipv4(ip) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        ),
        etherparse::NetSlice::Ipv6(ip) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
    };
    let etherparse::TransportSlice::Tcp(tcp) = sliced.transport? else {
        return None;
    };
    Some(Seen {
        from: SocketAddr::new(source, tcp.source_port()),
        to: SocketAddr::new(destination, tcp.destination_port()),
        syn: tcp.syn(),
        ack: tcp.ack(),
    })
}

/// Turn on an int-valued socket option (`level`, `name`) of an open socket.
pub(crate) fn set_flag(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) on an open socket with a pointer to a live c_int of the stated size.
    let set = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&on).cast(),
            u32::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Replace the socket's kernel filter with one that keeps, of the segments concerning `ports`
/// (at most [`MAX_PORTS`]), what `keep` says.
pub(crate) fn attach(fd: &OwnedFd, family: Family, ports: &[u16], keep: Keep) -> io::Result<()> {
    let mut program = program(family, ports, keep);
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).unwrap_or(u16::MAX),
        filter: program.as_mut_ptr(),
    };
    // SAFETY: fprog points at `program`, alive for the call; the kernel copies it.
    let set = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::from_ref(&fprog).cast(),
            u32::try_from(std::mem::size_of::<libc::sock_fprog>()).unwrap_or(u32::MAX),
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where a jump goes, resolved once the program is laid out.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Drop,
    Accept,
}

/// The classic BPF program: (SYN without ACK, if asked) and destination port, or source port if
/// asked, one of `ports` → keep `snap` bytes; anything else → drop.
fn program(family: Family, ports: &[u16], keep: Keep) -> Vec<libc::sock_filter> {
    let ports = &ports[..ports.len().min(MAX_PORTS)];
    // (code, k, jump if true, jump if false)
    let mut laid: Vec<(u32, u32, Target, Target)> = Vec::new();
    let plain = |code: u32, k: u32| (code, k, Target::Next, Target::Next);
    // X = where the TCP header starts: after the IPv4 header, or at once (a v6 raw socket's data).
    laid.push(match family {
        Family::V4 => plain(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH, 0),
        Family::V6 => plain(libc::BPF_LDX | libc::BPF_W | libc::BPF_IMM, 0),
    });
    if keep.syns_only {
        laid.push(plain(libc::BPF_LD | libc::BPF_B | libc::BPF_IND, 13));
        laid.push(plain(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0x12));
        let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
        laid.push((jeq, 0x02, Target::Next, Target::Drop));
    }
    let fields: &[u32] = if keep.from_ports_too { &[2, 0] } else { &[2] };
    for field in fields {
        laid.push(plain(libc::BPF_LD | libc::BPF_H | libc::BPF_IND, *field));
        for port in ports {
            let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
            laid.push((jeq, u32::from(*port), Target::Accept, Target::Next));
        }
    }
    let drop_at = laid.len();
    let accept_at = drop_at + 1;
    let jump = |from: usize, to: Target| -> u8 {
        let at = match to {
            Target::Next => from + 1,
            Target::Drop => drop_at,
            Target::Accept => accept_at,
        };
        u8::try_from(at - from - 1).unwrap_or(u8::MAX)
    };
    let mut program: Vec<libc::sock_filter> = laid
        .iter()
        .enumerate()
        .map(|(at, (code, k, when_true, when_false))| libc::sock_filter {
            code: u16::try_from(*code).unwrap_or(0),
            jt: jump(at, *when_true),
            jf: jump(at, *when_false),
            k: *k,
        })
        .collect();
    let ret = u16::try_from(libc::BPF_RET | libc::BPF_K).unwrap_or(0);
    program.push(libc::sock_filter {
        code: ret,
        jt: 0,
        jf: 0,
        k: 0,
    });
    program.push(libc::sock_filter {
        code: ret,
        jt: 0,
        jf: 0,
        k: keep.snap,
    });
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lands(at: usize, jump: u8) -> usize {
        at + 1 + usize::from(jump)
    }

    #[test]
    fn syn_only_jumps_land_on_accept_and_drop() {
        let keep = Keep {
            syns_only: true,
            from_ports_too: false,
            snap: 96,
        };
        let program = program(Family::V4, &[10, 20, 30], keep);
        // ldx, ldb, and, jeq, ldh, 3 port tests, drop, accept.
        assert_eq!(program.len(), 10);
        assert_eq!(lands(3, program[3].jf), 8, "not a lone SYN: drop");
        for at in [5, 6, 7] {
            assert_eq!(lands(at, program[at].jt), 9, "a port matches: accept");
        }
        assert_eq!(program[9].k, 96);
    }

    #[test]
    fn either_direction_tests_both_ports() {
        let keep = Keep {
            syns_only: false,
            from_ports_too: true,
            snap: 65_535,
        };
        let program = program(Family::V4, &[7, 8], keep);
        // ldx, ldh dst, 2 tests, ldh src, 2 tests, drop, accept.
        assert_eq!(program.len(), 9);
        assert_eq!(program[4].k, 0, "the source port is loaded second");
        for at in [2, 3, 5, 6] {
            assert_eq!(lands(at, program[at].jt), 8);
        }
        assert_eq!(lands(6, program[6].jf), 7, "no port matches: drop");
    }

    #[test]
    fn v6_differs_only_in_where_the_tcp_header_starts() {
        let keep = Keep {
            syns_only: true,
            from_ports_too: false,
            snap: 96,
        };
        let (v4, v6) = (
            program(Family::V4, &[10], keep),
            program(Family::V6, &[10], keep),
        );
        assert_eq!(v4.len(), v6.len());
        let ldx_imm = u16::try_from(libc::BPF_LDX | libc::BPF_W | libc::BPF_IMM).unwrap();
        assert_eq!((v6[0].code, v6[0].k), (ldx_imm, 0));
        for (a, b) in v4.iter().zip(&v6).skip(1) {
            assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
        }
    }
}
