//! DNS, UDP responders, the revocation responder, PAC and TLS endpoints, in process.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use common::lab::http_get;
use egresslab::certs::{CaRole, Factory, Profile};
use egresslab::lab::{
    EndpointBehaviour, EndpointPlan, EventKind, Lab, TlsVersions, UdpBehaviour, UdpPlan,
};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use rustls::pki_types::ServerName;
use std::str::FromStr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_parser::prelude::FromDer;

fn ask(server: std::net::SocketAddr, name: &str) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut query = Message::new();
    query
        .set_id(99)
        .add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buffer = [0u8; 1500];
    let n = socket.recv(&mut buffer).unwrap();
    Message::from_vec(&buffer[..n]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answers_lab_names_wpad_and_nxdomain() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http("app", &["*.apps.egresslab.test"], 80))
        .endpoint(
            EndpointPlan::http("pac", &["pac.egresslab.test"], 80).behaviour(
                EndpointBehaviour::Pac {
                    script: "function FindProxyForURL(u, h) { return \"DIRECT\"; }".into(),
                },
            ),
        )
        .dns()
        .suffix("corp.egresslab.test")
        .nxdomain("gone.apps.egresslab.test")
        .per_host_addresses()
        .start()
        .await
        .unwrap();
    let dns = lab.dns_address().unwrap();
    let (found, wpad, gone, unknown) = tokio::task::spawn_blocking(move || {
        (
            ask(dns, "x.apps.egresslab.test."),
            ask(dns, "wpad.corp.egresslab.test."),
            ask(dns, "gone.apps.egresslab.test."),
            ask(dns, "example.org."),
        )
    })
    .await
    .unwrap();
    assert_eq!(found.response_code(), ResponseCode::NoError);
    let RData::A(a) = found.answers()[0].data() else {
        panic!("{found:?}")
    };
    assert_eq!(a.0.octets()[0], 127);
    assert_ne!(a.0.octets()[..], [127, 0, 0, 1], "per-host address");
    assert_eq!(wpad.answers().len(), 1, "{wpad:?}");
    assert_eq!(gone.response_code(), ResponseCode::NXDomain);
    assert_eq!(unknown.response_code(), ResponseCode::NXDomain);
    let lines = lab.hosts_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.ends_with(" wpad.corp.egresslab.test")),
        "{lines:?}"
    );
    let pac = http_get(
        lab.expect_endpoint("pac").address(),
        "wpad.corp.egresslab.test",
        "/wpad.dat",
    )
    .await
    .unwrap();
    assert!(
        pac.contains("Content-Type: application/x-ns-proxy-autoconfig\r\n"),
        "{pac}"
    );
    assert!(pac.ends_with("return \"DIRECT\"; }"), "{pac}");
    let queries = lab
        .timeline()
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::DnsQuery { .. }))
        .count();
    assert_eq!(queries, 4);
    lab.shutdown().await;
}

