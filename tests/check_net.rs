//! Network checks against tiny in-process servers: each condition and its healthy twin.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use egresslab::check::{run, ClientConfig, ConnectTo, Probe, ProxySetting};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn quick() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(300),
        io_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

#[tokio::test]
async fn tcp_open_refused_and_filtered_are_told_apart() {
    let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let config = quick();
    let r = run(
        &config,
        &[Probe::Tcp {
            host: "127.0.0.1".into(),
            port: open_port,
        }],
    )
    .await;
    assert_eq!(r.all_codes()[0].0, "net.tcp.open");
    assert!(r.codes().is_empty());
    let r = run(
        &config,
        &[Probe::Tcp {
            host: "127.0.0.1".into(),
            port: closed_port,
        }],
    )
    .await;
    assert_eq!(r.codes()[0].0, "net.tcp.refused");
    // A listener that never accepts, with its queue full: Linux drops further SYNs (the filtered case).
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = sock.listen(1).unwrap();
    let full_addr = full.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(full_addr),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    let r = run(
        &config,
        &[Probe::Tcp {
            host: "127.0.0.1".into(),
            port: full_addr.port(),
        }],
    )
    .await;
    assert_eq!(
        r.codes().iter().map(|c| c.0).collect::<Vec<_>>(),
        vec!["net.tcp.filtered"],
        "{:#?}",
        r.findings
    );
    drop(held);
}

async fn mini_proxy(answer: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    tracker.spawn(async move {
        // Bounded: serves at most 4 connections, then the test is over.
        for _ in 0..4 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    tracker.close();
    addr
}

#[tokio::test]
async fn proxy_407_lists_schemes_and_403_names_the_host_and_502_blames_the_proxy() {
    let url = "https://login.windows.net/";
    let p407 = mini_proxy("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n").await;
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://{p407}")),
        ..quick()
    };
    let r = run(&config, &[Probe::Url { url: url.into() }]).await;
    let f = r
        .with_code("proxy.auth_required")
        .next()
        .expect("407 diagnosed");
    assert!(
        f.summary.contains("Basic, NTLM, Negotiate"),
        "{}",
        f.summary
    );

    let p403 = mini_proxy("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://{p403}")),
        ..quick()
    };
    let r = run(&config, &[Probe::Url { url: url.into() }]).await;
    assert!(r
        .with_code("proxy.denied")
        .next()
        .unwrap()
        .summary
        .contains("login.windows.net"));

    let p503 = mini_proxy("HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\nContent-Length: 0\r\n\r\n").await;
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://{p503}")),
        ..quick()
    };
    let r = run(&config, &[Probe::Url { url: url.into() }]).await;
    let f = r.with_code("proxy.bad_gateway").next().unwrap();
    assert!(
        f.summary.contains("ERR_CONNECT_FAIL") && f.summary.contains("503"),
        "{}",
        f.summary
    );

    let garbage = mini_proxy("SSH-2.0-OpenSSH_9.0\r\n").await;
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://{garbage}")),
        ..quick()
    };
    assert_eq!(
        run(&config, &[Probe::Url { url: url.into() }])
            .await
            .codes()[0]
            .0,
        "proxy.garbage"
    );

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://{dead}")),
        ..quick()
    };
    assert_eq!(
        run(&config, &[Probe::Url { url: url.into() }])
            .await
            .codes()[0]
            .0,
        "proxy.unreachable"
    );
}

struct Pki {
    root: CertificateDer<'static>,
    root_issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn pki(cn: &str) -> Pki {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Pki {
        root: cert.der().clone(),
        root_issuer: rcgen::Issuer::new(p, key),
    }
}

fn leaf(pki: &Pki, name: &str, expired: bool) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &pki.root_issuer).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

async fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    tracker.spawn(async move {
        for _ in 0..4 {
            let Ok((s, _)) = l.accept().await else { return };
            if let Ok(mut t) = acceptor.accept(s).await {
                let mut buf = vec![0u8; 2048];
                let _ = t.read(&mut buf).await;
                let _ = t
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = t.shutdown().await;
            }
        }
    });
    tracker.close();
    addr
}

#[tokio::test]
async fn tls_valid_expired_untrusted_and_intercepted() {
    let name = "connector-sample.msappproxy.net";
    let lab = pki("Lab Root");
    let url = format!("https://{name}/");
    let setup = |addr: SocketAddr, trust: Vec<CertificateDer<'static>>, expected: Vec<String>| {
        ClientConfig {
            trust,
            expected_issuers: expected,
            connect_to: vec![ConnectTo {
                host: name.into(),
                port: 443,
                address: addr,
            }],
            ..quick()
        }
    };

    let (c, k) = leaf(&lab, name, false);
    let good = tls_server(vec![c], k).await;
    let r = run(
        &setup(good, vec![lab.root.clone()], vec!["Lab Root".into()]),
        &[Probe::Url { url: url.clone() }],
    )
    .await;
    assert!(
        r.codes().is_empty(),
        "healthy twin must be clean: {:#?}",
        r.findings
    );
    assert!(r.all_codes().iter().any(|c| c.0 == "pki.chain.ok"));

    let (c, k) = leaf(&lab, name, true);
    let expired = tls_server(vec![c], k).await;
    let r = run(
        &setup(expired, vec![lab.root.clone()], vec![]),
        &[Probe::Url { url: url.clone() }],
    )
    .await;
    assert_eq!(
        r.codes().iter().map(|c| c.0).collect::<Vec<_>>(),
        vec!["pki.expired"]
    );

    let other = pki("Other Root");
    let (c, k) = leaf(&other, name, false);
    let untrusted = tls_server(vec![c, other.root.clone()], k).await;
    let r = run(
        &setup(untrusted, vec![lab.root.clone()], vec!["Other Root".into()]),
        &[Probe::Url { url: url.clone() }],
    )
    .await;
    assert_eq!(
        r.codes().iter().map(|c| c.0).collect::<Vec<_>>(),
        vec!["pki.untrusted_root"]
    );

    let inspection = pki("Corp Inspection CA");
    let (c, k) = leaf(&inspection, name, false);
    let mitm = tls_server(vec![c, inspection.root.clone()], k).await;
    let r = run(
        &setup(mitm, vec![lab.root.clone()], vec!["Lab Root".into()]),
        &[Probe::Url { url: url.clone() }],
    )
    .await;
    let codes: Vec<_> = r.codes().iter().map(|c| c.0).collect();
    assert_eq!(
        codes,
        vec!["tls.intercepted"],
        "interception reported instead of untrusted root"
    );
    assert!(r
        .with_code("tls.intercepted")
        .next()
        .unwrap()
        .summary
        .contains("Corp Inspection CA"));
}
