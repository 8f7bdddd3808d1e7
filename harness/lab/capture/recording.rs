//! Recording what a lab relay carries on connections it took over from their taps
//! ([`super::take_over`]): the relay moves the bytes between the real sockets itself and writes
//! them to each connection's flow, so a tunnel costs no loopback pair.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::flow::{Direction, TcpFlow};
use super::tap::{Leg, Taken};

/// The connections one relay records: the leg from the client (the lab accepted it) and the leg
/// to the origin (the lab opened it), each when it was taken over from a tap.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    client: Option<Arc<TcpFlow>>,
    origin: Option<Arc<TcpFlow>>,
}

impl Recording {
    /// Record `taken` as the client leg if the lab accepted it, as the origin leg if it opened it.
    pub(crate) fn add(&mut self, taken: &Taken) {
        let flow = Some(Arc::clone(&taken.flow));
        match taken.leg {
            Leg::Accepted => self.client = flow,
            Leg::Connected => self.origin = flow,
        }
    }

    /// Whether anything is recorded (else the relay may move bytes without seeing them).
    pub(crate) fn is_on(&self) -> bool {
        self.client.is_some() || self.origin.is_some()
    }

    fn each(&self, mut record: impl FnMut(&TcpFlow)) {
        for flow in [&self.client, &self.origin].into_iter().flatten() {
            record(flow);
        }
    }

    /// Bytes from the client towards the origin (on both legs, the client's side sends them).
    pub(crate) fn up(&self, bytes: &[u8]) {
        self.each(|flow| flow.data(Direction::FromClient, bytes));
    }

    /// Bytes from the origin towards the client.
    pub(crate) fn down(&self, bytes: &[u8]) {
        self.each(|flow| flow.data(Direction::FromServer, bytes));
    }

    /// Bytes the client sent that its tap read (and recorded on the client's leg) before the
    /// hand-over: only the origin's leg has yet to show them.
    pub(crate) fn up_from_tap(&self, bytes: &[u8]) {
        if let Some(flow) = &self.origin {
            flow.data(Direction::FromClient, bytes);
        }
    }

    /// Bytes the origin sent that its tap read (and recorded on the origin's leg) before the
    /// hand-over: only the client's leg has yet to show them.
    pub(crate) fn down_from_tap(&self, bytes: &[u8]) {
        if let Some(flow) = &self.client {
            flow.data(Direction::FromServer, bytes);
        }
    }

    /// The client ended its direction, and the relay passed the FIN on to the origin.
    pub(crate) fn up_ended(&self) {
        self.each(|flow| flow.fin(Direction::FromClient));
    }

    /// The origin ended its direction, and the relay passed the FIN on to the client.
    pub(crate) fn down_ended(&self) {
        self.each(|flow| flow.fin(Direction::FromServer));
    }

    /// The client's side failed (a reset): its leg shows the client's RST, the origin's leg the
    /// lab's.
    pub(crate) fn client_reset(&self) {
        self.each(|flow| flow.rst(Direction::FromClient, None));
    }

    /// The origin's side failed: its leg shows the origin's RST, the client's leg the lab's.
    pub(crate) fn origin_reset(&self) {
        self.each(|flow| flow.rst(Direction::FromServer, None));
    }

    /// The lab stopped: it resets both legs.
    pub(crate) fn lab_stopped(&self) {
        let why = Some("the lab stopped");
        if let Some(flow) = &self.client {
            flow.rst(Direction::FromServer, why);
        }
        if let Some(flow) = &self.origin {
            flow.rst(Direction::FromClient, why);
        }
    }
}

/// A connection the lab accepted and took over from its tap, read and written as a stream: what
/// is read is recorded as the client's, what is written as the lab's. The bytes that were in
/// flight at the hand-over come first.
#[derive(Debug)]
pub(crate) struct Recorded {
    stream: TcpStream,
    recording: Recording,
    pending: Vec<u8>,
    offset: usize,
    /// The lab's shutdown: a connection dropped after it is reset, as the lab's sockets are.
    shutdown: CancellationToken,
}

impl Recorded {
    /// Wrap a taken-over accepted connection of a lab that stops with `shutdown`.
    pub(crate) fn accepted(mut taken: Taken, shutdown: &CancellationToken) -> Recorded {
        let mut recording = Recording::default();
        recording.add(&taken);
        Recorded {
            pending: std::mem::take(&mut taken.pending),
            stream: taken.stream,
            recording,
            offset: 0,
            shutdown: shutdown.clone(),
        }
    }
}

impl AsyncRead for Recorded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.offset < this.pending.len() {
            // Recorded by the tap already.
            let n = buf.remaining().min(this.pending.len() - this.offset);
            buf.put_slice(&this.pending[this.offset..this.offset + n]);
            this.offset += n;
            if this.offset == this.pending.len() {
                this.pending = Vec::new();
                this.offset = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                this.recording.up_ended();
            }
            Poll::Ready(Ok(())) => this.recording.up(&buf.filled()[before..]),
            Poll::Ready(Err(_)) => this.recording.client_reset(),
            Poll::Pending => {}
        }
        polled
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        match &polled {
            Poll::Ready(Ok(n)) => this.recording.down(&buf[..*n]),
            Poll::Ready(Err(_)) => this.recording.client_reset(),
            Poll::Pending => {}
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = polled {
            self.recording.down_ended();
        }
        polled
    }
}

impl Drop for Recorded {
    /// The lab closes the connection: its FIN, unless the connection already ended; a reset once
    /// the lab stops.
    fn drop(&mut self) {
        if self.shutdown.is_cancelled() {
            super::tap::linger_zero(&self.stream);
            self.recording.lab_stopped();
        } else {
            self.recording.down_ended();
        }
    }
}