fn ike_sa_init(prefix: &[u8]) -> Vec<u8> {
    let mut message = prefix.to_vec();
    message.extend([0x11; 8]);
    message.extend([0; 8]);
    message.extend([33, 0x20, 34, 0x08]);
    message.extend(0u32.to_be_bytes());
    message.extend(28u32.to_be_bytes());
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ike_responder_answers_and_silent_does_not() {
    let lab = Lab::builder()
        .udp(UdpPlan::new(
            "ike",
            "vpn.egresslab.test",
            500,
            UdpBehaviour::IkeResponder,
        ))
        .udp(UdpPlan::new(
            "natt",
            "vpn.egresslab.test",
            4500,
            UdpBehaviour::IkeResponder,
        ))
        .udp(UdpPlan::new(
            "dropped",
            "vpn2.egresslab.test",
            500,
            UdpBehaviour::Silent,
        ))
        .start()
        .await
        .unwrap();
    let (ike, natt, dropped) = (
        lab.expect_udp("ike"),
        lab.expect_udp("natt"),
        lab.expect_udp("dropped"),
    );
    let (reply, natt_reply, silence) = tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buffer = [0u8; 512];
        socket.send_to(&ike_sa_init(&[]), ike).unwrap();
        let n = socket.recv(&mut buffer).unwrap();
        let reply = buffer[..n].to_vec();
        socket.send_to(&ike_sa_init(&[0; 4]), natt).unwrap();
        let n = socket.recv(&mut buffer).unwrap();
        let natt_reply = buffer[..n].to_vec();
        socket.send_to(&ike_sa_init(&[]), dropped).unwrap();
        let silence = socket.recv(&mut buffer);
        (reply, natt_reply, silence)
    })
    .await
    .unwrap();
    assert_eq!(reply.len(), 28);
    assert_eq!(&reply[..8], &[0x11; 8]);
    assert_ne!(&reply[8..16], &[0; 8]);
    assert_eq!(&reply[16..20], &[0, 0x20, 34, 0x20]);
    assert_eq!(&natt_reply[..4], &[0; 4]);
    assert_eq!(natt_reply.len(), 32);
    let error = silence.expect_err("silent responder answered");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error}"
    );
    let answered: Vec<bool> = lab
        .timeline()
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Datagram { answered, .. } => Some(answered),
            _ => None,
        })
        .collect();
    assert_eq!(answered.len(), 3);
    assert_eq!(answered.iter().filter(|a| **a).count(), 2);
}

#[tokio::test]
async fn revocation_responder_serves_crl_and_ocsp() {
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::http("crl", &["crl.egresslab.test", "ocsp.egresslab.test"], 80)
                .behaviour(EndpointBehaviour::Revocation),
        )
        .start()
        .await
        .unwrap();
    lab.certs()
        .mint(Profile::Revoked, &["revoked.egresslab.test".to_owned()])
        .unwrap();
    let address = lab.expect_endpoint("crl").address();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"GET /lab.crl HTTP/1.1\r\nHost: crl.egresslab.test\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]);
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && head.contains("application/pkix-crl"),
        "{head}"
    );
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&answer[split + 4..])
            .unwrap();
    assert_eq!(crl.iter_revoked_certificates().count(), 1);
    let garbage = http_get(address, "ocsp.egresslab.test", "/bm90IG9jc3A=")
        .await
        .unwrap();
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
}

fn client_config(
    lab: &Lab,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(lab.certs().authority(CaRole::Lab).cert_der().clone())
        .unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

#[tokio::test]
async fn tls_endpoint_records_handshakes_and_refusals() {
    let factory = Arc::new(Factory::ephemeral().unwrap());
    let lab = Lab::builder()
        .certs(factory.clone())
        .endpoint(
            EndpointPlan::https("login", &["login.egresslab.test"], Profile::Valid)
                .versions(TlsVersions::Tls13Only),
        )
        .start()
        .await
        .unwrap();
    assert!(Arc::ptr_eq(lab.certs(), &factory));
    let address = lab.expect_endpoint("login").address();
    let name = ServerName::try_from("login.egresslab.test").unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(&lab, &[&rustls::version::TLS13])));
    let mut tls = connector
        .connect(name.clone(), TcpStream::connect(address).await.unwrap())
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: login.egresslab.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

    let old =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(&lab, &[&rustls::version::TLS12])));
    let refused = old
        .connect(name, TcpStream::connect(address).await.unwrap())
        .await;
    assert!(refused.is_err());
    let events = lab.timeline().events();
    let handshake = events.iter().find_map(|e| match &e.kind {
        EventKind::TlsHandshake {
            version,
            sni,
            served,
            client_cert,
        } => Some((
            version.clone(),
            sni.clone(),
            served.clone(),
            client_cert.clone(),
        )),
        _ => None,
    });
    let (version, sni, served, client_cert) = handshake.expect("handshake recorded");
    assert_eq!(version, "TLSv1.3");
    assert_eq!(sni.as_deref(), Some("login.egresslab.test"));
    assert!(served.contains("login.egresslab.test"), "{served}");
    assert_eq!(client_cert, None);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::TlsFailed { sni: Some(s), .. } if s == "login.egresslab.test")));
}
