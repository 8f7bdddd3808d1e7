//! Control API benchmarks: how long one call takes on loopback, over a kept-alive connection, as a
//! Toxiproxy client makes it. The issue asks for under a millisecond.
//!
//! The client writes requests and reads answers by hand: a bench needs nothing more than a
//! Content-Length body, and a client library would time itself as much as the API.

use criterion::{criterion_group, criterion_main, Criterion};
use egresslab::lab::control::ControlOptions;
use egresslab::lab::{EndpointPlan, Lab, ProxyPlan};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Send one request on `stream` and read its answer; the status code.
async fn call(stream: &mut BufReader<TcpStream>, method: &str, path: &str, body: &str) -> u16 {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .expect("write");
    let mut line = String::new();
    stream.read_line(&mut line).await.expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).await.expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line
            .to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(str::trim)
            .map(str::to_owned)
        {
            length = value.parse().expect("length");
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    status
}

fn control_calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (lab, address) = runtime.block_on(async {
        let lab = Lab::builder()
            .endpoint(EndpointPlan::http("portal", &["portal.egresslab.test"], 80))
            .proxy(ProxyPlan::new("corp"))
            .start()
            .await
            .expect("lab");
        let control = lab
            .start_control(ControlOptions::default())
            .expect("control");
        (lab, control.address())
    });
    let mut stream = runtime
        .block_on(async { BufReader::new(TcpStream::connect(address).await.expect("connect")) });
    let mut group = c.benchmark_group("control_call");
    group.bench_function("GET /proxies/corp", |b| {
        b.iter(|| runtime.block_on(call(&mut stream, "GET", "/proxies/corp", "")))
    });
    group.bench_function("GET /proxies (every lab listener)", |b| {
        b.iter(|| runtime.block_on(call(&mut stream, "GET", "/proxies", "")))
    });
    group.bench_function("add and remove a latency toxic on corp (two calls)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let added = call(
                    &mut stream,
                    "POST",
                    "/proxies/corp/toxics",
                    r#"{"type":"latency","attributes":{"latency":100}}"#,
                )
                .await;
                assert_eq!(added, 200);
                let removed = call(
                    &mut stream,
                    "DELETE",
                    "/proxies/corp/toxics/latency_downstream",
                    "",
                )
                .await;
                assert_eq!(removed, 204);
            })
        })
    });
    group.bench_function("proxy down and up (two calls)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                assert_eq!(
                    call(&mut stream, "POST", "/egresslab/proxies/corp/down", "").await,
                    200
                );
                assert_eq!(
                    call(&mut stream, "POST", "/egresslab/proxies/corp/up", "").await,
                    200
                );
            })
        })
    });
    group.finish();
    drop(stream);
    runtime.block_on(lab.shutdown());
}

criterion_group!(benches, control_calls);
criterion_main!(benches);
