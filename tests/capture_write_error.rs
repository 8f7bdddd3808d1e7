//! A capture whose file cannot grow (here: RLIMIT_FSIZE, as a full disk would) stops with a clear
//! message and leaves a file that still opens, while the lab goes on serving. In its own test binary
//! because the file-size limit is the whole process's.

mod common;

use common::tshark;
use egresslab::lab::{CaptureOptions, EndpointBehaviour, EndpointPlan, Lab, ProxyPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The file may grow to this many bytes; the lab's own small files stay under it.
const LIMIT: u64 = 600 * 1024;

fn limit_file_size() {
    // SAFETY: setting a signal disposition and a resource limit of this process, with valid
    // arguments; nothing else in this test binary depends on either.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: LIMIT,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_error_stops_the_capture_not_the_lab_and_leaves_a_valid_file() {
    tshark::require();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("full.pcapng");
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::http("echo", &["echo.egresslab.test"], 443)
                .behaviour(EndpointBehaviour::Echo),
        )
        .proxy(ProxyPlan::new("corp"))
        .capture(CaptureOptions::to_file(&file))
        .start()
        .await
        .unwrap();
    limit_file_size();
    let proxy = lab.expect_proxy("corp").address();
    // Each tunnel echoes 1 MiB: the first already fills the file's allowance several times over.
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
        stream
            .write_all(b"CONNECT echo.egresslab.test:443 HTTP/1.1\r\nHost: echo.egresslab.test:443\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 39];
        stream.read_exact(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"));
        let (mut read, mut write) = stream.into_split();
        let writer = async move {
            write.write_all(&vec![7u8; 1024 * 1024]).await.unwrap();
            write.shutdown().await.unwrap();
        };
        let reader = async move {
            let mut back = Vec::new();
            read.read_to_end(&mut back).await.unwrap();
            back.len()
        };
        let ((), echoed) = tokio::join!(writer, reader);
        assert_eq!(echoed, 1024 * 1024, "the lab goes on serving");
    }
    lab.capture().flush();
    let status = lab.capture().status();
    let failure = status.failure.clone().expect("writing stopped");
    assert!(
        failure.starts_with("capture stopped: cannot write") && failure.contains("full.pcapng"),
        "{failure}"
    );
    assert!(!lab.capture().is_recording());
    lab.shutdown().await;
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 0 && size <= LIMIT, "{size}");
    // Whole blocks only: tshark reads the file to its end without complaint.
    let frames = tshark::fields(&file, &[], "frame", &["frame.number"]);
    assert!(!frames.is_empty());
}
