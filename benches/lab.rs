//! Lab benchmarks: start-up of a dozen endpoints and two proxies (one intercepting) with a shared
//! factory and with the CAs cached on disk, and a direct TLS handshake.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use egresslab::certs::{CaRole, Factory, Profile};
use egresslab::lab::{EndpointPlan, InterceptPlan, Lab, LabPlan, ProxyPlan};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

fn dozen_endpoints() -> LabPlan {
    let mut builder = Lab::builder();
    for index in 0..12 {
        let host = format!("app{index}.egresslab.test");
        let endpoint = if index % 2 == 0 {
            EndpointPlan::https(format!("e{index}"), &[host.as_str()], Profile::Valid)
        } else {
            EndpointPlan::http(format!("e{index}"), &[host.as_str()], 80)
        };
        builder = builder.endpoint(endpoint);
    }
    builder
        .proxy(ProxyPlan::new("corp"))
        .proxy(ProxyPlan {
            intercept: Some(InterceptPlan {
                passthrough: Vec::new(),
            }),
            ..ProxyPlan::new("inspect")
        })
        .plan()
        .clone()
}

fn start_up(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let factory = Arc::new(Factory::ephemeral().expect("factory"));
    let plan = dozen_endpoints();
    let mut group = c.benchmark_group("lab_start_up");
    group.bench_function("12 endpoints (6 TLS) + 2 proxies, shared factory", |b| {
        b.to_async(&runtime).iter(|| async {
            let lab = Lab::start_with_certs(plan.clone(), factory.clone())
                .await
                .expect("lab");
            lab.shutdown().await;
        })
    });
    // What `egresslab up` and a test suite get with a CA folder: the CAs are read from disk.
    let dir = tempfile::tempdir().expect("dir");
    Factory::open(dir.path()).expect("create the CAs once");
    let mut cached = plan.clone();
    cached.ca_dir = Some(dir.path().to_owned());
    group.bench_function("12 endpoints (6 TLS) + 2 proxies, CA cached on disk", |b| {
        b.to_async(&runtime).iter(|| async {
            let lab = Lab::start(cached.clone()).await.expect("lab");
            lab.shutdown().await;
        })
    });
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = runtime
        .block_on(
            Lab::builder()
                .endpoint(EndpointPlan::https(
                    "login",
                    &["login.egresslab.test"],
                    Profile::Valid,
                ))
                .start(),
        )
        .expect("lab");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(lab.certs().authority(CaRole::Lab).cert_der().clone())
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let address = lab.expect_endpoint("login").address();
    let name = ServerName::try_from("login.egresslab.test").expect("name");
    c.bench_function("direct TLS 1.3 handshake to an endpoint", |b| {
        b.to_async(&runtime).iter(|| async {
            let tcp = TcpStream::connect(address).await.expect("connect");
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .expect("handshake");
            drop(tls);
        })
    });
    runtime.block_on(lab.shutdown());
}

criterion_group!(benches, start_up, handshake);
criterion_main!(benches);
