//! The capture judged by tshark: catalog scenarios started with `--capture`, a real client (curl,
//! openssl, dig) driven through each, then `tshark -r FILE -Y FILTER -T fields` asserts what a
//! network engineer would look for. The file's own Decryption Secrets Blocks decrypt the TLS: no
//! key log is handed to tshark.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::tshark;
use egresslab::lab::CaptureOptions;
use egresslab::scenario::{Catalog, Live};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Start catalog scenario `id` capturing to a file in `dir`.
async fn start(id: &str, dir: &Path, options: CaptureOptions) -> (Live, PathBuf) {
    tshark::require();
    let file = dir.join(format!("{id}.pcapng"));
    let options = CaptureOptions {
        pcapng: Some(file.clone()),
        ..options
    };
    let scenario = Catalog::get(id)
        .expect("catalog scenario")
        .load()
        .expect("loads");
    let live = Live::start_captured(scenario, options)
        .await
        .expect("starts");
    (live, file)
}

/// Run `command` with `sh -c` in the scenario's client environment; returns (exit code, stdout, stderr).
async fn exec(live: &Live, command: &str) -> (Option<i32>, String, String) {
    let env = live.env().expect("environment");
    let result = live.exec(command, &env, TIMEOUT).await.expect("runs");
    (result.exit_code, result.stdout, result.stderr)
}

/// Stop the lab (so every packet is flushed) and return the capture file.
async fn stop(live: Live) {
    let status = live.lab().capture().status();
    assert_eq!(status.failure, None);
    live.shutdown().await;
}

fn column(rows: &[Vec<String>], index: usize) -> Vec<String> {
    rows.iter()
        .map(|row| row.get(index).cloned().unwrap_or_default())
        .collect()
}

