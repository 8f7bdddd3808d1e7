//! Lab benchmarks: start-up of a dozen endpoints with a shared factory, and a direct TLS handshake.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use egresslab::certs::{CaRole, Factory};
use egresslab::lab::{EndpointPlan, Lab, LabPlan};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

fn dozen_endpoints() -> LabPlan {
    let mut builder = Lab::builder();
    for index in 0..12 {
        let host = format!("app{index}.egresslab.test");
        let endpoint = if index % 2 == 0 {
            EndpointPlan::https(format!("e{index}"), &[host.as_str()], "valid")
        } else {
            EndpointPlan::http(format!("e{index}"), &[host.as_str()], 80)
        };
        builder = builder.endpoint(endpoint);
    }
    builder.plan().clone()
}

fn start_up(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let factory = Arc::new(Factory::ephemeral().expect("factory"));
    let plan = dozen_endpoints();
    c.bench_function("lab start-up, 12 endpoints (6 TLS), shared factory", |b| {
        b.to_async(&runtime).iter(|| async {
            let lab = Lab::start_with_certs(plan.clone(), factory.clone())
                .await
                .expect("lab");
            lab.shutdown().await;
        })
    });
}

fn handshake(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let lab = runtime
        .block_on(
            Lab::builder()
                .endpoint(EndpointPlan::https(
                    "login",
                    &["login.egresslab.test"],
                    "valid",
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
    let address = lab.endpoint("login").expect("endpoint").address();
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
