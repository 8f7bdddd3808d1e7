//! Lab lifecycle: every listener bound on start, addresses reported, shutdown and drop free every port,
//! labs side by side.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::lab::http_get;
use egresslab::certs::Profile;
use egresslab::lab::{
    EndpointBehaviour, EndpointPlan, HttpAnswer, Lab, LabError, ProxyPlan, Route, UdpBehaviour,
    UdpPlan, Vantage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn answer(body: &str) -> EndpointBehaviour {
    EndpointBehaviour::Http(HttpAnswer {
        body: body.to_owned(),
        ..HttpAnswer::default()
    })
}

async fn sample_lab() -> Lab {
    let mut down = ProxyPlan::new("down");
    down.down = true;
    Lab::builder()
        .name("lifecycle")
        .endpoint(EndpointPlan::http("app", &["app.egresslab.test"], 80).behaviour(answer("app\n")))
        .endpoint(EndpointPlan::https(
            "login",
            &["login.egresslab.test"],
            Profile::Valid,
        ))
        .proxy(ProxyPlan::new("corp"))
        .proxy(down)
        .udp(UdpPlan::new(
            "ike",
            "vpn.egresslab.test",
            500,
            UdpBehaviour::IkeResponder,
        ))
        .dns()
        .start()
        .await
        .expect("lab starts")
}

fn tcp_ports(lab: &Lab) -> Vec<SocketAddr> {
    let mut ports: Vec<SocketAddr> = lab
        .endpoints()
        .iter()
        .map(|endpoint| endpoint.listen_address())
        .collect();
    ports.extend(lab.proxies().iter().map(|proxy| proxy.address()));
    ports
}

#[tokio::test]
async fn start_reports_addresses_that_answer_at_once() {
    let lab = sample_lab().await;
    let app = lab.expect_endpoint("app");
    assert_eq!(app.port(), 80);
    assert_eq!(app.hosts(), ["app.egresslab.test"]);
    assert_eq!(app.address(), app.listen_address());
    let answer = http_get(app.address(), "app.egresslab.test", "/")
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\napp\n"), "{answer}");

    let corp = lab.expect_proxy("corp");
    assert_eq!(corp.url(), format!("http://{}", corp.address()));
    TcpStream::connect(corp.address()).await.unwrap();
    let refused = TcpStream::connect(lab.expect_proxy("down").address()).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );

    assert!(lab.dns_address().is_some());
    assert!(lab.udp("ike").is_some());
    assert!(lab.endpoint("nope").is_none() && lab.proxy("nope").is_none());
    assert_eq!(
        lab.route("app.egresslab.test", 80, &Vantage::Client),
        Route::Connect(app.address())
    );
    assert_eq!(
        lab.route("other.example", 80, &Vantage::Client),
        Route::UnknownHost
    );
    let mapping = lab.connect_to();
    assert!(mapping.contains(&(
        "login.egresslab.test".to_owned(),
        443,
        lab.expect_endpoint("login").address()
    )));
    assert_eq!(
        lab.curl_resolve_args()[..2],
        [
            "--connect-to".to_owned(),
            format!("app.egresslab.test:80:127.0.0.1:{}", app.address().port())
        ]
    );
    let bundle = std::fs::read_to_string(lab.ca_bundle_path()).unwrap();
    assert!(bundle.starts_with("-----BEGIN CERTIFICATE-----"));
    for file in [
        "inspection.pem",
        "untrusted.pem",
        "connector-registration.pem",
    ] {
        assert!(lab.dir().join(file).is_file(), "{file}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn shutdown_frees_every_port() {
    let lab = sample_lab().await;
    let tcp = tcp_ports(&lab);
    let udp = [lab.expect_udp("ike"), lab.dns_address().unwrap()];
    // An open client connection must not keep the lab alive.
    let mut open = TcpStream::connect(lab.expect_endpoint("app").address())
        .await
        .unwrap();
    let dir = lab.dir().to_path_buf();
    lab.shutdown().await;
    for address in tcp {
        std::net::TcpListener::bind(address)
            .unwrap_or_else(|e| panic!("{address} still taken: {e}"));
    }
    for address in udp {
        std::net::UdpSocket::bind(address).unwrap_or_else(|e| panic!("{address} still taken: {e}"));
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), open.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(!dir.exists(), "lab folder removed");
}

#[tokio::test]
async fn drop_cancels_without_blocking() {
    let lab = sample_lab().await;
    let address = lab.expect_endpoint("app").listen_address();
    drop(lab);
    // The cancelled tasks end as soon as they are polled again; no sleeping, a bounded number of yields.
    let mut freed = false;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        if std::net::TcpListener::bind(address).is_ok() {
            freed = true;
            break;
        }
    }
    assert!(freed, "{address} still bound after drop");
}

#[tokio::test]
async fn five_labs_side_by_side() {
    let starts = (0..5).map(|index| {
        Lab::builder()
            .name(format!("lab{index}"))
            .endpoint(
                EndpointPlan::http("app", &["app.egresslab.test"], 80)
                    .behaviour(answer(&format!("lab {index}\n"))),
            )
            .start()
    });
    let labs: Vec<Lab> = futures_join(starts).await;
    for (index, lab) in labs.iter().enumerate() {
        let answer = http_get(
            lab.expect_endpoint("app").address(),
            "app.egresslab.test",
            "/",
        )
        .await
        .unwrap();
        assert!(answer.ends_with(&format!("lab {index}\n")), "{answer}");
    }
    for lab in labs {
        lab.shutdown().await;
    }
}

async fn futures_join(
    starts: impl Iterator<
        Item = impl std::future::Future<Output = Result<Lab, LabError>> + Send + 'static,
    >,
) -> Vec<Lab> {
    let handles: Vec<_> = starts.map(tokio::spawn).collect();
    let mut labs = Vec::new();
    for handle in handles {
        labs.push(handle.await.unwrap().unwrap());
    }
    labs
}

#[tokio::test]
async fn plan_errors_are_typed() {
    let duplicate = Lab::builder()
        .endpoint(EndpointPlan::http("a", &["a.egresslab.test"], 80))
        .endpoint(EndpointPlan::http("a", &["b.egresslab.test"], 80))
        .start()
        .await;
    assert!(matches!(
        duplicate,
        Err(LabError::DuplicateName {
            kind: "endpoint",
            ..
        })
    ));
    let mut chained = ProxyPlan::new("corp");
    chained.upstream = Some("parent".into());
    let unknown = Lab::builder().proxy(chained).start().await;
    assert!(matches!(unknown, Err(LabError::UnknownProxy { name }) if name == "parent"));
    // A certificate profile is a `Profile`, so an unknown one cannot reach the lab; proxies must be
    // unique like endpoints.
    let proxies = Lab::builder()
        .proxy(ProxyPlan::new("corp"))
        .proxy(ProxyPlan::new("corp"))
        .start()
        .await;
    assert!(
        matches!(proxies, Err(LabError::DuplicateName { kind: "proxy", name }) if name == "corp")
    );
}

#[tokio::test]
async fn http_answers_keep_alive_status_headers_and_delay() {
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::http("slow", &["slow.egresslab.test"], 80).answer(HttpAnswer {
                status: 504,
                headers: vec![("X-Lab".into(), "yes".into())],
                body: "late\n".into(),
                delay: Duration::from_millis(200),
            }),
        )
        .start()
        .await
        .unwrap();
    let mut stream = TcpStream::connect(lab.expect_endpoint("slow").address())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: slow\r\n\r\nGET /again HTTP/1.1\r\nHost: slow\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        answer.matches("HTTP/1.1 504 Gateway Timeout\r\n").count(),
        2,
        "{answer}"
    );
    assert!(answer.contains("X-Lab: yes\r\n"), "{answer}");
    let events = lab.timeline().to_json_lines();
    assert!(events.contains("\"source\":\"endpoint:slow\""), "{events}");
    assert!(events.contains("\"event\":\"closed\""), "{events}");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_proxy_whose_tls_listener_cannot_be_set_up_fails_the_start() {
    // rustls cannot load the weak-key profile's 1024-bit RSA key: the https:// listener cannot
    // exist, so the lab must not start (it used to start with the proxy's port bound but dead).
    let mut https = ProxyPlan::new("secure-proxy");
    https.tls_profile = Some("weak-key".parse().unwrap());
    let error = Lab::builder()
        .endpoint(EndpointPlan::http("app", &["app.egresslab.test"], 80))
        .proxy(https)
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            LabError::ProxyTls { proxy, part: "TLS listener", .. } if proxy == "secure-proxy"
        ),
        "{error:?}"
    );
    let chain = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(
        chain.contains("cannot set up the TLS listener of proxy secure-proxy"),
        "{chain}"
    );
}

