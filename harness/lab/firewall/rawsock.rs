//! One raw IPv4 TCP socket with a kernel filter, shared by the firewall's SYN watcher and the
//! capture's view of drops and rejects.
//!
//! A raw socket receives a copy of every TCP segment the host receives; the classic BPF filter in
//! the kernel keeps only those to (or from) the lab's silent ports, so bulk traffic elsewhere never
//! reaches user space. Hand-written on libc: no maintained crate offers "raw socket + cBPF" as a
//! unit, and the program is a dozen instructions.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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

/// A non-blocking raw IPv4 TCP socket whose filter keeps nothing until [`attach`] sets one.
pub(crate) fn open(keep: Keep) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    attach(&fd, &[], keep)?;
    Ok(fd)
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
pub(crate) fn attach(fd: &OwnedFd, ports: &[u16], keep: Keep) -> io::Result<()> {
    let mut program = program(ports, keep);
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
fn program(ports: &[u16], keep: Keep) -> Vec<libc::sock_filter> {
    let ports = &ports[..ports.len().min(MAX_PORTS)];
    // (code, k, jump if true, jump if false)
    let mut laid: Vec<(u32, u32, Target, Target)> = Vec::new();
    let plain = |code: u32, k: u32| (code, k, Target::Next, Target::Next);
    // X = length of the IPv4 header.
    laid.push(plain(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH, 0));
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
        let program = program(&[10, 20, 30], keep);
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
        let program = program(&[7, 8], keep);
        // ldx, ldh dst, 2 tests, ldh src, 2 tests, drop, accept.
        assert_eq!(program.len(), 9);
        assert_eq!(program[4].k, 0, "the source port is loaded second");
        for at in [2, 3, 5, 6] {
            assert_eq!(lands(at, program[at].jt), 8);
        }
        assert_eq!(lands(6, program[6].jf), 7, "no port matches: drop");
    }
}
