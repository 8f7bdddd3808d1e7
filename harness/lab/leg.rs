//! Opening a connection on a client's behalf, known to the timeline before its SYN leaves.

use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};

use super::timeline::Timeline;

/// Connect to `remote` for `destination` as `source`, serving the connection the current task
/// serves. The leg is bound first and recorded with its local address, so the lab listener (or the
/// firewall's SYN watcher) at the far end records under the leg's id.
pub(crate) async fn open(
    timeline: &Timeline,
    source: &str,
    remote: SocketAddr,
    destination: &str,
) -> std::io::Result<TcpStream> {
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if !remote.ip().is_loopback() {
        // Not a lab listener at the far end: the source address is the kernel's choice, known only
        // once connected.
        let stream = socket.connect(remote).await?;
        let local = stream.local_addr()?;
        timeline.upstream(source, local, remote, destination);
        return Ok(stream);
    }
    // On loopback the lab's own address is the natural source, and binding it names the leg.
    socket.bind(SocketAddr::new(remote.ip(), 0))?;
    let local = socket.local_addr()?;
    timeline.upstream(source, local, remote, destination);
    socket.connect(remote).await
}