#[tokio::test]
async fn the_lab_folder_is_owner_only_and_its_private_files_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    let lab = sample_lab().await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(lab.dir()), 0o700, "{}", lab.dir().display());
    let key = lab
        .write_private_file("client.key", b"-----BEGIN PRIVATE KEY-----\n")
        .unwrap();
    assert_eq!(key.parent(), Some(lab.dir()));
    assert_eq!(mode(&key), 0o600);
    // Overwriting a file someone left readable makes it private too.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    lab.write_private_file("client.key", b"again").unwrap();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(std::fs::read(&key).unwrap(), b"again");
    lab.shutdown().await;
}

#[tokio::test]
async fn expect_lookups_name_what_the_lab_has() {
    let lab = sample_lab().await;
    assert_eq!(lab.expect_proxy("corp").name(), "corp");
    assert_eq!(Some(lab.expect_udp("ike")), lab.udp("ike"));
    let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lab.expect_endpoint("nope");
    }))
    .unwrap_err();
    let message = missing.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "the lab has no endpoint named \"nope\"; it has: app, login"
    );
    lab.shutdown().await;
}

/// Issue 20, break 1: a plan written in code whose proxies chain in a loop does not start; before,
/// one CONNECT filled the process's descriptor table.
#[tokio::test]
async fn a_plan_whose_upstreams_loop_does_not_start() {
    let mut a = ProxyPlan::new("a");
    a.upstream = Some("b".into());
    let mut b = ProxyPlan::new("b");
    b.upstream = Some("a".into());
    let looped = Lab::builder().proxy(a).proxy(b).start().await;
    match looped {
        Err(LabError::UpstreamCycle { cycle }) => assert_eq!(cycle, ["a", "b", "a"]),
        other => panic!("expected an upstream cycle, got {other:?}"),
    }
}