/// Per row, the first non-empty of its two fields (an HTTP/1 field and its HTTP/2 twin).
fn either(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            row.iter()
                .find(|v| !v.is_empty())
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_443_filtered_shows_syns_retransmitted_and_never_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (live, file) = start("port-443-filtered", dir.path(), CaptureOptions::default()).await;
    let sees = live.lab().capture().sees_firewall();
    let (code, _, stderr) = exec(
        &live,
        "curl -sS --connect-timeout 3 -o /dev/null \"$EGRESSLAB_URL\"",
    )
    .await;
    assert_eq!(code, Some(28), "{stderr}");
    stop(live).await;
    if !sees {
        panic!(
            "this process cannot open a raw socket (not root, no CAP_NET_RAW): the capture cannot show the SYNs a firewall drop leaves unanswered; run the test as root"
        );
    }
    let syns = tshark::fields(
        &file,
        &[],
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        &["tcp.stream", "tcp.analysis.retransmission", "frame.comment"],
    );
    assert!(syns.len() >= 2, "{}", tshark::summary(&file, &[]));
    assert!(
        syns.iter().skip(1).all(|row| row[1] == "1"),
        "every SYN after the first is a retransmission: {syns:?}"
    );
    assert!(syns[0][2].contains("firewall drop"), "{syns:?}");
    let answers = tshark::fields(
        &file,
        &[],
        "tcp.flags.syn == 1 && tcp.flags.ack == 1",
        &["tcp.stream"],
    );
    assert!(answers.is_empty(), "no SYN-ACK: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_443_refused_shows_syn_then_rst() {
    let dir = tempfile::tempdir().unwrap();
    let (live, file) = start("port-443-refused", dir.path(), CaptureOptions::default()).await;
    let sees = live.lab().capture().sees_firewall();
    let (code, _, stderr) = exec(&live, "curl -sS -o /dev/null \"$EGRESSLAB_URL\"").await;
    assert_eq!(code, Some(7), "{stderr}");
    stop(live).await;
    if !sees {
        panic!("no raw socket (not root, no CAP_NET_RAW): the capture cannot show the refused SYN; run the test as root");
    }
    let packets = tshark::fields(
        &file,
        &[],
        "tcp",
        &[
            "tcp.stream",
            "tcp.flags.syn",
            "tcp.flags.reset",
            "tcp.flags.ack",
        ],
    );
    let first = packets.first().expect("packets");
    assert_eq!(
        (first[1].as_str(), first[2].as_str()),
        ("1", "0"),
        "{packets:?}"
    );
    let reset = packets
        .iter()
        .find(|row| row[0] == first[0] && row[2] == "1")
        .unwrap_or_else(|| panic!("an RST on the SYN's stream: {packets:?}"));
    assert_eq!(reset[1], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_healthy_decrypts_from_the_files_own_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keys.log");
    let options = CaptureOptions {
        keylog: Some(keylog.clone()),
        ..CaptureOptions::default()
    };
    let (live, file) = start("tls-healthy", dir.path(), options).await;
    let host = live
        .env()
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "EGRESSLAB_HOST")
        .unwrap()
        .1;
    let (code, stdout, stderr) = exec(
        &live,
        "curl -sS -o /dev/null -w '%{http_code}' \"$EGRESSLAB_URL\"",
    )
    .await;
    assert_eq!((code, stdout.as_str()), (Some(0), "200"), "{stderr}");
    stop(live).await;
    let hellos = tshark::fields(
        &file,
        &[],
        "tls.handshake.type == 1",
        &["tls.handshake.extensions_server_name"],
    );
    assert!(column(&hellos, 0).contains(&host), "{hellos:?}");
    // curl offers h2 and the endpoint takes it: the request is HTTP/2 inside the decrypted TLS.
    let requests = tshark::fields(
        &file,
        &[],
        "http.request or http2.headers.method",
        &["http.request.uri", "http2.headers.path"],
    );
    assert_eq!(either(&requests), ["/"], "{}", tshark::summary(&file, &[]));
    let answers = tshark::fields(
        &file,
        &[],
        "http.response or http2.headers.status",
        &["http.response.code", "http2.headers.status"],
    );
    assert_eq!(either(&answers), ["200"]);
    // The key log holds the same secrets in the NSS format, owner-only.
    use std::os::unix::fs::PermissionsExt;
    let log = std::fs::read_to_string(&keylog).unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ")),
        "{log}"
    );
    assert!(log.lines().all(|l| l.split(' ').count() == 3), "{log}");
    let mode = std::fs::metadata(&keylog).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snaplen_keeps_only_the_first_payload_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let options = CaptureOptions {
        snaplen: Some(16),
        ..CaptureOptions::default()
    };
    let (live, file) = start("tls-healthy", dir.path(), options).await;
    let (code, _, stderr) = exec(&live, "curl -sS -o /dev/null \"$EGRESSLAB_URL\"").await;
    assert_eq!(code, Some(0), "{stderr}");
    stop(live).await;
    let frames = tshark::fields(&file, &[], "tcp.len > 16", &["frame.len", "frame.cap_len"]);
    assert!(!frames.is_empty());
    for row in &frames {
        let (len, cap): (usize, usize) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        assert_eq!(
            cap,
            20 + 20 + 16,
            "IP and TCP headers whole, 16 payload bytes: {row:?}"
        );
        assert!(len > cap);
    }
}

