//! The proxy inside a lab, driven over raw sockets: tunnels, rules, answers, authentication, faults,
//! chaining, forwarding and the timeline.

mod common;

use std::time::Duration;

use base64::Engine;
use common::proxy::*;
use egresslab::lab::{
    AuthScheme, EventKind, Personality, ProxyAuthPlan, ProxyFault, ProxyPlan, ProxyRule, RuleAction,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn connect(host: &str, port: u16) -> Vec<u8> {
    format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn tunnel_relays_both_ways_and_carries_the_half_close() {
    let lab = lab_with(ProxyPlan::new("corp")).await;
    let mut stream = TcpStream::connect(proxy_addr(&lab, "corp")).await.unwrap();
    stream.write_all(&connect(ECHO, 443)).await.unwrap();
    assert_eq!(
        read_head(&mut stream).await,
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    stream.write_all(&[7u8; 32]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        echoed,
        vec![7u8; 32],
        "the echo sent after our FIN still arrives"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn timeline_records_request_rule_answer_and_bytes() {
    let lab = lab_with(ProxyPlan::new("corp")).await;
    let mut stream = TcpStream::connect(proxy_addr(&lab, "corp")).await.unwrap();
    stream.write_all(&connect(ECHO, 443)).await.unwrap();
    read_head(&mut stream).await;
    stream.write_all(&[1u8; 32]).await.unwrap();
    let mut back = [0u8; 32];
    stream.read_exact(&mut back).await.unwrap();
    drop(stream);
    let timeline = lab.timeline().clone();
    lab.shutdown().await;
    let kinds: Vec<EventKind> = timeline
        .events()
        .into_iter()
        .filter(|e| e.source == "proxy:corp")
        .map(|e| e.kind)
        .collect();
    assert!(
        matches!(&kinds[0], EventKind::Accepted { .. }),
        "{kinds:#?}"
    );
    assert!(
        matches!(&kinds[1], EventKind::Request { method, target, user: None, .. }
        if method == "CONNECT" && target == "echo.egresslab.test:443"),
        "{kinds:#?}"
    );
    assert!(
        matches!(&kinds[2], EventKind::RuleFired { action, .. } if action == "allow"),
        "{kinds:#?}"
    );
    assert!(
        matches!(&kinds[3], EventKind::Upstream { destination, serves: Some(_), .. }
        if destination == "echo.egresslab.test:443"),
        "the leg to the origin names the client connection it serves: {kinds:#?}"
    );
    assert!(
        matches!(&kinds[4], EventKind::Http { role, status: 200, .. } if role == "connect"),
        "{kinds:#?}"
    );
    assert!(
        matches!(&kinds[5], EventKind::Answer { status: 200, .. }),
        "{kinds:#?}"
    );
    assert!(
        matches!(
            &kinds[6],
            EventKind::Closed {
                bytes_up: 32,
                bytes_down: 32,
                ..
            }
        ),
        "{kinds:#?}"
    );
}

#[tokio::test]
async fn squid_answers_for_denials_and_connect_failures() {
    let plan = ProxyPlan {
        rules: vec![
            ProxyRule {
                hosts: "denied.egresslab.test".into(),
                ports: vec![],
                action: RuleAction::Deny,
            },
            ProxyRule {
                hosts: "*".into(),
                ports: vec![],
                action: RuleAction::Allow,
            },
        ],
        squid_default_ports: true,
        ..ProxyPlan::new("corp")
    };
    let lab = world()
        .endpoint(egresslab::lab::EndpointPlan::http(
            "denied",
            &["denied.egresslab.test"],
            443,
        ))
        .proxy(plan)
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let cases: [(&[u8], u16, &str); 6] = [
        (
            &connect("denied.egresslab.test", 443),
            403,
            "ERR_ACCESS_DENIED 0",
        ),
        (&connect(WEB, 80), 403, "ERR_ACCESS_DENIED 0"),
        (
            &connect("nowhere.egresslab.test", 443),
            500,
            "ERR_CANNOT_FORWARD 0",
        ),
        (&connect(WEB, 443), 503, "ERR_CONNECT_FAIL 111"),
        (&connect("127.0.0.1", 443), 403, "ERR_ACCESS_DENIED 0"),
        (
            b"GET http://web.egresslab.test:8/ HTTP/1.1\r\nHost: x\r\n\r\n",
            403,
            "ERR_ACCESS_DENIED 0",
        ),
    ];
    for (raw, expected, error) in cases {
        let head = exchange(proxy, raw).await;
        assert_eq!(status(&head), expected, "{head}");
        assert_eq!(header_values(&head, "X-Squid-Error"), [error], "{head}");
        assert_eq!(header_values(&head, "Server"), ["squid/5.7"]);
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn generic_personality_answers_502_with_the_error_text() {
    let plan = ProxyPlan {
        personality: Personality::Generic,
        ..ProxyPlan::new("corp")
    };
    let lab = lab_with(plan).await;
    let mut stream = TcpStream::connect(proxy_addr(&lab, "corp")).await.unwrap();
    stream.write_all(&connect(WEB, 443)).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("connection to web.egresslab.test:443 failed"),
        "{answer}"
    );
    lab.shutdown().await;
}

fn auth_plan() -> ProxyPlan {
    ProxyPlan {
        auth: Some(ProxyAuthPlan {
            schemes: vec![AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic],
            realm: "corp proxy".into(),
            users: vec![("alice".into(), "Tr0ub4dor&3".into())],
        }),
        ..ProxyPlan::new("corp")
    }
}

fn with_auth(host: &str, value: &str) -> Vec<u8> {
    format!(
        "CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\nProxy-Authorization: {value}\r\n\r\n"
    )
    .into_bytes()
}

fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[tokio::test]
async fn authentication_challenges_checks_and_never_records_the_password() {
    let lab = lab_with(auth_plan()).await;
    let proxy = proxy_addr(&lab, "corp");
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.write_all(&connect(ECHO, 443)).await.unwrap();
    let head = read_head(&mut stream).await;
    assert_eq!(status(&head), 407, "{head}");
    assert_eq!(
        header_values(&head, "Proxy-Authenticate"),
        ["Negotiate", "NTLM", "Basic realm=\"corp proxy\""]
    );
    assert_eq!(
        header_values(&head, "X-Squid-Error"),
        ["ERR_CACHE_ACCESS_DENIED 0"]
    );
    // Squid keeps the connection after a 407: skip the page, then authenticate on the same one.
    let length: usize = header_values(&head, "Content-Length")[0].parse().unwrap();
    let mut page = vec![0u8; length];
    stream.read_exact(&mut page).await.unwrap();
    stream
        .write_all(&with_auth(ECHO, &basic("alice:Tr0ub4dor&3")))
        .await
        .unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
    drop(stream);

    let wrong = exchange(proxy, &with_auth(ECHO, &basic("alice:hunter2"))).await;
    assert_eq!(status(&wrong), 407);
    let ntlm = exchange(
        proxy,
        &with_auth(
            ECHO,
            "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==",
        ),
    )
    .await;
    assert_eq!(status(&ntlm), 407);

    let timeline = lab.timeline().clone();
    lab.shutdown().await;
    let json = timeline.to_json_lines();
    assert!(!json.contains("Tr0ub4dor"), "password in timeline");
    assert!(!json.contains("hunter2"), "password in timeline");
    assert!(
        !json.contains(&basic("alice:Tr0ub4dor&3")[6..]),
        "credentials in timeline"
    );
    assert!(json.contains("\"user\":\"alice\""), "user name recorded");
    assert!(json.contains("NTLM challenge (type 2) issued"), "{json}");
}

#[tokio::test]
async fn faults_status_close_garbage_and_slow() {
    let cases = [
        ProxyFault::Status(503),
        ProxyFault::CloseAfterConnect,
        ProxyFault::Garbage,
        ProxyFault::SlowAnswer(Duration::from_millis(300)),
    ];
    for fault in cases {
        let lab = lab_with(ProxyPlan {
            fault: Some(fault.clone()),
            ..ProxyPlan::new("corp")
        })
        .await;
        let mut stream = TcpStream::connect(proxy_addr(&lab, "corp")).await.unwrap();
        let started = std::time::Instant::now();
        stream.write_all(&connect(ECHO, 443)).await.unwrap();
        let mut answer = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            while !answer.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&answer);
        match fault {
            ProxyFault::Status(_) => assert!(text.starts_with("HTTP/1.1 503 "), "{text}"),
            ProxyFault::CloseAfterConnect => assert!(answer.is_empty(), "{text}"),
            // Not in the list above: it acts only after an NTLM challenge (tests/real_proxy_auth.rs).
            ProxyFault::CloseAfterChallenge => {}
            ProxyFault::Garbage => {
                assert!(!answer.is_empty() && !text.starts_with("HTTP/"), "{text}")
            }
            ProxyFault::SlowAnswer(delay) => {
                assert!(
                    text.starts_with("HTTP/1.1 200 Connection established"),
                    "{text}"
                );
                assert!(started.elapsed() >= delay);
            }
        }
        lab.shutdown().await;
    }
}

#[tokio::test]
async fn chained_proxy_tunnels_through_its_parent_and_relays_a_parent_refusal() {
    let child = ProxyPlan {
        upstream: Some("parent".into()),
        ..ProxyPlan::new("child")
    };
    let parent = ProxyPlan {
        rules: vec![
            ProxyRule {
                hosts: "denied.egresslab.test".into(),
                ports: vec![],
                action: RuleAction::Deny,
            },
            ProxyRule {
                hosts: "*".into(),
                ports: vec![],
                action: RuleAction::Allow,
            },
        ],
        ..ProxyPlan::new("parent")
    };
    let lab = world()
        .endpoint(egresslab::lab::EndpointPlan::http(
            "denied",
            &["denied.egresslab.test"],
            443,
        ))
        .proxy(parent)
        .proxy(child)
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "child");
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.write_all(&connect(ECHO, 443)).await.unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
    stream.write_all(b"through two proxies").await.unwrap();
    let mut back = [0u8; 19];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"through two proxies");
    drop(stream);
    // Squid 5.7 relays its parent's refusal unchanged (checked against a real one).
    let refused = exchange(proxy, &connect("denied.egresslab.test", 443)).await;
    assert_eq!(status(&refused), 403, "{refused}");
    assert_eq!(header_values(&refused, "Via"), ["1.1 parent (squid/5.7)"]);
    let timeline = lab.timeline().clone();
    lab.shutdown().await;
    let parent_saw = timeline.events().into_iter().any(|e| {
        e.source == "proxy:parent" && matches!(&e.kind, EventKind::Answer { status: 403, .. })
    });
    assert!(parent_saw, "the parent denied the request itself");
}

#[tokio::test]
async fn absolute_uri_requests_are_forwarded_in_origin_form() {
    let lab = lab_with(ProxyPlan::new("corp")).await;
    let mut stream = TcpStream::connect(proxy_addr(&lab, "corp")).await.unwrap();
    stream
        .write_all(b"GET http://web.egresslab.test/hello HTTP/1.1\r\nHost: web.egresslab.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    // The client asked to close: the proxy says so and closes (the read above reached the end).
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    lab.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_squid_statuses_and_the_proxy_keeps_serving() {
    let lab = lab_with(ProxyPlan::new("corp")).await;
    let proxy = proxy_addr(&lab, "corp");
    let long = [
        b"CONNECT ".as_slice(),
        &[b'a'; 70_000],
        b":443 HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"CONNECT echo.egresslab.test:0 HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "ERR_INVALID_URL 0",
        ),
        (
            b"CONNECT ::1:443 HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "ERR_INVALID_URL 0",
        ),
        (
            b"CONNECT echo.egresslab.test:443\r\n\r\n".to_vec(),
            400,
            "ERR_PROTOCOL_UNKNOWN 0",
        ),
        (
            b"CONNECT echo.egresslab.test:443 HTTP/2.0\r\n\r\n".to_vec(),
            505,
            "ERR_UNSUP_HTTPVERSION 0",
        ),
        (
            b"CONNECT echo\0.egresslab.test:443 HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "ERR_INVALID_REQ 0",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "ERR_INVALID_URL 0",
        ),
        (long, 414, "ERR_TOO_BIG 0"),
        (
            b"connect echo.egresslab.test HTTP/1.0\r\n\r\n".to_vec(),
            200,
            "",
        ),
    ];
    for (raw, expected, error) in cases {
        let head = exchange(proxy, &raw).await;
        assert_eq!(status(&head), expected, "{head}");
        if !error.is_empty() {
            assert_eq!(header_values(&head, "X-Squid-Error"), [error], "{head}");
            assert_eq!(header_values(&head, "Connection"), ["close"], "{head}");
        }
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_tunnels_and_frees_the_port() {
    let lab = lab_with(ProxyPlan::new("corp")).await;
    let address = proxy_addr(&lab, "corp");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&connect(ECHO, 443)).await.unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
    let timeline = lab.timeline().clone();
    tokio::time::timeout(Duration::from_secs(5), lab.shutdown())
        .await
        .expect("shutdown is bounded");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    // The proxy resets connections cut off by shutdown, so no socket keeps the port.
    std::net::TcpListener::bind(address).expect("the proxy port is free again");
    let reasons: Vec<String> = timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Closed { reason, .. } if e.source == "proxy:corp" => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["shutdown"]);
}

#[tokio::test]
async fn a_parent_that_is_down_gives_503_connect_fail() {
    let child = ProxyPlan {
        upstream: Some("parent".into()),
        ..ProxyPlan::new("child")
    };
    let parent = ProxyPlan {
        down: true,
        ..ProxyPlan::new("parent")
    };
    let lab = world().proxy(parent).proxy(child).start().await.unwrap();
    let head = exchange(proxy_addr(&lab, "child"), &connect(ECHO, 443)).await;
    assert_eq!(status(&head), 503, "{head}");
    assert_eq!(
        header_values(&head, "X-Squid-Error"),
        ["ERR_CONNECT_FAIL 111"]
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_dropped_origin_times_out_with_504_for_squid_and_502_for_generic() {
    use egresslab::lab::{FirewallAction, FirewallRule, Vantage};
    for (personality, expected) in [(Personality::Squid, 504), (Personality::Generic, 502)] {
        let plan = ProxyPlan {
            personality,
            connect_timeout: Duration::from_millis(300),
            ..ProxyPlan::new("corp")
        };
        let lab = world()
            .rule(FirewallRule::new(
                Vantage::AnyProxy,
                ECHO,
                Some(443),
                FirewallAction::Drop,
            ))
            .proxy(plan)
            .start()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let head = exchange(proxy_addr(&lab, "corp"), &connect(ECHO, 443)).await;
        assert_eq!(status(&head), expected, "{head}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        if personality == Personality::Squid {
            assert_eq!(
                header_values(&head, "X-Squid-Error"),
                ["ERR_CONNECT_FAIL 110"]
            );
        }
        lab.shutdown().await;
    }
}
