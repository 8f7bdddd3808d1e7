//! A link: Toxiproxy's "proxy", a TCP relay from a loopback listener to one upstream the lab knows,
//! with toxics on each direction that change while connections are open.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::pipe::{self, Close};
use super::toxic::Toxic;
use crate::lab::capture::Leg;
use crate::lab::context::Serving;
use crate::lab::leg;
use crate::lab::timeline::{EventKind, Timeline};

/// How long a link waits for its upstream to accept before it closes the client's connection.
const UPSTREAM_CONNECT: Duration = Duration::from_secs(10);

/// What a link is set to: where it listens, where it relays, whether it is on.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The address it listens on (the real port once bound).
    pub listen: SocketAddr,
    /// The upstream as the client wrote it (a lab name or an address).
    pub upstream: String,
    /// Where that upstream is.
    pub upstream_address: SocketAddr,
    /// Whether it accepts connections; a disabled link's port refuses.
    pub enabled: bool,
}

/// A running link.
pub(crate) struct Link {
    pub name: String,
    settings: Mutex<Settings>,
    /// Cancelled to stop the listener and drop every open connection (disable, delete, update).
    running: Mutex<CancellationToken>,
    /// The listening socket while the link listens, so that stopping refuses new connections at
    /// once, before the accept task has noticed the cancellation.
    listening: Mutex<Option<Arc<TcpListener>>>,
    /// The toxics, in the order they were added; every open connection sees a change at once.
    toxics: watch::Sender<Arc<Vec<Toxic>>>,
    connections: AtomicU64,
    seed: u64,
    serving: Serving,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Link {
    /// A link, listening at once if `settings.enabled`.
    pub(crate) fn start(
        name: String,
        settings: Settings,
        seed: u64,
        serving: Serving,
    ) -> Result<Arc<Link>, ApiError> {
        let link = Arc::new(Link {
            name,
            settings: Mutex::new(settings.clone()),
            running: Mutex::new(CancellationToken::new()),
            listening: Mutex::new(None),
            toxics: watch::Sender::new(Arc::new(Vec::new())),
            connections: AtomicU64::new(0),
            seed,
            serving,
        });
        if settings.enabled {
            link.listen()?;
        }
        Ok(link)
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// The current toxics.
    pub(crate) fn toxics(&self) -> Arc<Vec<Toxic>> {
        self.toxics.borrow().clone()
    }

    /// Replace the toxics; open connections apply the new list to their next chunk.
    pub(crate) fn set_toxics(&self, toxics: Vec<Toxic>) {
        self.toxics.send_replace(Arc::new(toxics));
    }

    /// Change the settings: a new listen address or upstream restarts the listener and drops open
    /// connections (as Toxiproxy does); `enabled` starts or stops it.
    pub(crate) fn update(self: &Arc<Self>, new: Settings) -> Result<(), ApiError> {
        let old = self.settings();
        let mut new = new;
        // Port 0 on the same address keeps the port the link has: re-binding would move it.
        if new.listen.port() == 0 && new.listen.ip() == old.listen.ip() {
            new.listen = old.listen;
        }
        let moved = old.listen != new.listen || old.upstream_address != new.upstream_address;
        if old.enabled && (moved || !new.enabled) {
            self.stop();
        }
        *lock(&self.settings) = new.clone();
        if new.enabled && (moved || !old.enabled) {
            if let Err(error) = self.listen() {
                lock(&self.settings).enabled = false;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Stop listening and drop every open connection.
    pub(crate) fn stop(&self) {
        if let Some(listener) = lock(&self.listening).take() {
            // shutdown(2) on a listening socket ends its listening state: from this moment a
            // connect is refused, as Toxiproxy's disabled proxy refuses, even though the accept task
            // drops the socket only when it next runs.
            // SAFETY: the descriptor is open: `listener` keeps it alive for the call.
            unsafe {
                libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
        let mut running = lock(&self.running);
        running.cancel();
        *running = CancellationToken::new();
    }

    fn listen(self: &Arc<Self>) -> Result<(), ApiError> {
        let wanted = lock(&self.settings).listen;
        let std_listener = std::net::TcpListener::bind(wanted)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| ApiError::listen(&wanted.to_string(), &e))?;
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| ApiError::listen(&wanted.to_string(), &e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| ApiError::listen(&wanted.to_string(), &e))?;
        lock(&self.settings).listen = bound;
        self.serving.capture.listening([bound]);
        let token = self.serving.shutdown.child_token();
        *lock(&self.running) = token.clone();
        let listener = Arc::new(listener);
        *lock(&self.listening) = Some(Arc::clone(&listener));
        let link = Arc::clone(self);
        self.serving.tasks.spawn(async move {
            link.accept(listener, token).await;
        });
        Ok(())
    }

    async fn accept(self: Arc<Self>, listener: Arc<TcpListener>, token: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = token.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((client, peer)) => {
                    let link = Arc::clone(&self);
                    let token = token.clone();
                    let local = client.local_addr().unwrap_or(peer);
                    let id = self.serving.timeline.accepted(&self.source(), peer, local);
                    self.serving
                        .tasks
                        .spawn(Timeline::in_connection(id, async move {
                            link.relay(client, token).await;
                        }));
                }
                Err(error) => {
                    tracing::debug!(link = %self.name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn source(&self) -> String {
        format!("link:{}", self.name)
    }

    async fn relay(self: Arc<Self>, client: TcpStream, token: CancellationToken) {
        let number = self.connections.fetch_add(1, Ordering::Relaxed);
        let reason = || format!("client to link {}", self.name);
        let client = self.serving.tapped(client, Leg::Accepted, reason).await;
        let upstream_address = lock(&self.settings).upstream_address;
        let (source, what) = (self.source(), format!("upstream of link {}", self.name));
        let opened = leg::open(&self.serving.timeline, &source, upstream_address, &what);
        let upstream = tokio::select! {
            () = token.cancelled() => return,
            connected = tokio::time::timeout(UPSTREAM_CONNECT, opened) => connected,
        };
        let upstream = match upstream {
            Ok(Ok(stream)) => {
                let reason = || format!("link {} to its upstream", self.name);
                self.serving.tapped(stream, Leg::Connected, reason).await
            }
            Ok(Err(error)) => {
                self.closed(0, 0, &format!("upstream {upstream_address}: {error}"));
                return;
            }
            Err(_) => {
                self.closed(
                    0,
                    0,
                    &format!("upstream {upstream_address}: no answer in 10 s"),
                );
                return;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let outcome = pipe::connection(pipe::Connection {
            client,
            upstream,
            toxics: self.toxics.subscribe(),
            seed: self.seed,
            link: &self.name,
            number,
            stop: token,
            destination: None,
        })
        .await;
        let reason = match outcome.close {
            Close::Ended => "closed",
            Close::Stopped => "link disabled or removed",
            Close::ToxicClosed(why) | Close::ToxicReset(why) => why,
        };
        self.closed(outcome.up, outcome.down, reason);
    }

    fn closed(&self, bytes_up: u64, bytes_down: u64, reason: &str) {
        self.serving.timeline.record(
            &self.source(),
            EventKind::Closed {
                bytes_up,
                bytes_down,
                reason: reason.to_owned(),
            },
        );
    }
}
