//! Client-certificate authentication against a lab endpoint that requires a certificate from the
//! connector registration CA: accepted, missing, expired, and lost through an intercepting proxy.

mod common;

use std::sync::Arc;

use common::checklab::{assert_healthy, assert_problems, client, client_cert, show, the};
use egresslab::certs::{CaRole, Factory, Profile};
use egresslab::check::{run, ClientCertificate, ClientConfig, Probe, ProxySetting};
use egresslab::lab::{EndpointPlan, InterceptPlan, Lab, ProxyPlan};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const SERVICE: &str = "connector-sample.msappproxy.net";

fn probe() -> Vec<Probe> {
    vec![Probe::Url {
        url: format!("https://{SERVICE}/"),
    }]
}

async fn lab_with(certs: Arc<Factory>) -> Lab {
    let mut inspect = ProxyPlan::new("inspect");
    inspect.intercept = Some(InterceptPlan {
        passthrough: Vec::new(),
    });
    Lab::builder()
        .certs(certs)
        .endpoint(
            EndpointPlan::https("service", &[SERVICE], Profile::Valid)
                .client_auth(CaRole::ConnectorRegistration),
        )
        .proxy(ProxyPlan::new("corp"))
        .proxy(inspect)
        .start()
        .await
        .expect("lab starts")
}

async fn lab() -> Lab {
    lab_with(Arc::new(Factory::ephemeral().unwrap())).await
}

fn connector_cert(lab: &Lab) -> ClientCertificate {
    let minted = lab
        .certs()
        .mint(Profile::ConnectorClient, &["connector-0001".to_owned()])
        .unwrap();
    client_cert(&minted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_certificate_is_accepted() {
    let lab = lab().await;
    let mut config = client(&lab);
    config.client_cert = Some(connector_cert(&lab));
    let report = run(&config, &probe()).await;
    assert_healthy(&report, &["tls.client_cert.ok", "pki.chain.ok"]);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_is_required_missing() {
    let lab = lab().await;
    let report = run(&client(&lab), &probe()).await;
    assert_problems(&report, &["tls.client_cert.required_missing"]);
    lab.shutdown().await;
}

/// A client certificate from the registration CA whose validity ended a year ago, signed with the CA
/// key the factory persisted in `dir`.
fn expired_connector_cert(dir: &std::path::Path) -> ClientCertificate {
    let ca_pem = std::fs::read_to_string(dir.join("connector-registration.pem")).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(dir.join("connector-registration.key")).unwrap(),
    )
    .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "connector-0001");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2023, 1, 1);
    params.not_after = rcgen::date_time_ymd(2024, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    ClientCertificate {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Arc::new(Factory::open(&dir.path().join("ca")).unwrap());
    let lab = lab_with(certs).await;
    let mut config = client(&lab);
    config.client_cert = Some(expired_connector_cert(&dir.path().join("ca")));
    let report = run(&config, &probe()).await;
    assert_problems(&report, &["tls.client_cert.rejected"]);
    // The healthy twin on the same lab: a current certificate from the same CA.
    config.client_cert = Some(connector_cert(&lab));
    let report = run(&config, &probe()).await;
    assert_healthy(&report, &["tls.client_cert.ok"]);
    lab.shutdown().await;
}

fn via(lab: &Lab, proxy: &str, cert: ClientCertificate) -> ClientConfig {
    let mut config = client(lab);
    config.proxy = ProxySetting::Url(lab.proxy(proxy).unwrap().url());
    config
        .trust
        .push(lab.certs().authority(CaRole::Inspection).cert_der().clone());
    config.expected_issuers = vec![lab
        .certs()
        .authority(CaRole::Intermediate)
        .common_name()
        .to_owned()];
    config.client_cert = Some(cert);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interception_loses_the_client_certificate_and_a_blind_tunnel_keeps_it() {
    let lab = lab().await;
    let report = run(&via(&lab, "inspect", connector_cert(&lab)), &probe()).await;
    assert_problems(
        &report,
        &[
            "tls.intercepted",
            "tls.client_cert.lost_through_interception",
        ],
    );
    let seen = the(&report, "tls.intercepted");
    assert!(
        seen.summary.contains("egresslab TLS Inspection CA"),
        "{}",
        show(&report)
    );
    // The healthy twin: the same client through a proxy that tunnels blind.
    let report = run(&via(&lab, "corp", connector_cert(&lab)), &probe()).await;
    assert_healthy(&report, &["proxy.connect.ok", "tls.client_cert.ok"]);
    lab.shutdown().await;
}
