//! One TCP connection as packets: the handshake, data segments with consistent sequence and
//! acknowledgement numbers, FIN and RST.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use super::packet::{self, Flags, Segment, MAX_SEGMENT};
use super::redact::redact;
use super::Capture;

/// Which way bytes go on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the side that opened the connection.
    FromClient,
    /// From the side that accepted it.
    FromServer,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::FromClient => 0,
            Direction::FromServer => 1,
        }
    }

    pub(crate) fn other(self) -> Direction {
        match self {
            Direction::FromClient => Direction::FromServer,
            Direction::FromServer => Direction::FromClient,
        }
    }
}

/// A TCP connection being written to a capture. Its two directions may be recorded from two tasks.
#[derive(Debug)]
pub(crate) struct TcpFlow {
    capture: Capture,
    client: SocketAddr,
    server: SocketAddr,
    /// The next sequence number of each direction, and whether it has ended (FIN or RST sent).
    seq: Mutex<[(u32, bool); 2]>,
}

/// Initial sequence numbers: fixed, so that a capture of the same exchange reads the same.
const CLIENT_ISN: u32 = 1_000;
const SERVER_ISN: u32 = 5_000;

impl TcpFlow {
    /// Write the three-way handshake between `client` and `server`; the SYN carries `comment` (the
    /// lab's reason for the connection).
    pub(crate) fn open(
        capture: &Capture,
        client: SocketAddr,
        server: SocketAddr,
        comment: &str,
    ) -> TcpFlow {
        let flow = TcpFlow {
            capture: capture.clone(),
            client,
            server,
            seq: Mutex::new([(CLIENT_ISN, false), (SERVER_ISN, false)]),
        };
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        flow.send(
            Direction::FromClient,
            syn,
            &[],
            Some(comment),
            Some((client, server)),
        );
        flow.send(
            Direction::FromServer,
            Flags {
                syn: true,
                ack: true,
                ..Flags::default()
            },
            &[],
            None,
            None,
        );
        flow.send(Direction::FromClient, ack(), &[], None, None);
        flow
    }

    /// Bytes sent in `direction`, as segments of at most [`MAX_SEGMENT`] bytes, each acknowledged.
    pub(crate) fn data(&self, direction: Direction, bytes: &[u8]) {
        if !self.capture.is_recording() || bytes.is_empty() {
            return;
        }
        let bytes = match self.capture.options() {
            Some(options) if options.redact => redact(bytes),
            _ => Cow::Borrowed(bytes),
        };
        for chunk in bytes.chunks(MAX_SEGMENT) {
            let psh = Flags { psh: true, ..ack() };
            self.send(direction, psh, chunk, None, None);
            self.send(direction.other(), ack(), &[], None, None);
        }
    }

    /// The end of `direction` (a FIN), acknowledged by the other side.
    pub(crate) fn fin(&self, direction: Direction) {
        if self.ended(direction) {
            return;
        }
        let fin = Flags { fin: true, ..ack() };
        self.send(direction, fin, &[], None, None);
        self.send(direction.other(), ack(), &[], None, None);
        self.mark_ended(direction);
    }

    /// A reset sent in `direction`, carrying `comment` (why, when the lab knows).
    pub(crate) fn rst(&self, direction: Direction, comment: Option<&str>) {
        if self.ended(direction) && self.ended(direction.other()) {
            return;
        }
        let rst = Flags { rst: true, ..ack() };
        self.send(direction, rst, &[], comment, None);
        self.mark_ended(direction);
        self.mark_ended(direction.other());
    }

    fn ended(&self, direction: Direction) -> bool {
        self.seq.lock().unwrap_or_else(PoisonError::into_inner)[direction.index()].1
    }

    fn mark_ended(&self, direction: Direction) {
        self.seq.lock().unwrap_or_else(PoisonError::into_inner)[direction.index()].1 = true;
    }

    /// Write one segment in `direction` and advance that direction's sequence number by its
    /// payload (and by one for SYN or FIN).
    fn send(
        &self,
        direction: Direction,
        flags: Flags,
        payload: &[u8],
        comment: Option<&str>,
        new_stream: Option<(SocketAddr, SocketAddr)>,
    ) {
        // The lock is held while the packet is written, so packets reach the file in the order
        // their numbers were given (the two directions are recorded from two tasks).
        let mut state = self.seq.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = state[direction.index()].0;
        let ack = state[direction.other().index()].0;
        let advance = payload.len() as u32 + u32::from(flags.syn || flags.fin);
        state[direction.index()].0 = seq.wrapping_add(advance);
        let (from, to) = match direction {
            Direction::FromClient => (self.client, self.server),
            Direction::FromServer => (self.server, self.client),
        };
        let segment = Segment {
            from,
            to,
            seq,
            ack,
            flags,
            payload,
        };
        self.capture.write(new_stream, payload, comment, |out| {
            packet::tcp(&segment, out)
        });
        drop(state);
    }
}

fn ack() -> Flags {
    Flags {
        ack: true,
        ..Flags::default()
    }
}
