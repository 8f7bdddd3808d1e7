//! The lab's packet capture: every connection and datagram the lab takes part in, written as a
//! pcapng file that Wireshark and tshark open, with the TLS secrets of the lab's own handshakes
//! embedded (and, if asked, in an NSS key log file), so the file alone decrypts.
//!
//! The capture is reconstructed from the lab's sockets, not sniffed: a connection's handshake is
//! written when the lab accepts or opens it, its bytes as the lab reads them, its end as the lab
//! sees it. Only the firewall's drops and rejects, which no lab socket sees, come from a raw socket
//! when the process may open one (root or CAP_NET_RAW). docs/capture.md says where that matters.
//!
//! ```
//! use egresslab::lab::{CaptureOptions, EndpointPlan, Lab};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let file = dir.path().join("lab.pcapng");
//! let lab = Lab::builder()
//!     .endpoint(EndpointPlan::http("site", &["site.egresslab.test"], 80))
//!     .capture(CaptureOptions::to_file(&file))
//!     .start()
//!     .await
//!     .unwrap();
//! assert!(lab.capture().is_recording());
//! lab.shutdown().await;
//! // A section header and the lab's interface, at least.
//! assert!(std::fs::metadata(&file).unwrap().len() > 28);
//! # });
//! ```

mod direct;
mod flow;
mod keylog;
pub(crate) mod packet;
mod pcapng;
mod raw;
mod recording;
mod redact;
mod streams;
mod tap;
mod writer;

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use raw::Watched;
pub(crate) use recording::{Recorded, Recording};
pub(crate) use tap::{shutdown_write, take_over, tap, write_all, Leg, TakeOver};

use self::pcapng::PcapngFile;
use self::streams::Streams;
use crate::lab::context::Serving;
use crate::lab::plan::Family;

/// What to capture and where: the library option behind `--capture`, `--keylog`, `--snaplen` and
/// `--redact`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureOptions {
    /// The pcapng file to write (created or truncated, owner-only: it holds TLS secrets).
    pub pcapng: Option<PathBuf>,
    /// An NSS key log file to append every TLS secret of the lab's handshakes to.
    pub keylog: Option<PathBuf>,
    /// Keep at most this many payload bytes of each packet (`None`: all of them).
    pub snaplen: Option<u32>,
    /// Mask credential header values (`Authorization`, `Proxy-Authorization`) in clear-text payloads.
    pub redact: bool,
}

impl CaptureOptions {
    /// Capture everything to the pcapng file at `path`.
    pub fn to_file(path: impl AsRef<Path>) -> Self {
        CaptureOptions {
            pcapng: Some(path.as_ref().to_path_buf()),
            ..CaptureOptions::default()
        }
    }

    /// Whether anything is to be written at all.
    pub fn is_on(&self) -> bool {
        self.pcapng.is_some() || self.keylog.is_some()
    }
}

/// A capture file or key log could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be created or its first blocks written.
    #[error("cannot create the capture file {path}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The key log file could not be opened for appending.
    #[error("cannot open the key log file {path}")]
    KeyLog {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A running capture: cheap to clone, shared by every serving task of a lab. A capture that is off
/// does nothing and costs one branch per connection.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    options: CaptureOptions,
    /// `None` once writing failed (the file then ends on its last whole block) or when no pcapng
    /// was asked for.
    state: Mutex<State>,
    keylog: Option<Mutex<File>>,
    /// Why writing stopped, once it did.
    failure: Mutex<Option<String>>,
    stopped: AtomicBool,
    packets: AtomicU64,
    /// Whether the firewall's drops and rejects are seen by a raw socket.
    raw: AtomicBool,
    /// The lab's own listening addresses: a connection the lab opens to one of them is recorded
    /// once, where it is accepted, not twice.
    own: RwLock<HashSet<SocketAddr>>,
    /// The taps whose handlers may take their connection over.
    handovers: Arc<tap::Handovers>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("options", &self.options)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

struct State {
    file: Option<PcapngFile<Box<dyn pcapng::Sink>>>,
    streams: Streams,
    scratch: Vec<u8>,
}

/// What the capture says about itself, for a status line or a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureStatus {
    /// Packets written.
    pub packets: u64,
    /// Bytes the file holds.
    pub bytes: u64,
    /// Why writing stopped, if it did.
    pub failure: Option<String>,
    /// Connections whose handler took the socket back from its tap to record what it relays
    /// itself (a blind tunnel's legs, an echo): each one a loopback pair less.
    pub handed_over: u64,
}

/// The note every capture carries in its section header.
const RECONSTRUCTED: &str = "egresslab capture: packets reconstructed from the lab's own sockets \
(handshakes when a connection is accepted or opened, data as the lab reads it, FIN and RST as the \
lab sees them); see docs/capture.md";

