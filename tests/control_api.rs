//! The Toxiproxy-compatible control API (issue 13), seen by real clients: curl drives the API and
//! measures what each toxic does to traffic through a link.

mod common;

use common::control::{api, curl, ok, with_seed};

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use egresslab::lab::control::Control;
use egresslab::lab::{EndpointPlan, Lab};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An origin on loopback: every connection gets `HTTP/1.1 200` with `size` bytes of body, after
/// `delay`.
async fn origin(size: usize, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                tokio::time::sleep(delay).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.write_all(&vec![b'x'; size]).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    address
}

async fn lab_and_control(seed: u64) -> (Lab, Control) {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http("portal", &["portal.egresslab.test"], 80))
        .start()
        .await
        .unwrap();
    let control = with_seed(&lab, seed);
    (lab, control)
}

async fn link(control: &Control, name: &str, upstream: &str) -> SocketAddr {
    let body = format!(r#"{{"name":"{name}","listen":"127.0.0.1:0","upstream":"{upstream}"}}"#);
    let (status, json) = api(control, "POST", "/proxies", Some(&body)).await;
    assert_eq!(status, 201, "{json}");
    json["listen"].as_str().unwrap().parse().unwrap()
}

/// curl's `-w` figures for one GET through `address`.
async fn timed_get(address: SocketAddr, extra: &[&str]) -> (Output, Vec<f64>) {
    let url = format!("http://{address}/");
    let mut args = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{time_connect} %{time_starttransfer} %{time_total} %{size_download}",
        url.as_str(),
    ];
    args.extend(extra);
    let out = curl(&args).await;
    let figures = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    (out, figures)
}

