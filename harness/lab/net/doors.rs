//! The doors of a networked lab: at each host's address, on each port the lab knows, what its client
//! vantage meets there — a forwarder to the endpoint (or middlebox), a black hole, or nothing (RST).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::layout::Placement;
use super::{Door, DoorKind, HostAddress};
use crate::lab::context::Serving;
use crate::lab::error::LabError;
use crate::lab::firewall::blackhole::{listen_at, BlackHole};
use crate::lab::firewall::{Silent, DROPPED, REFUSED};
use crate::lab::pattern::sample_host;
use crate::lab::plan::{Family, LabPlan, Vantage};
use crate::lab::world::{Route, World};

/// How long a door waits for what it forwards to.
const FORWARD_CONNECT: Duration = Duration::from_secs(10);

/// The open doors: their black holes are held here; forwarders run as lab tasks.
#[derive(Debug)]
pub(crate) struct Doors {
    _holes: Vec<BlackHole>,
    /// Each host's address and doors.
    pub(crate) hosts: Vec<HostAddress>,
}

/// Every port a door may be needed on: the endpoints' ports and the firewall rules' ports.
fn ports(plan: &LabPlan) -> Vec<u16> {
    let mut ports: Vec<u16> = plan
        .endpoints
        .iter()
        .map(|endpoint| endpoint.port)
        .chain(plan.firewall.iter().filter_map(|rule| rule.port))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// What a client meets at `address` when the world sends it there.
fn kind(route: Route, silent: &[Silent]) -> DoorKind {
    let Route::Connect(address) = route else {
        return DoorKind::Refuse;
    };
    match silent.iter().find(|s| s.address == address).map(|s| s.fate) {
        Some(fate) if fate == DROPPED => DoorKind::Drop,
        Some(fate) if fate == REFUSED => DoorKind::Refuse,
        _ => DoorKind::Forward(address),
    }
}

/// Open every host's doors.
pub(crate) async fn open(
    placement: &Placement,
    plan: &LabPlan,
    world: &Arc<World>,
    silent: &[Silent],
    serving: &Serving,
) -> Result<Doors, LabError> {
    let ports = ports(plan);
    let mut holes = Vec::new();
    let mut hosts = Vec::new();
    for (pattern, ip) in &placement.hosts {
        let sample = sample_host(pattern, "egresslab-door");
        let mut doors = Vec::new();
        for &port in &ports {
            let what = format!("door {pattern}:{port}");
            let requested = placement.at(*ip, port);
            // A v6 door follows the v6 routes where the host's endpoint answers in v6 (so a
            // `family = "v6"` rule holds there); else it fronts the v4 endpoint as a v4 door does.
            let family = match ip {
                IpAddr::V6(_) if world.families_of(&sample).v6 => Family::V6,
                _ => Family::V4,
            };
            let route = world
                .decide_in(&sample, port, &Vantage::Client, family)
                .route;
            let door = match kind(route, silent) {
                DoorKind::Refuse => continue,
                DoorKind::Drop => {
                    let hole = BlackHole::open_at(requested).await?;
                    let address = hole.address;
                    holes.push(hole);
                    Door {
                        port,
                        address,
                        kind: DoorKind::Drop,
                    }
                }
                DoorKind::Forward(target) => {
                    let listener = listen_at(requested, &what)?;
                    let address = listener.local_addr().map_err(|source| LabError::Bind {
                        what: what.clone(),
                        address: requested,
                        source,
                    })?;
                    serving
                        .tasks
                        .spawn(forward(listener, target, serving.clone()));
                    Door {
                        port,
                        address,
                        kind: DoorKind::Forward(target),
                    }
                }
            };
            doors.push(door);
        }
        hosts.push(HostAddress {
            pattern: pattern.clone(),
            ip: *ip,
            doors,
        });
    }
    Ok(Doors {
        _holes: holes,
        hosts,
    })
}

/// Accept at a door and splice each connection to `target` until the lab shuts down.
async fn forward(listener: TcpListener, target: SocketAddr, serving: Serving) {
    loop {
        let accepted = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, peer)) = accepted else {
            continue;
        };
        let token = serving.shutdown.clone();
        serving.tasks.spawn(async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = splice(client, peer, target) => {}
            }
        });
    }
}

/// One forwarded connection: a failed connect or a reset on the far side resets the client too, so
/// the client sees what it would have seen without the door.
async fn splice(mut client: TcpStream, peer: SocketAddr, target: SocketAddr) {
    let reset = |stream: &TcpStream| {
        if let Err(error) = stream.set_zero_linger() {
            tracing::debug!(%error, "door: cannot arm the reset");
        }
    };
    let upstream = tokio::time::timeout(FORWARD_CONNECT, TcpStream::connect(target)).await;
    let mut upstream = match upstream {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%error, %peer, %target, "door: forward connect failed");
            reset(&client);
            return;
        }
        Err(_elapsed) => {
            reset(&client);
            return;
        }
    };
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(%error, %peer, %target, "door: connection ended with an error");
        if error.kind() == std::io::ErrorKind::ConnectionReset {
            reset(&client);
        }
    }
}
