//! Relaying a blind tunnel between two TCP sockets without per-tunnel buffers while idle, and with
//! splice(2) zero-copy on Linux once a direction carries bulk data.
//!
//! Each direction waits for readiness before it allocates anything, never zeroes its buffer, and
//! gives it back when a read leaves the socket empty, so an idle tunnel holds no relay buffer. Small exchanges go through a copy loop (cheaper to set up than a pipe); the first read
//! that fills the whole copy buffer switches that direction to splice through a pipe of its own,
//! which moves pages between the sockets without copying them through user space. If no pipe can
//! be had (out of descriptors), the copy loop carries on. Half-closes are carried through: one
//! direction's end of stream becomes a `shutdown(SHUT_WR)` of the other socket.

use std::io::ErrorKind;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::tunnel::{drive, End, Relayed};
use crate::lab::capture::{shutdown_write, write_all, Recording};

/// A client stream of the proxy; plain TCP exposes its socket so the tunnel can use [`relay_tcp`].
pub(crate) trait AsTcp {
    /// The TCP socket, when the stream is one (not TLS to an `https://` proxy).
    fn as_tcp(&self) -> Option<&TcpStream>;
}

impl AsTcp for TcpStream {
    fn as_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl AsTcp for crate::lab::context::ResetOnShutdown {
    fn as_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl<S> AsTcp for tokio_rustls::server::TlsStream<S> {
    fn as_tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// The copy buffer, allocated on a direction's first data; a read that fills it switches to splice.
const COPY_BUF: usize = 32 * 1024;

/// Relay between two TCP sockets until both directions ended, one failed, or `shutdown` is
/// cancelled (same contract and reasons as [`super::tunnel::relay`]). What crosses is written to
/// `recording` (the capture's legs the relay took over from their taps); a recorded direction
/// stays in the copy loop, since the bytes must pass through user space to be written.
pub(crate) async fn relay_tcp(
    client: &TcpStream,
    origin: &TcpStream,
    recording: &Recording,
    shutdown: &CancellationToken,
) -> Relayed {
    let (mut up, mut down) = (0u64, 0u64);
    let reason = {
        let upward = pump(client, origin, &mut up, Way::Up, recording);
        let downward = pump(origin, client, &mut down, Way::Down, recording);
        drive(upward, downward, shutdown).await
    };
    if reason == "shutdown" {
        recording.lab_stopped();
    }
    Relayed { up, down, reason }
}

/// Which way a pump carries bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the client to the origin.
    Up,
    /// From the origin to the client.
    Down,
}

impl Way {
    /// The name of the side a pump reads.
    fn reader(self) -> &'static str {
        match self {
            Way::Up => "client",
            Way::Down => "origin",
        }
    }

    fn record(self, recording: &Recording, bytes: &[u8]) {
        match self {
            Way::Up => recording.up(bytes),
            Way::Down => recording.down(bytes),
        }
    }

    fn record_end(self, recording: &Recording) {
        match self {
            Way::Up => recording.up_ended(),
            Way::Down => recording.down_ended(),
        }
    }

    /// The side named `side` failed.
    fn record_failure(recording: &Recording, side: &str) {
        if side == "client" {
            recording.client_reset();
        } else {
            recording.origin_reset();
        }
    }
}

/// The other side's name, for a failed write.
fn other(reader: &'static str) -> &'static str {
    if reader == "client" {
        "origin"
    } else {
        "client"
    }
}

/// Whether a direction that carried `count` bytes is moving bulk data (its buffer is kept between
/// reads); a direction that exchanged a few requests and answers is not.
fn bulk_so_far(count: u64) -> bool {
    count >= 4 * COPY_BUF as u64
}

/// The copy buffer of a recorded direction: larger, since it never switches to splice.
const RECORDED_BUF: usize = 128 * 1024;

/// Copy `from` into `to` until end of stream, switching to splice on bulk data unless the
/// direction is recorded.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    count: &mut u64,
    way: Way,
    recording: &Recording,
) -> End {
    let end = copy(from, to, count, way, recording).await;
    if recording.is_on() {
        match &end {
            End::Eof => way.record_end(recording),
            End::Failed(side, _) => Way::record_failure(recording, side),
        }
    }
    end
}

async fn copy(
    from: &TcpStream,
    to: &TcpStream,
    count: &mut u64,
    way: Way,
    recording: &Recording,
) -> End {
    let reader = way.reader();
    let recorded = recording.is_on();
    let room = if recorded { RECORDED_BUF } else { COPY_BUF };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if let Err(error) = from.readable().await {
            return End::Failed(reader, error);
        }
        // Allocated on the first data, never zeroed: only the pages the kernel writes become
        // resident, so a tunnel that exchanged a few bytes and went idle costs one page here.
        buf.clear();
        buf.reserve(room);
        let n = match from.try_read_buf(&mut buf) {
            Ok(0) => {
                shutdown_write(to);
                return End::Eof;
            }
            Ok(n) => n,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                // The readiness was stale (the last read had emptied the socket): the direction
                // goes back to waiting, and unless it is moving bulk it waits without a buffer.
                // Keeping this one was 2 × 32 KiB of heap per idle tunnel.
                if !bulk_so_far(*count) {
                    buf = Vec::new();
                }
                continue;
            }
            Err(error) => return End::Failed(reader, error),
        };
        if recorded {
            way.record(recording, &buf[..n]);
        }
        if let Err(error) = write_all(to, &buf[..n]).await {
            return End::Failed(other(reader), error);
        }
        *count += n as u64;
        #[cfg(target_os = "linux")]
        if n >= COPY_BUF && !recorded {
            if let Some(pipe) = splice::Pipe::new() {
                drop(buf);
                return splice::pump(from, to, count, reader, pipe).await;
            }
        }
        if n < COPY_BUF {
            // The read took what the socket had: the direction goes back to waiting, and a
            // tunnel that waits holds no buffer (the next data allocates one again).
            buf = Vec::new();
        }
    }
}