#[test]
fn run_capture_writes_one_file_per_scenario() {
    tshark::require();
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["run", "--capture"])
        .arg(dir.path())
        .args(["tls-healthy", "port-443-refused"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for id in ["tls-healthy", "port-443-refused"] {
        let file = dir.path().join(format!("{id}.pcapng"));
        let handshakes = tshark::fields(&file, &[], "tcp.flags.syn == 1", &["tcp.stream"]);
        assert!(
            !handshakes.is_empty(),
            "{id}: {}",
            tshark::summary(&file, &[])
        );
    }
    // The checks' TLS handshake to the healthy endpoint, decrypted from the file alone.
    let file = dir.path().join("tls-healthy.pcapng");
    let requests = tshark::fields(&file, &[], "http.request", &["http.request.method"]);
    assert!(!requests.is_empty(), "{}", tshark::summary(&file, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_inspection_shows_both_legs_and_the_inspection_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (live, file) = start("tls-inspection", dir.path(), CaptureOptions::default()).await;
    // -k: the client accepts the inspection leaf (as a machine that trusts the inspection CA
    // would), so a request crosses both legs.
    let (code, stdout, stderr) = exec(
        &live,
        "curl -k -sS -o /dev/null -w '%{http_code}' \"$EGRESSLAB_URL\"",
    )
    .await;
    assert_eq!((code, stdout.as_str()), (Some(0), "200"), "{stderr}");
    stop(live).await;
    let hellos = tshark::fields(
        &file,
        &[],
        "tls.handshake.type == 1",
        &["tcp.stream", "ip.src", "ip.dst"],
    );
    assert_eq!(
        hellos.len(),
        2,
        "the client's and the proxy's own: {hellos:?}"
    );
    assert_ne!(hellos[0][0], hellos[1][0], "two TCP streams");
    let certificates = tshark::fields(
        &file,
        &[],
        "tls.handshake.type == 11",
        &[
            "tcp.stream",
            "x509sat.uTF8String",
            "x509sat.printableString",
        ],
    );
    let client_leg = certificates
        .iter()
        .find(|row| row[0] == hellos[0][0])
        .unwrap_or_else(|| panic!("the client leg's certificate: {certificates:?}"));
    let names = format!("{} {}", client_leg[1], client_leg[2]).to_lowercase();
    assert!(
        names.contains("inspection"),
        "issued by the inspection CA: {client_leg:?}"
    );
    let requests = tshark::fields(
        &file,
        &[],
        "http.request or http2.headers.method",
        &["tcp.stream"],
    );
    let streams: Vec<String> = column(&requests, 0);
    assert!(
        streams.contains(&hellos[0][0]) && streams.contains(&hellos[1][0]),
        "the request decrypted on both legs: {requests:?}\n{}",
        tshark::summary(&file, &[])
    );
}

/// The Basic credentials of the catalog's proxy-auth-required user, as curl sends them.
const CREDENTIALS: &str = "svc:not-for-the-connector";

async fn proxy_auth_capture(dir: &Path, redact: bool) -> PathBuf {
    let options = CaptureOptions {
        redact,
        ..CaptureOptions::default()
    };
    let (live, file) = start("proxy-auth-required", dir, options).await;
    let (code, _, stderr) = exec(&live, "curl -sS -o /dev/null \"$EGRESSLAB_URL\"").await;
    assert_eq!(code, Some(56), "{stderr}");
    let (code, _, stderr) = exec(
        &live,
        &format!(
            "curl -sS -o /dev/null --proxy-user {CREDENTIALS} --proxy-basic \"$EGRESSLAB_URL\""
        ),
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    stop(live).await;
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_auth_required_shows_connect_and_407_and_redact_masks_the_password() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let file = proxy_auth_capture(dir.path(), false).await;
    let connects = tshark::fields(
        &file,
        &[],
        "http.request.method == \"CONNECT\"",
        &["http.request.uri"],
    );
    assert!(connects.len() >= 2, "{connects:?}");
    assert!(
        connects[0][0].starts_with("connector-sample.msappproxy.net:443"),
        "{connects:?}"
    );
    let refusals = tshark::fields(
        &file,
        &[],
        "http.response.code == 407",
        &["http.proxy_authenticate"],
    );
    let schemes = column(&refusals, 0).join(",");
    assert!(
        schemes.contains("Basic") && schemes.contains("NTLM"),
        "{refusals:?}"
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(CREDENTIALS);
    let bytes = std::fs::read(&file).unwrap();
    let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        holds(&encoded),
        "without --redact the capture holds what was on the wire"
    );

    let redacted_dir = tempfile::tempdir().unwrap();
    let redacted = proxy_auth_capture(redacted_dir.path(), true).await;
    let bytes = std::fs::read(&redacted).unwrap();
    let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!holds(&encoded), "with --redact the password is gone");
    let masked = tshark::fields(
        &redacted,
        &[],
        "http.proxy_authorization",
        &["http.proxy_authorization"],
    );
    assert!(
        masked.iter().any(|row| row[0].starts_with("Basic ****")),
        "the scheme stays, the value is masked: {masked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wpad_pac_shows_the_dns_query_and_the_pac_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let (live, file) = start("wpad-pac", dir.path(), CaptureOptions::default()).await;
    let dns = live
        .lab()
        .dns_address()
        .expect("the scenario has a DNS server");
    let (code, stdout, stderr) = exec(
        &live,
        &format!(
            "dig +short +tries=1 +time=5 -p {} @{} wpad.corp.egresslab.test A",
            dns.port(),
            dns.ip()
        ),
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let answer = stdout.trim().to_owned();
    assert!(answer.starts_with("127."), "{stdout}");
    let (code, stdout, stderr) = exec(
        &live,
        "curl -q -sS --connect-to \"$(echo $EGRESSLAB_CONNECT_TO | tr ' ' '\\n' | grep '^wpad')\" http://wpad.corp.egresslab.test/wpad.dat",
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("FindProxyForURL"), "{stdout}");
    stop(live).await;
    let decode = vec!["-d".to_owned(), format!("udp.port=={},dns", dns.port())];
    let queries = tshark::fields(
        &file,
        &decode,
        "dns.qry.name == \"wpad.corp.egresslab.test\"",
        &["dns.flags.response", "dns.a"],
    );
    assert_eq!(
        column(&queries, 0),
        ["0", "1"],
        "query then answer: {queries:?}"
    );
    assert_eq!(queries[1][1], answer);
    let fetches = tshark::fields(
        &file,
        &[],
        "http.request.method == \"GET\"",
        &["http.request.uri", "http.host"],
    );
    assert_eq!(
        fetches,
        [vec![
            "/wpad.dat".to_owned(),
            "wpad.corp.egresslab.test".to_owned()
        ]]
    );
}

/// The IKE exchange of a VPN scenario as tshark decodes it: (exchange type, is a response) rows.
async fn ike(id: &str) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let (live, file) = start(id, dir.path(), CaptureOptions::default()).await;
    let ports: Vec<String> = ["ike", "ike-nat-t"]
        .iter()
        .filter_map(|name| live.lab().udp(name))
        .map(|address| address.port().to_string())
        .collect();
    // The checks' own IKE probe is the client here: it sends a real IKE_SA_INIT over UDP.
    let _ = live.check().await;
    stop(live).await;
    let decode: Vec<String> = ports
        .iter()
        .flat_map(|port| ["-d".to_owned(), format!("udp.port=={port},isakmp")])
        .collect();
    let rows = tshark::fields(
        &file,
        &decode,
        "isakmp",
        &["isakmp.exchangetype", "isakmp.flag_r"],
    );
    assert!(!rows.is_empty(), "{}", tshark::summary(&file, &decode));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpn_ike_sa_init_decoded_with_and_without_a_response() {
    let healthy = ike("vpn-healthy").await;
    assert!(
        healthy.iter().all(|row| row[0] == "34"),
        "IKE_SA_INIT: {healthy:?}"
    );
    assert!(
        healthy.iter().any(|row| row[1] == "0" || row[1] == "False"),
        "{healthy:?}"
    );
    assert!(
        healthy.iter().any(|row| row[1] == "1" || row[1] == "True"),
        "a response: {healthy:?}"
    );
    let blocked = ike("vpn-ike-blocked").await;
    assert!(blocked.iter().all(|row| row[0] == "34"), "{blocked:?}");
    assert!(
        blocked.iter().all(|row| row[1] == "0" || row[1] == "False"),
        "requests only, no response: {blocked:?}"
    );
}

/// A lab with an echo endpoint behind a proxy, capturing to `file`: the bulk tunnel tests' shape.
async fn echo_lab_captured(file: &Path) -> egresslab::lab::Lab {
    egresslab::lab::Lab::builder()
        .endpoint(
            egresslab::lab::EndpointPlan::http("echo", &["echo.egresslab.test"], 443)
                .behaviour(egresslab::lab::EndpointBehaviour::Echo),
        )
        .proxy(egresslab::lab::ProxyPlan::new("corp"))
        .capture(CaptureOptions::to_file(file))
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_tcp_raw_of_a_bulk_tunnel_gives_back_the_exact_bytes() {
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tshark::require();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bulk.pcapng");
    let lab = echo_lab_captured(&file).await;
    let proxy = lab.expect_proxy("corp").address();
    // What the client sends: the CONNECT head, then 4 MiB of a byte pattern that never repeats
    // at segment boundaries.
    let mut sent =
        b"CONNECT echo.egresslab.test:443 HTTP/1.1\r\nHost: echo.egresslab.test:443\r\n\r\n"
            .to_vec();
    let head = sent.len();
    let mut x: u32 = 12345;
    sent.extend((0..4 * 1024 * 1024).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (x >> 16) as u8
    }));
    let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    stream.write_all(&sent[..head]).await.unwrap();
    let mut answer = [0u8; 39];
    stream.read_exact(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let client = stream.local_addr().unwrap();
    let (mut read, mut write) = stream.into_split();
    let body = sent[head..].to_vec();
    let writer = async move {
        write.write_all(&body).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let reader = async move {
        let mut back = Vec::new();
        read.read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), back) = tokio::join!(writer, reader);
    assert_eq!(back.len(), sent.len() - head, "the echo came back whole");
    let index = lab.capture().stream_index(client, proxy);
    // The timeline names the same stream on the client's connection.
    let named = lab
        .timeline()
        .events()
        .into_iter()
        .find_map(|event| match event.kind {
            egresslab::lab::EventKind::CaptureStream {
                stream, client: c, ..
            } if c == client => Some((stream, event.conn)),
            _ => None,
        });
    lab.shutdown().await;

    let hellos = tshark::fields(
        &file,
        &[],
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        &["tcp.stream", "tcp.dstport"],
    );
    let stream = hellos
        .iter()
        .find(|row| row[1] == proxy.port().to_string())
        .unwrap_or_else(|| panic!("the client's stream to the proxy: {hellos:?}"))[0]
        .clone();
    assert_eq!(
        index.map(|i| i.to_string()),
        Some(stream.clone()),
        "the lab's stream index is tshark's tcp.stream"
    );
    let (named, conn) = named.expect("a capture_stream event for the client's connection");
    assert_eq!(
        named.to_string(),
        stream,
        "the timeline names tshark's tcp.stream"
    );
    assert!(conn.is_some(), "on the client's connection id");
    let followed = tshark::run(
        &file,
        &[],
        &["-q", "-z", &format!("follow,tcp,raw,{stream}")],
    );
    // The raw follow prints each segment as hex on its own line; the client's are not indented,
    // the server's are (a tab).
    let mut from_client = Vec::new();
    let mut in_body = false;
    for line in followed.lines() {
        if line.starts_with("Node 1:") {
            in_body = true;
            continue;
        }
        if !in_body || line.starts_with('=') || line.starts_with('\t') || line.trim().is_empty() {
            continue;
        }
        from_client
            .extend(hex::decode(line.trim()).unwrap_or_else(|e| panic!("hex line {line:?}: {e}")));
    }
    assert_eq!(from_client.len(), sent.len());
    assert_eq!(
        hex::encode(Sha256::digest(&from_client)),
        hex::encode(Sha256::digest(&sent)),
        "the capture holds exactly the bytes the client sent"
    );
}

/// A proxied tunnel and the echo behind it leave their taps' loopback pairs once they go bulk (the
/// proxy's relay and the echo record what they carry themselves). Sixteen tunnels at once, each
/// sending early data right behind its CONNECT (before the 200, racing the hand-over; a quarter of
/// them more than the proxy's first read takes), more after it, then a half-close: every byte
/// comes back, and tshark finds in the file, for each client leg and each echo leg, exactly the
/// bytes each side sent, a FIN each way, and no segment its TCP analysis flags as lost,
/// retransmitted or out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_taken_over_from_their_taps_are_recorded_byte_for_byte() {
    use std::collections::BTreeMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tshark::require();
    const TUNNELS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("takeover.pcapng");
    let lab = echo_lab_captured(&file).await;
    let proxy = lab.expect_proxy("corp").address();
    let head = "CONNECT echo.egresslab.test:443 HTTP/1.1\r\nHost: echo.egresslab.test:443\r\n\r\n";
    let tunnels = (0..TUNNELS).map(|i| async move {
        // Every fourth tunnel sends far more early data than the proxy's first read takes: the
        // rest is still in the tap's pair at the hand-over, and must show once on each leg.
        let early_len = if i % 4 == 0 {
            200_000 + i
        } else {
            i * 97 % 700 + 1
        };
        let early: Vec<u8> = (0..early_len).map(|b| (b * 7 + i) as u8).collect();
        let later: Vec<u8> = (0..(i * 40_009 % 300_000 + 1))
            .map(|b| (b * 13 + i) as u8)
            .collect();
        let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
        let mut first = head.as_bytes().to_vec();
        first.extend_from_slice(&early);
        stream.write_all(&first).await.unwrap();
        let mut answer = [0u8; 39];
        stream.read_exact(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"));
        let (mut read, mut write) = stream.into_split();
        let body = later.clone();
        let writer = async move {
            write.write_all(&body).await.unwrap();
            write.shutdown().await.unwrap();
        };
        let reader = async move {
            let mut back = Vec::new();
            read.read_to_end(&mut back).await.unwrap();
            back
        };
        let ((), back) = tokio::join!(writer, reader);
        let mut sent = early;
        sent.extend_from_slice(&later);
        assert!(
            back == sent,
            "tunnel {i}: the echo came back whole and in order"
        );
        sent.len() as u64
    });
    let payloads: Vec<u64> = futures_util::future::join_all(tunnels).await;
    // The echo's and the proxy's closes are written when their tasks end.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        lab.capture().status().handed_over,
        2 * TUNNELS as u64,
        "every client leg and every echo leg left its tap"
    );
    lab.shutdown().await;

    let rows = tshark::fields(
        &file,
        &[],
        "tcp",
        &[
            "tcp.stream",
            "tcp.srcport",
            "tcp.dstport",
            "tcp.len",
            "tcp.flags.fin",
        ],
    );
    // Per stream: the server port (the SYN's destination), bytes each way, FINs each way.
    let mut streams: BTreeMap<String, (String, [u64; 2], [u32; 2])> = BTreeMap::new();
    for row in &rows {
        let entry = streams
            .entry(row[0].clone())
            .or_insert_with(|| (row[2].clone(), [0; 2], [0; 2]));
        let from_server = usize::from(row[1] == entry.0);
        entry.1[from_server] += row[3].parse::<u64>().unwrap_or(0);
        entry.2[from_server] += u32::from(row[4] == "1" || row[4] == "True");
    }
    let proxy_port = proxy.port().to_string();
    let mut client_legs: Vec<[u64; 2]> = Vec::new();
    let mut echo_legs: Vec<[u64; 2]> = Vec::new();
    for (port, bytes, fins) in streams.values() {
        assert_eq!(
            fins,
            &[1, 1],
            "one FIN each way on every connection: {streams:?}"
        );
        if port == &proxy_port {
            client_legs.push(*bytes);
        } else {
            echo_legs.push(*bytes);
        }
    }
    let mut expected_client: Vec<[u64; 2]> = payloads
        .iter()
        .map(|&n| [head.len() as u64 + n, 39 + n])
        .collect();
    let mut expected_echo: Vec<[u64; 2]> = payloads.iter().map(|&n| [n, n]).collect();
    for list in [
        &mut client_legs,
        &mut echo_legs,
        &mut expected_client,
        &mut expected_echo,
    ] {
        list.sort_unstable();
    }
    assert_eq!(
        client_legs, expected_client,
        "the clients' legs carry what each side sent"
    );
    assert_eq!(
        echo_legs, expected_echo,
        "the echo legs carry the tunnels' bytes both ways"
    );
    let flagged = tshark::fields(
        &file,
        &[],
        "tcp.analysis.lost_segment || tcp.analysis.retransmission || tcp.analysis.out_of_order || tcp.analysis.ack_lost_segment",
        &["frame.number"],
    );
    assert!(flagged.is_empty(), "segments tshark flags: {flagged:?}");
}