/// Open `path` for writing, owner-only (it holds TLS secrets).
fn owner_only(path: &Path, append: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.write(true).create(true).mode(0o600);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    options.open(path)
}

impl Capture {
    /// A capture that records nothing.
    pub fn off() -> Capture {
        Capture { inner: None }
    }

    /// Open the files `options` name. `raw_note` says whether the firewall's drops are seen by a
    /// raw socket, for the file's header.
    pub(crate) fn open(options: CaptureOptions) -> Result<Capture, CaptureError> {
        if !options.is_on() {
            return Ok(Capture::off());
        }
        let raw = raw::available();
        let file = match &options.pcapng {
            None => None,
            Some(path) => {
                let create = |source| CaptureError::Create {
                    path: path.clone(),
                    source,
                };
                let file = owner_only(path, false).map_err(create)?;
                let sink: Box<dyn pcapng::Sink> =
                    Box::new(writer::Background::start(direct::open(path, file)).map_err(create)?);
                let comments = [
                    RECONSTRUCTED.to_owned(),
                    raw::note(raw.as_ref().err()),
                    options.snaplen.map_or("snap length: none".to_owned(), |n| {
                        format!("snap length: {n} payload bytes per packet")
                    }),
                    format!(
                        "credential headers: {}",
                        if options.redact {
                            "masked (--redact)"
                        } else {
                            "as sent (Basic passwords are readable)"
                        }
                    ),
                ];
                let snaplen = options.snaplen.map_or(0, |n| n.saturating_add(60));
                let file = PcapngFile::start(sink, &comments, snaplen)
                    .map_err(|e| create(std::io::Error::other(e.to_string())))?;
                Some(file)
            }
        };
        let keylog = match &options.keylog {
            None => None,
            Some(path) => Some(Mutex::new(owner_only(path, true).map_err(|source| {
                CaptureError::KeyLog {
                    path: path.clone(),
                    source,
                }
            })?)),
        };
        Ok(Capture {
            inner: Some(Arc::new(Inner {
                raw: AtomicBool::new(raw.is_ok()),
                options,
                state: Mutex::new(State {
                    file,
                    streams: Streams::default(),
                    scratch: Vec::with_capacity(packet::MAX_SEGMENT + 64),
                }),
                keylog,
                failure: Mutex::new(None),
                own: RwLock::new(HashSet::new()),
                handovers: Arc::default(),
                stopped: AtomicBool::new(false),
                packets: AtomicU64::new(0),
            })),
        })
    }

