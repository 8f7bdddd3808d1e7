//! Helpers for the lab's own tests: raw HTTP over loopback, and running real clients.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Send one `Connection: close` GET and read the whole answer.
pub async fn http_get(address: SocketAddr, host: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Run a real client in a blocking thread and collect its output.
pub async fn run(program: &str, args: Vec<String>) -> anyhow::Result<Output> {
    let program = program.to_owned();
    let output =
        tokio::task::spawn_blocking(move || Command::new(program).args(args).output()).await??;
    Ok(output)
}

/// stdout and stderr of a finished client, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `curl --connect-to host:port:ip:realport` arguments for one mapping.
pub fn connect_to(host: &str, port: u16, address: SocketAddr) -> Vec<String> {
    vec![
        "--connect-to".to_owned(),
        format!("{host}:{port}:{}:{}", address.ip(), address.port()),
    ]
}

/// Strings to a Vec<String>.
pub fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}