#[cfg(target_os = "linux")]
mod splice {
    //! The zero-copy direction: socket → pipe → socket with splice(2).

    use std::io::ErrorKind;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    use tokio::io::Interest;
    use tokio::net::TcpStream;

    use super::{other, shutdown_write, End};

    /// The pipe size asked for (the kernel may grant less; 64 KiB is the default).
    const PIPE_SIZE: libc::c_int = 1024 * 1024;

    /// A non-blocking pipe, closed on drop.
    pub(super) struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
        size: usize,
    }

    impl Pipe {
        /// A new pipe, or `None` when the process is out of descriptors.
        pub(super) fn new() -> Option<Pipe> {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: `fds` is a valid array of two descriptors for pipe2(2) to fill.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
                return None;
            }
            // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
            let (read, write) =
                unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // SAFETY: fcntl on a descriptor we own; a refusal leaves the default size.
            let granted = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
            let size = if granted > 0 {
                granted as usize
            } else {
                64 * 1024
            };
            Some(Pipe { read, write, size })
        }
    }

    fn splice(from: RawFd, to: RawFd, len: usize) -> std::io::Result<usize> {
        // SAFETY: both descriptors are open for the duration of the call; null offsets mean the
        // current position, as sockets and pipes require.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Move `from` into `to` through `pipe` until end of stream. The pipe is empty whenever the
    /// socket is read, so a would-block on either splice is the socket's, and tokio's readiness
    /// stays right.
    pub(super) async fn pump(
        from: &TcpStream,
        to: &TcpStream,
        count: &mut u64,
        reader: &'static str,
        pipe: Pipe,
    ) -> End {
        let (pipe_read, pipe_write) = (pipe.read.as_raw_fd(), pipe.write.as_raw_fd());
        loop {
            if let Err(error) = from.readable().await {
                return End::Failed(reader, error);
            }
            let filled = from.try_io(Interest::READABLE, || {
                splice(from.as_raw_fd(), pipe_write, pipe.size)
            });
            let mut left = match filled {
                Ok(0) => {
                    shutdown_write(to);
                    return End::Eof;
                }
                Ok(n) => n,
                Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
                Err(error) => return End::Failed(reader, error),
            };
            *count += left as u64;
            while left > 0 {
                if let Err(error) = to.writable().await {
                    return End::Failed(other(reader), error);
                }
                match to.try_io(Interest::WRITABLE, || {
                    splice(pipe_read, to.as_raw_fd(), left)
                }) {
                    Ok(n) => left -= n,
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                    Err(error) => return End::Failed(other(reader), error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (near, far) = tokio::join!(TcpStream::connect(address), listener.accept());
        (near.unwrap(), far.unwrap().0)
    }

    #[tokio::test]
    async fn bulk_and_half_close_go_through_both_ways() {
        let (mut client_far, client) = pair().await;
        let (origin, mut origin_far) = pair().await;
        let shutdown = CancellationToken::new();
        let relay = tokio::spawn(async move {
            relay_tcp(&client, &origin, &Recording::default(), &shutdown).await
        });

        // 4 MiB upward: large enough to switch to splice; the half-close follows the data.
        let payload: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            client_far.write_all(&sent).await.unwrap();
            client_far.shutdown().await.unwrap();
            client_far
        });
        let mut got = Vec::new();
        origin_far.read_to_end(&mut got).await.unwrap();
        assert!(got == payload, "every byte arrives in order before the FIN");
        let mut client_far = writer.await.unwrap();

        // The late reply after the client's FIN still reaches the client, also in bulk.
        origin_far.write_all(&payload).await.unwrap();
        origin_far.shutdown().await.unwrap();
        let mut back = Vec::new();
        client_far.read_to_end(&mut back).await.unwrap();
        assert!(back == payload, "the late reply arrives whole");

        let relayed = relay.await.unwrap();
        assert_eq!((relayed.up, relayed.down), (4 << 20, 4 << 20));
        assert_eq!(relayed.reason, "client closed first");
    }

    #[tokio::test]
    async fn a_small_exchange_stays_in_the_copy_loop_and_cancellation_ends_it() {
        let (mut client_far, client) = pair().await;
        let (origin, mut origin_far) = pair().await;
        let shutdown = CancellationToken::new();
        let cancel = shutdown.clone();
        let relay = tokio::spawn(async move {
            relay_tcp(&client, &origin, &Recording::default(), &shutdown).await
        });
        client_far.write_all(b"ping").await.unwrap();
        let mut four = [0u8; 4];
        origin_far.read_exact(&mut four).await.unwrap();
        origin_far.write_all(b"pong").await.unwrap();
        client_far.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"pong");
        cancel.cancel();
        let relayed = relay.await.unwrap();
        assert_eq!(
            (relayed.up, relayed.down, relayed.reason.as_str()),
            (4, 4, "shutdown")
        );
    }
}