    /// Whether packets are being written (a pcapng file was asked for and no write failed).
    pub fn is_recording(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| {
            inner.options.pcapng.is_some() && !inner.stopped.load(Ordering::Relaxed)
        })
    }

    /// The taps that can hand their connection over (`None` when the capture is off).
    fn handovers(&self) -> Option<Arc<tap::Handovers>> {
        self.inner
            .as_ref()
            .map(|inner| Arc::clone(&inner.handovers))
    }

    /// Whether TLS secrets are wanted (a key log or a pcapng file).
    pub(crate) fn wants_secrets(&self) -> bool {
        self.inner.is_some()
    }

    /// Packets written, bytes in the file, and why writing stopped if it did.
    pub fn status(&self) -> CaptureStatus {
        let Some(inner) = &self.inner else {
            return CaptureStatus {
                packets: 0,
                bytes: 0,
                failure: None,
                handed_over: 0,
            };
        };
        let bytes = inner.lock().file.as_ref().map_or(0, |file| file.on_disk());
        CaptureStatus {
            packets: inner.packets.load(Ordering::Relaxed),
            bytes,
            failure: inner
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            handed_over: inner.handovers.handed(),
        }
    }

    /// The capture's `tcp.stream` number of the connection between `client` and `server` (as
    /// tshark numbers streams: in the order of their first packet), if it is in the file. The
    /// timeline names it so a person moves from an event to its packets.
    pub fn stream_index(&self, client: SocketAddr, server: SocketAddr) -> Option<u32> {
        self.inner.as_ref()?.lock().streams.find(client, server)
    }

    /// Push what is buffered to the file (the lab does it periodically and when it stops).
    pub fn flush(&self) {
        if let Some(inner) = &self.inner {
            let mut state = inner.lock();
            if let Some(file) = state.file.as_mut() {
                if let Err(error) = file.flush() {
                    inner.fail(&mut state, &error.to_string());
                }
            }
        }
    }

    /// Note that the lab listens at `addresses` (its connections there are recorded on accept).
    pub(crate) fn listening(&self, addresses: impl IntoIterator<Item = SocketAddr>) {
        if let Some(inner) = &self.inner {
            inner
                .own
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .extend(addresses);
        }
    }

    /// Whether the lab itself listens at `address`.
    pub(crate) fn is_own(&self, address: SocketAddr) -> bool {
        self.inner.as_ref().is_some_and(|inner| {
            inner
                .own
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&address)
        })
    }

    /// Whether the firewall's drops and rejects are recorded from a raw socket.
    pub fn sees_firewall(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|inner| inner.raw.load(Ordering::Relaxed))
    }

    fn options(&self) -> Option<&CaptureOptions> {
        self.inner.as_ref().map(|inner| &inner.options)
    }

    /// Write one packet: the headers `build` puts in the scratch buffer, then `payload` (what a
    /// snap length cuts), with `comment`. `new_stream`, when the packet opens a TCP conversation,
    /// numbers it.
    pub(crate) fn write(
        &self,
        new_stream: Option<(SocketAddr, SocketAddr)>,
        payload: &[u8],
        comment: Option<&str>,
        build: impl FnOnce(&mut Vec<u8>) -> Result<(), packet::Unbuildable>,
    ) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        let mut state = inner.lock();
        let state = &mut *state;
        if state.file.is_none() {
            return;
        }
        if let Err(error) = build(&mut state.scratch) {
            tracing::debug!(%error, "packet not captured");
            return;
        }
        if let Some((client, server)) = new_stream {
            state.streams.open(client, server);
        }
        let snap = inner.options.snaplen.map(|n| n as usize);
        let written = state
            .file
            .as_mut()
            .map(|file| file.packet(now(), &state.scratch, payload, snap, comment));
        match written {
            Some(Ok(())) => {
                inner.packets.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(error)) => {
                let error = error.to_string();
                inner.fail_state(state, &error);
            }
            None => {}
        }
    }

    /// Record a UDP datagram from `from` to `to`.
    pub(crate) fn datagram(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
        comment: Option<&str>,
    ) {
        if !self.is_recording() {
            return;
        }
        self.write(None, payload, comment, |out| {
            packet::udp(from, to, payload, out)
        });
    }

    /// Key log `line` (NSS format, with its newline): to the key log file and, as a Decryption
    /// Secrets Block, into the pcapng before any packet that needs it.
    pub(crate) fn secret(&self, line: &str) {
        let Some(inner) = &self.inner else {
            return;
        };
        if let Some(keylog) = &inner.keylog {
            let mut file = keylog.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(error) = file.write_all(line.as_bytes()) {
                tracing::warn!(%error, "cannot append to the key log file");
            }
        }
        let mut state = inner.lock();
        let written = state
            .file
            .as_mut()
            .map(|file| file.secrets(line.as_bytes()));
        if let Some(Err(error)) = written {
            inner.fail(&mut state, &error.to_string());
        }
    }

    /// Stop writing: flush and keep the file as it is.
    pub(crate) fn finish(&self) {
        self.flush();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, state: &mut MutexGuard<'_, State>, error: &str) {
        self.fail_state(state, error);
    }

    /// Writing failed: stop the capture (the lab goes on), keep the file as it is, say why once.
    fn fail_state(&self, state: &mut State, error: &str) {
        state.file = None;
        self.stopped.store(true, Ordering::Relaxed);
        let path = self
            .options
            .pcapng
            .as_deref()
            .map_or("the capture".to_owned(), |p| p.display().to_string());
        let message = format!(
            "capture stopped: cannot write {path}: {error}; the file keeps the packets written before, the lab goes on"
        );
        tracing::error!("{message}");
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

/// The time now, since the Unix epoch (a clock before 1970 is taken as the epoch).
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Capture {
    /// A packet seen by the raw socket, written as it was; the first of its conversation opens a
    /// stream and carries `reason`.
    pub(crate) fn raw_packet(
        &self,
        packet: &[u8],
        client: SocketAddr,
        server: SocketAddr,
        reason: &str,
    ) {
        let new = self.stream_index(client, server).is_none();
        let (stream, comment) = if new {
            (Some((client, server)), Some(reason))
        } else {
            (None, None)
        };
        self.write(stream, &[], comment, |out| {
            out.clear();
            out.extend_from_slice(packet);
            Ok(())
        });
    }
}

/// How often buffered packets are pushed to the file, so a person can open it while the lab runs.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Start the capture's own tasks on the lab's tracker: the periodic flush and, when the firewall
/// has addresses to `watch` and a raw socket can be had, the raw watcher.
pub(crate) fn start(serving: &Serving, watch: Vec<Watched>) {
    let capture = serving.capture.clone();
    if !capture.is_recording() {
        return;
    }
    let shutdown = serving.shutdown.clone();
    let flusher = capture.clone();
    let stop = shutdown.clone();
    serving.tasks.spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => flusher.flush(),
            }
        }
        flusher.flush();
    });
    if watch.is_empty() {
        return;
    }
    for family in [Family::V4, Family::V6] {
        if let Some(socket) = raw::open(&capture, family, &watch) {
            serving.tasks.spawn(raw::watch(
                socket,
                family,
                capture.clone(),
                watch.clone(),
                shutdown.clone(),
            ));
        }
    }
}