#[tokio::test]
async fn the_rest_shape_is_toxiproxys() {
    let (lab, control) = lab_and_control(1).await;
    let origin = origin(10, Duration::ZERO).await;
    let (status, version) = api(&control, "GET", "/version", None).await;
    assert_eq!(status, 200);
    assert!(version["version"]
        .as_str()
        .unwrap()
        .starts_with("egresslab"));
    let (status, created) = api(
        &control,
        "POST",
        "/proxies",
        Some(&format!(
            r#"{{"name":"app","listen":"127.0.0.1:0","upstream":"{origin}"}}"#
        )),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(
        created["listen"], "127.0.0.1:0",
        "port 0 is echoed as the real port"
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["toxics"], serde_json::json!([]));
    let (status, all) = api(&control, "GET", "/proxies", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["app"]["upstream"], origin.to_string());
    // The lab's own endpoint is listed beside the links, and a lab name is an upstream too.
    assert_eq!(all["portal"]["upstream"], "endpoint portal");
    let (status, portal) = api(
        &control,
        "POST",
        "/proxies",
        Some(r#"{"name":"portal-link","upstream":"portal.egresslab.test:80"}"#),
    )
    .await;
    assert_eq!(status, 201, "{portal}");
    let (status, dup) = api(
        &control,
        "POST",
        "/proxies",
        Some(&format!(r#"{{"name":"app","upstream":"{origin}"}}"#)),
    )
    .await;
    assert_eq!((status, dup["status"].as_u64()), (409, Some(409)));
    assert_eq!(dup["error"], "proxy already exists");
    // Toxics: create with defaults, list, show, update by POST and by PATCH, delete.
    let (status, toxic) = api(
        &control,
        "POST",
        "/proxies/app/toxics",
        Some(r#"{"type":"latency","attributes":{"latency":100}}"#),
    )
    .await;
    assert_eq!(status, 200, "{toxic}");
    assert_eq!(toxic["name"], "latency_downstream");
    assert_eq!(toxic["toxicity"], 1.0);
    let (_, list) = api(&control, "GET", "/proxies/app/toxics", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, updated) = api(
        &control,
        "POST",
        "/proxies/app/toxics/latency_downstream",
        Some(r#"{"attributes":{"jitter":10}}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        updated["attributes"],
        serde_json::json!({"latency":100,"jitter":10})
    );
    let (status, patched) = api(
        &control,
        "PATCH",
        "/proxies/app/toxics/latency_downstream",
        Some(r#"{"toxicity":0.5}"#),
    )
    .await;
    assert_eq!((status, patched["toxicity"].as_f64()), (200, Some(0.5)));
    let (status, _) = api(
        &control,
        "DELETE",
        "/proxies/app/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, missing) = api(
        &control,
        "GET",
        "/proxies/app/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("toxic not found"))
    );
    // Disable: the port refuses (curl exit 7); enable by PATCH: it answers again.
    let address: SocketAddr = all["app"]["listen"].as_str().unwrap().parse().unwrap();
    let (status, off) = api(
        &control,
        "POST",
        "/proxies/app",
        Some(r#"{"enabled":false}"#),
    )
    .await;
    assert_eq!((status, off["enabled"].as_bool()), (200, Some(false)));
    let (out, _) = timed_get(address, &[]).await;
    assert_eq!(out.status.code(), Some(7), "a disabled link refuses");
    let (status, on) = api(
        &control,
        "PATCH",
        "/proxies/app",
        Some(r#"{"enabled":true}"#),
    )
    .await;
    assert_eq!(
        (status, on["listen"].as_str()),
        (200, Some(address.to_string().as_str()))
    );
    let (out, figures) = timed_get(address, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(figures[3], 10.0);
    // Populate keeps what is the same, reset re-enables and clears toxics, delete removes.
    let (status, populated) = api(
        &control,
        "POST",
        "/populate",
        Some(&format!(r#"[{{"name":"app","listen":"{address}","upstream":"{origin}"}},{{"name":"more","upstream":"portal"}}]"#)),
    )
    .await;
    assert_eq!(status, 201, "{populated}");
    assert_eq!(populated["proxies"].as_array().unwrap().len(), 2);
    ok(
        &control,
        "POST",
        "/proxies/app/toxics",
        Some(r#"{"type":"timeout"}"#),
    )
    .await;
    ok(
        &control,
        "POST",
        "/proxies/app",
        Some(r#"{"enabled":false}"#),
    )
    .await;
    let (status, _) = api(&control, "POST", "/reset", None).await;
    assert_eq!(status, 204);
    let (_, after) = api(&control, "GET", "/proxies/app", None).await;
    assert_eq!(
        (
            after["enabled"].as_bool(),
            after["toxics"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );
    let (status, _) = api(&control, "DELETE", "/proxies/more", None).await;
    assert_eq!(status, 204);
    let (status, gone) = api(&control, "GET", "/proxies/more", None).await;
    assert_eq!(
        (status, gone["error"].as_str()),
        (404, Some("proxy not found"))
    );
    // Every change is in the timeline.
    let notes = lab
        .timeline()
        .events()
        .iter()
        .filter(|e| e.source == "control")
        .count();
    assert!(notes >= 10, "{notes} control events");
    lab.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_toxiproxys_error_shape_and_the_api_keeps_serving() {
    let (lab, control) = lab_and_control(1).await;
    let origin = origin(10, Duration::ZERO).await;
    link(&control, "app", &origin.to_string()).await;
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("POST", "/proxies", Some("{"), 400, "bad request body"),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":"x","upstream":"127.0.0.1:9","colour":1}"#),
            400,
            "unknown field `colour`",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":7,"upstream":"127.0.0.1:9"}"#),
            400,
            "invalid type",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"upstream":"127.0.0.1:9"}"#),
            400,
            "missing required field: name",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":"x"}"#),
            400,
            "missing required field: upstream",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":"x","upstream":"93.184.216.34:443"}"#),
            403,
            "relays only inside the lab",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":"x","upstream":"example.com:443"}"#),
            403,
            "neither a lab name",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":"x","listen":"0.0.0.0:0","upstream":"portal"}"#),
            403,
            "loopback only",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name":"a b","upstream":"portal"}"#),
            400,
            "expected 1 to 128",
        ),
        (
            "POST",
            "/proxies/nope/toxics",
            Some(r#"{"type":"latency"}"#),
            404,
            "proxy not found",
        ),
        (
            "POST",
            "/proxies/app/toxics",
            Some(r#"{"type":"warp"}"#),
            400,
            "invalid toxic type",
        ),
        (
            "POST",
            "/proxies/app/toxics",
            Some(r#"{"type":"latency","attributes":{"latency":-5}}"#),
            400,
            "invalid value",
        ),
        (
            "POST",
            "/proxies/app/toxics",
            Some(r#"{"type":"latency","attributes":{"latency":99999999999}}"#),
            400,
            "over the limit",
        ),
        (
            "POST",
            "/proxies/app/toxics",
            Some(r#"{"type":"bandwidth","attributes":{"rate":"fast"}}"#),
            400,
            "invalid type",
        ),
        (
            "POST",
            "/proxies/app/toxics",
            Some(r#"{"type":"noop","stream":"sideways"}"#),
            400,
            "stream was invalid",
        ),
        (
            "PATCH",
            "/proxies/app/toxics/none",
            Some("{}"),
            404,
            "toxic not found",
        ),
        ("DELETE", "/proxies/nope", None, 404, "proxy not found"),
        ("GET", "/nowhere", None, 404, "no route"),
        ("PUT", "/proxies", Some("{}"), 405, "not allowed"),
    ];
    for (method, path, body, status, message) in cases {
        let (got, json) = api(&control, method, path, *body).await;
        assert_eq!(got, *status, "{method} {path} {body:?}: {json}");
        assert_eq!(json["status"].as_u64(), Some(u64::from(*status)), "{json}");
        assert!(
            json["error"].as_str().unwrap().contains(message),
            "{method} {path}: {json}"
        );
    }
    // A duplicate toxic is a conflict.
    ok(
        &control,
        "POST",
        "/proxies/app/toxics",
        Some(r#"{"type":"noop"}"#),
    )
    .await;
    let (status, json) = api(
        &control,
        "POST",
        "/proxies/app/toxics",
        Some(r#"{"type":"noop"}"#),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (409, Some("toxic already exists"))
    );
    // Browsers are refused as Toxiproxy refuses them.
    let url = format!("http://{}/proxies", control.address());
    let out = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-A",
        "Mozilla/5.0",
        &url,
    ])
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    // Still serving, and nothing was created by the bad calls: the link and the lab's endpoint.
    let (status, all) = api(&control, "GET", "/proxies", None).await;
    assert_eq!(status, 200);
    assert_eq!(all.as_object().unwrap().len(), 2, "{all}");
    lab.shutdown().await;
}

#[tokio::test]
async fn latency_adds_its_delay_and_jitter_spreads_it() {
    let (lab, control) = lab_and_control(1).await;
    let origin = origin(10, Duration::ZERO).await;
    let address = link(&control, "app", &origin.to_string()).await;
    // The time to first byte without the toxic: the quickest of three, so that one slow sample on
    // a loaded machine does not make the toxic look shorter than it is.
    let mut base = Vec::new();
    for _ in 0..3 {
        let (_, figures) = timed_get(address, &[]).await;
        base.push(figures[1]);
    }
    let base = [0.0, base.iter().copied().fold(f64::MAX, f64::min)];
    ok(
        &control,
        "POST",
        "/proxies/app/toxics",
        Some(r#"{"type":"latency","attributes":{"latency":200,"jitter":0}}"#),
    )
    .await;
    let (out, figures) = timed_get(address, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let added = (figures[1] - base[1]) * 1000.0;
    assert!(
        (180.0..=220.0).contains(&added),
        "latency 200 ms added {added:.1} ms"
    );
    ok(
        &control,
        "PATCH",
        "/proxies/app/toxics/latency_downstream",
        Some(r#"{"attributes":{"jitter":100}}"#),
    )
    .await;
    let mut delays = Vec::new();
    for _ in 0..10 {
        let (_, figures) = timed_get(address, &[]).await;
        delays.push((figures[1] - base[1]) * 1000.0);
    }
    let (low, high) = delays
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), d| (l.min(*d), h.max(*d)));
    println!("latency 200 ± 100 ms over 10 requests: {delays:.0?}");
    assert!(low >= 90.0 && high <= 320.0, "{delays:?}");
    assert!(high - low > 20.0, "jitter spreads the delay: {delays:?}");
    lab.shutdown().await;
}

#[tokio::test]
async fn bandwidth_holds_its_rate_over_two_megabytes() {
    let (lab, control) = lab_and_control(1).await;
    let origin = origin(2_000_000, Duration::ZERO).await;
    let address = link(&control, "app", &origin.to_string()).await;
    for rate in [100u64, 2000] {
        api(
            &control,
            "POST",
            "/proxies/app/toxics",
            Some(&format!(
                r#"{{"name":"bw","type":"bandwidth","attributes":{{"rate":{rate}}}}}"#
            )),
        )
        .await;
        let (out, figures) = timed_get(address, &[]).await;
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(figures[3], 2_000_000.0);
        let measured = figures[3] / figures[2] / 1000.0;
        println!("bandwidth {rate} KB/s measured {measured:.1} KB/s");
        let ratio = measured / rate as f64;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{rate} KB/s measured {measured:.1} KB/s"
        );
        api(&control, "DELETE", "/proxies/app/toxics/bw", None).await;
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn reset_peer_timeout_and_limit_data_end_connections_as_curl_sees() {
    let (lab, control) = lab_and_control(1).await;
    let slow = origin(10, Duration::from_secs(3)).await;
    let address = link(&control, "slow", &slow.to_string()).await;
    ok(
        &control,
        "POST",
        "/proxies/slow/toxics",
        Some(r#"{"type":"reset_peer","attributes":{"timeout":500}}"#),
    )
    .await;
    let started = Instant::now();
    let (out, _) = timed_get(address, &[]).await;
    assert_eq!(out.status.code(), Some(56), "reset seen as curl exit 56");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    ok(
        &control,
        "DELETE",
        "/proxies/slow/toxics/reset_peer_downstream",
        None,
    )
    .await;

    let fast = origin(10, Duration::ZERO).await;
    let address = link(&control, "held", &fast.to_string()).await;
    ok(
        &control,
        "POST",
        "/proxies/held/toxics",
        Some(r#"{"type":"timeout","attributes":{"timeout":0}}"#),
    )
    .await;
    let (out, _) = timed_get(address, &["--max-time", "2"]).await;
    assert_eq!(out.status.code(), Some(28), "held until curl gave up");
    ok(
        &control,
        "PATCH",
        "/proxies/held/toxics/timeout_downstream",
        Some(r#"{"attributes":{"timeout":300}}"#),
    )
    .await;
    let (out, _) = timed_get(address, &["--max-time", "5"]).await;
    assert_eq!(
        out.status.code(),
        Some(52),
        "closed with nothing after 300 ms"
    );
    ok(
        &control,
        "DELETE",
        "/proxies/held/toxics/timeout_downstream",
        None,
    )
    .await;

    let big = origin(100_000, Duration::ZERO).await;
    let address = link(&control, "limited", &big.to_string()).await;
    ok(
        &control,
        "POST",
        "/proxies/limited/toxics",
        Some(r#"{"type":"limit_data","attributes":{"bytes":1000}}"#),
    )
    .await;
    let (out, figures) = timed_get(address, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(18),
        "cut short: curl's partial file"
    );
    assert!(figures[3] < 1000.0, "{figures:?}");
    lab.shutdown().await;
}

#[tokio::test]
async fn slicer_cuts_data_into_many_small_reads() {
    let (lab, control) = lab_and_control(1).await;
    let origin = origin(20_000, Duration::ZERO).await;
    let address = link(&control, "app", &origin.to_string()).await;
    let reads = |address: SocketAddr| async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let (mut count, mut total) = (0, 0);
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                return (count, total);
            }
            count += 1;
            total += n;
        }
    };
    let (plain, total) = reads(address).await;
    api(&control, "POST", "/proxies/app/toxics", Some(r#"{"type":"slicer","attributes":{"average_size":100,"size_variation":20,"delay":200}}"#)).await;
    let (sliced, sliced_total) = reads(address).await;
    assert_eq!(total, sliced_total);
    println!("reads without slicer {plain}, with slicer {sliced}");
    assert!(plain < 20 && sliced > 100, "{plain} → {sliced}");
    lab.shutdown().await;
}

/// Which of 200 connections a toxicity-0.5 toxic cut (limit_data 0 closes at once).
async fn touched(control: &Control, origin: SocketAddr) -> Vec<bool> {
    let address = link(control, "coin", &origin.to_string()).await;
    ok(
        control,
        "POST",
        "/proxies/coin/toxics",
        Some(r#"{"type":"limit_data","toxicity":0.5,"attributes":{"bytes":0}}"#),
    )
    .await;
    let mut out = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut all = Vec::new();
        let _ = stream.read_to_end(&mut all).await;
        out.push(all.is_empty());
    }
    api(control, "DELETE", "/proxies/coin", None).await;
    out
}

#[tokio::test]
async fn toxicity_touches_about_half_and_the_same_half_with_the_same_seed() {
    let (lab, control) = lab_and_control(42).await;
    let origin = origin(10, Duration::ZERO).await;
    let first = touched(&control, origin).await;
    let again = touched(&control, origin).await;
    let count = first.iter().filter(|t| **t).count();
    println!("toxicity 0.5: {count} of 200 connections cut");
    assert!((70..=130).contains(&count), "{count} of 200");
    assert_eq!(first, again, "the same seed cuts the same connections");
    lab.shutdown().await;
    let (lab, control) = lab_and_control(43).await;
    let other = touched(&control, origin).await;
    assert_ne!(first, other, "another seed, other connections");
    lab.shutdown().await;
}
