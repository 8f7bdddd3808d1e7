//! IPv6 in the lab, judged by real clients: `curl -4` and `curl -6` against `ipv6-path-dropped`
//! (the v4 path answers 200, the v6 path times out), curl through a v4-only Squid-personality
//! proxy to a v6-only host (503, as a real Squid 5.7 answers), the SYN watcher's `syn` events and
//! tshark's view of the v6 SYN retransmissions, and `egresslab run` on the four IPv6 scenarios.
//! Every test skips with a printed reason where ::1 does not exist (IPv6 disabled).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::tshark;
use egresslab::lab::{can_watch_syns, CaptureOptions, EventKind};
use egresslab::scenario::{Catalog, Live};

const TIMEOUT: Duration = Duration::from_secs(30);
const HOST: &str = "login.microsoftonline.com";

/// Whether this machine has IPv6 on loopback; prints why a test skips when it has not.
fn ipv6_loopback(test: &str) -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(error) => {
            eprintln!("SKIPPED {test}: ::1 cannot be bound ({error}); IPv6 is disabled here");
            false
        }
    }
}

async fn start(id: &str, capture: Option<PathBuf>) -> Live {
    let scenario = Catalog::get(id)
        .expect("catalog scenario")
        .load()
        .expect("loads");
    let options = CaptureOptions {
        pcapng: capture,
        ..CaptureOptions::default()
    };
    Live::start_captured(scenario, options)
        .await
        .expect("starts")
}

/// Where a direct client reaches `host:443` over each family: (v4, v6).
fn mappings(live: &Live, host: &str) -> (SocketAddr, SocketAddr) {
    let all: Vec<SocketAddr> = live
        .lab()
        .connect_to()
        .into_iter()
        .filter(|(h, port, _)| h == host && *port == 443)
        .map(|(_, _, address)| address)
        .collect();
    let v4 = all.iter().copied().find(SocketAddr::is_ipv4);
    let v6 = all.iter().copied().find(SocketAddr::is_ipv6);
    (
        v4.unwrap_or_else(|| panic!("no v4 mapping for {host}: {all:?}")),
        v6.unwrap_or_else(|| panic!("no v6 mapping for {host}: {all:?}")),
    )
}

/// `curl -4` or `-6` to `https://HOST/` sent to `address`, trusting the lab's roots; (exit code,
/// stdout, stderr).
async fn curl(family: &str, address: SocketAddr, bundle: &Path) -> (Option<i32>, String, String) {
    let connect_to = format!("{HOST}:443:{address}");
    let args: Vec<String> = [
        family,
        "-sS",
        "--connect-timeout",
        "3",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        &bundle.display().to_string(),
        "--connect-to",
        &connect_to,
        &format!("https://{HOST}/"),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let output = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new("curl").args(&args).output(),
    )
    .await
    .expect("curl finishes")
    .expect("curl runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_4_gets_200_and_curl_6_times_out_where_the_v6_path_is_dropped() {
    if !ipv6_loopback("curl -4/-6 against ipv6-path-dropped") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ipv6-path-dropped.pcapng");
    let live = start("ipv6-path-dropped", Some(file.clone())).await;
    let (v4, v6) = mappings(&live, HOST);
    let bundle = live.lab().ca_bundle_path().to_path_buf();
    let (code4, out4, err4) = curl("-4", v4, &bundle).await;
    assert_eq!(
        (code4, out4.as_str()),
        (Some(0), "200"),
        "curl -4 to {v4}: {err4}"
    );
    let (code6, out6, err6) = curl("-6", v6, &bundle).await;
    assert_eq!(
        code6,
        Some(28),
        "curl -6 to {v6} must time out: {out6} {err6}"
    );

    let events = live.lab().timeline().events();
    let watched = can_watch_syns();
    let sees = live.lab().capture().sees_firewall();
    live.shutdown().await;
    if !watched {
        eprintln!(
            "SKIPPED the v6 SYN events and capture: no raw socket (not root, no CAP_NET_RAW)"
        );
        return;
    }
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Syn {
                local,
                attempt,
                fate,
                ..
            } if *local == v6 && fate == "dropped" => Some(*attempt),
            _ => None,
        })
        .collect();
    assert!(
        attempts.iter().any(|attempt| *attempt >= 2),
        "the v6 drop's SYNs to {v6} are in the timeline with their retransmissions: {attempts:?}"
    );
    let v4_syns = events
        .iter()
        .any(|event| matches!(&event.kind, EventKind::Syn { local, .. } if local.is_ipv4()));
    assert!(!v4_syns, "the v4 path was never dropped");

    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("SKIPPED the tshark check: tshark is not installed (./test.sh installs it)");
        return;
    }
    assert!(sees, "a root process sees the firewall in the capture");
    let retransmitted = tshark::fields(
        &file,
        &[],
        "ipv6 && tcp.flags.syn==1 && tcp.analysis.retransmission",
        &["ipv6.dst", "tcp.dstport"],
    );
    assert!(
        !retransmitted.is_empty()
            && retransmitted
                .iter()
                .all(|row| row[0] == "::1" && row[1] == v6.port().to_string()),
        "tshark finds the retransmitted v6 SYNs to {v6}: {retransmitted:?}\n{}",
        tshark::summary(&file, &[])
    );
}

