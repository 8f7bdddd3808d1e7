//! `egresslab up` stopped by SIGTERM or SIGINT with tunnels open: exit status 0, the ready file and
//! every folder it named removed, and the lab's ports free to bind again at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Tunnels held open through the proxy when the signal comes.
const TUNNELS: usize = 500;

fn wait_for(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("egresslab up ended before it was ready: {status}");
        }
        assert!(Instant::now() < deadline, "no ready file after 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn address(value: &serde_json::Value) -> SocketAddr {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an address: {value}"))
}

/// One CONNECT through `proxy` to the lab's site, answered 200 and left open.
fn tunnel(proxy: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).expect("the proxy accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read time-out");
    stream
        .write_all(
            b"CONNECT site.egresslab.test:443 HTTP/1.1\r\nHost: site.egresslab.test:443\r\n\r\n",
        )
        .expect("CONNECT sent");
    let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
    let mut status = String::new();
    reader.read_line(&mut status).expect("an answer");
    assert!(status.contains(" 200 "), "{status}");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("the head");
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    stream
}

fn stops_cleanly(signal: libc::c_int, tunnels: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("lab.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        // A throw-away CA, so that its folder is among what must be gone after the signal.
        .args([
            "up",
            "proxy-tunnels-healthy",
            "--ephemeral-ca",
            "--ready-file",
        ])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("egresslab up starts");
    wait_for(&ready, &mut child);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).expect("readable")).expect("JSON");
    let proxy = address(&json["proxies"]["corp"]["address"]);
    let site = address(&json["endpoints"]["site"]["address"]);
    let folders: Vec<PathBuf> = json["cas"]
        .as_object()
        .expect("the CA files")
        .values()
        .chain(std::iter::once(&json["env"]["CURL_HOME"]))
        .filter_map(|v| v.as_str())
        .map(|p| {
            let path = PathBuf::from(p);
            if path.is_dir() {
                path
            } else {
                path.parent().expect("a folder").to_path_buf()
            }
        })
        .collect();
    assert!(folders.iter().all(|f| f.is_dir()), "{folders:?}");

    let open: Vec<TcpStream> = (0..tunnels).map(|_| tunnel(proxy)).collect();
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) on the child this test spawned.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after the signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!ready.exists(), "the ready file is removed");
    for folder in &folders {
        assert!(!folder.exists(), "{} is left behind", folder.display());
    }
    // Every tunnel was closed by the lab: a read sees the end (or a reset), never a hang.
    for mut stream in open {
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("{n} bytes from a tunnel of a stopped lab"),
        }
    }
    for port in [proxy, site] {
        TcpListener::bind(port).unwrap_or_else(|e| panic!("{port} is not free at once: {e}"));
    }
}

#[test]
fn sigterm_with_500_tunnels_leaves_nothing_behind() {
    stops_cleanly(libc::SIGTERM, TUNNELS);
}

#[test]
fn sigint_stops_the_lab_the_same_way() {
    stops_cleanly(libc::SIGINT, 50);
}