/// Run `command` with `sh -c` in the scenario's client environment (the lab's `.curlrc`).
async fn exec(live: &Live, command: &str) -> (Option<i32>, String, String) {
    let env = live.env().expect("environment");
    let result = live.exec(command, &env, TIMEOUT).await.expect("runs");
    (result.exit_code, result.stdout, result.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_a_v4_only_proxy_to_a_v6_only_host_gets_squids_503() {
    if !ipv6_loopback("curl through the v4-only proxy") {
        return;
    }
    let command = "curl -sS -o /dev/null -w '%{http_connect}' \"$EGRESSLAB_URL\"";
    let live = start("ipv6-only-behind-v4-proxy", None).await;
    let (code, stdout, stderr) = exec(&live, command).await;
    live.shutdown().await;
    assert_eq!(
        (code, stdout.as_str()),
        (Some(56), "503"),
        "curl gets the proxy's 503: {stderr}"
    );

    let live = start("ipv6-only-behind-dual-stack-proxy", None).await;
    let (code, stdout, stderr) = exec(&live, command).await;
    let upstream_v6 =
        live.lab().timeline().events().iter().any(
            |event| matches!(&event.kind, EventKind::Upstream { remote, .. } if remote.is_ipv6()),
        );
    live.shutdown().await;
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "200"),
        "with a v6 path the proxy tunnels: {stderr}"
    );
    assert!(upstream_v6, "the proxy's leg to the origin is over IPv6");
}

#[test]
fn egresslab_run_passes_the_ipv6_scenarios() {
    if !ipv6_loopback("egresslab run on the IPv6 scenarios") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args([
            "run",
            "ipv6-path-dropped",
            "ipv6-dual-stack-healthy",
            "ipv6-only-behind-v4-proxy",
            "ipv6-only-behind-dual-stack-proxy",
            "-v",
            // Each scenario's [[expect.exec]] for curl judges a real curl with the lab's .curlrc.
            "--exec",
            r#"curl -sS -o /dev/null -w "%{http_code}\n" "$EGRESSLAB_URL""#,
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("4/4 passed") && !stdout.contains("not judged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("over IPv6") && stdout.contains("over IPv4"),
        "the v6 failure and the v4 success are reported apart: {stdout}"
    );
}

/// The checks against a real Squid 5.7 with no IPv6 route: in a network namespace this test
/// creates (only loopback, so connect(2) to a v6 address fails with ENETUNREACH), Squid is told
/// that `v6only.egresslab.test` has only an IPv6 address, and `egresslab check --proxy` must name
/// its answer `proxy.no_ipv6_path` (the same code as for the lab's own Squid personality).
#[test]
fn the_checks_name_a_real_squids_answer_without_a_v6_route() {
    let Some(squid) = common::squid::binary() else {
        eprintln!("SKIPPED the real-Squid check: squid is not installed (./test.sh installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Squid running as root drops to its own user: it must be able to write its logs here.
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let hosts = d.join("hosts");
    std::fs::write(&hosts, "fd00:dead::1 v6only.egresslab.test\n").unwrap();
    // Any port: the namespace is new and empty.
    let port = 3128;
    let conf = common::squid::basics(d, port, &hosts) + "http_access allow all\n";
    std::fs::write(d.join("squid.conf"), conf).unwrap();
    let script = format!(
        "ip link set lo up || exit 90\n\
         {squid} -N -f {d}/squid.conf & SQUID=$!\n\
         for i in $(seq 1 75); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.2; done\n\
         {check} check --proxy http://127.0.0.1:{port} --format json https://v6only.egresslab.test/\n\
         STATUS=$?\n\
         kill $SQUID; wait $SQUID\n\
         exit $STATUS\n",
        squid = squid.display(),
        d = d.display(),
        check = env!("CARGO_BIN_EXE_egresslab"),
    );
    let out = Command::new("timeout")
        .args(["60", "unshare", "-n", "bash", "-c", &script])
        .output()
        .expect("runs unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(90) || stderr.contains("unshare failed") {
        eprintln!("SKIPPED the real-Squid check: cannot create a network namespace (needs root): {stderr}");
        return;
    }
    let cache = std::fs::read_to_string(d.join("cache.log")).unwrap_or_default();
    assert!(
        stdout.contains("\"proxy.no_ipv6_path\"") && !stdout.contains("\"proxy.bad_gateway\""),
        "exit {:?}\n{stdout}\n{stderr}\n{cache}",
        out.status.code()
    );
}
