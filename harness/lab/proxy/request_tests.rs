use super::*;

/// What Squid 5.7 does with a head: open a tunnel to (host, port), or refuse it.
#[derive(Debug, PartialEq)]
enum Expect {
    Tunnel(&'static str, u16),
    Refuse(Malformed),
}
use Expect::{Refuse, Tunnel};

fn outcome(raw: &[u8]) -> Expect {
    match parse(raw) {
        Ok(Some((request, _))) => {
            let host: &'static str = Box::leak(request.target.host().to_owned().into_boxed_str());
            Tunnel(host, request.target.port())
        }
        Ok(None) => panic!("incomplete head: {:?}", String::from_utf8_lossy(raw)),
        Err(malformed) => Refuse(malformed),
    }
}

/// Malformed CONNECT requests. Every row was sent to a real Squid 5.7 (Debian 12 package); "Tunnel"
/// rows are the ones Squid went on to connect (it answered 503 ERR_CONNECT_FAIL for the closed port),
/// "Refuse" rows carry the error page Squid answered with. Rows marked `lab:` differ on purpose.
#[test]
fn malformed_connect_requests_get_squid_answers() {
    let long_line = [
        b"CONNECT ".as_slice(),
        &[b'a'; 70_000],
        b".test:443 HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let big_header = [
        b"CONNECT h:443 HTTP/1.1\r\nX: ".as_slice(),
        &[b'a'; 70_000],
        b"\r\n\r\n",
    ]
    .concat();
    let table: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "plain",
            b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "missing port assumes 443",
            b"CONNECT localhost HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "empty port assumes 443",
            b"CONNECT localhost: HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "non-numeric port assumes 443",
            b"CONNECT localhost:abc HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "port followed by a path",
            b"CONNECT localhost:443/x HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "port 0",
            b"CONNECT localhost:0 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        (
            "port 70000",
            b"CONNECT localhost:70000 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        (
            "bracketed IPv6",
            b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("::1", 443),
        ),
        (
            "bracketed IPv6 without port",
            b"CONNECT [::1] HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("::1", 443),
        ),
        (
            "unbracketed IPv6",
            b"CONNECT ::1:443 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        // lab: Squid 5.7 answered 503 ERR_CONNECT_FAIL 113 (it connected somewhere odd); we refuse.
        (
            "unclosed IPv6 bracket",
            b"CONNECT [::1:443 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        // Squid reads the host up to the colon: "http", which does not resolve.
        (
            "absolute URI as CONNECT target",
            b"CONNECT http://localhost:443/ HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("http", 443),
        ),
        (
            "userinfo in authority",
            b"CONNECT user@localhost:443 HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("user@localhost", 443),
        ),
        (
            "duplicate Host ignored",
            b"CONNECT localhost:443 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "lower-case method is still CONNECT",
            b"connect localhost:443 HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "HTTP/1.0",
            b"CONNECT localhost:443 HTTP/1.0\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "HTTP/1.2",
            b"CONNECT localhost:443 HTTP/1.2\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "no version",
            b"CONNECT localhost:443\r\n\r\n".to_vec(),
            Refuse(Malformed::ProtocolUnknown),
        ),
        (
            "HTTP/2.0",
            b"CONNECT localhost:443 HTTP/2.0\r\n\r\n".to_vec(),
            Refuse(Malformed::UnsupportedVersion),
        ),
        (
            "not HTTP",
            b"CONNECT localhost:443 FOO/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::ProtocolUnknown),
        ),
        (
            "NUL in target",
            b"CONNECT local\0host:443 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidRequest),
        ),
        (
            "NUL in a header",
            b"CONNECT localhost:443 HTTP/1.1\r\nX: a\0b\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidRequest),
        ),
        (
            "bare LF line ends",
            b"CONNECT localhost:443 HTTP/1.1\nHost: x\n\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "leading empty lines",
            b"\r\n\r\nCONNECT localhost:443 HTTP/1.1\r\n\r\n".to_vec(),
            Tunnel("localhost", 443),
        ),
        (
            "unknown method with an authority",
            b"FOO localhost:443 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        (
            "origin-form GET",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        (
            "unknown scheme",
            b"GET foo://x/ HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        (
            "absolute URI without host",
            b"GET http:/// HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidUrl),
        ),
        // lab: Squid 5.7's relaxed parser went on to connect; a space inside the target is refused here.
        (
            "space inside the target",
            b"CONNECT local host:443 HTTP/1.1\r\n\r\n".to_vec(),
            Refuse(Malformed::InvalidRequest),
        ),
        (
            "oversized request line",
            long_line,
            Refuse(Malformed::UriTooLong),
        ),
        (
            "oversized header block",
            big_header,
            Refuse(Malformed::HeadersTooLarge),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, raw, expected) in table {
        let got = outcome(&raw);
        if got != expected {
            wrong.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn absolute_uri_forms() {
    let parsed = |raw: &[u8]| parse(raw).map(|r| r.map(|(req, _)| req.target));
    assert_eq!(
        parsed(b"GET http://a.test:8080/x?y HTTP/1.1\r\n\r\n"),
        Ok(Some(Target::Absolute {
            host: "a.test".into(),
            port: 8080,
            path: "/x?y".into()
        }))
    );
    assert_eq!(
        parsed(b"GET http://a.test HTTP/1.1\r\n\r\n"),
        Ok(Some(Target::Absolute {
            host: "a.test".into(),
            port: 80,
            path: "/".into()
        }))
    );
    assert_eq!(
        parsed(b"GET http://[::1]:81/ HTTP/1.1\r\n\r\n"),
        Ok(Some(Target::Absolute {
            host: "::1".into(),
            port: 81,
            path: "/".into()
        }))
    );
    assert_eq!(
        parsed(b"GET http://u:p@a.test/ HTTP/1.1\r\n\r\n"),
        Err(Malformed::InvalidUrl)
    );
    assert_eq!(
        parsed(b"GET http://a.test:0/ HTTP/1.1\r\n\r\n"),
        Err(Malformed::InvalidUrl)
    );
}

#[test]
fn incomplete_heads_ask_for_more_and_report_what_was_used() {
    assert_eq!(parse(b"CONNECT a:443 HTTP/1.1\r\nHost: a"), Ok(None));
    assert_eq!(parse(b""), Ok(None));
    let raw = b"CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic eA==\r\n\r\n\x16\x03\x01";
    let (request, used) = parse(raw).unwrap().unwrap();
    assert_eq!(used, raw.len() - 3);
    assert_eq!(request.header("proxy-authorization"), Some("Basic eA=="));
}

#[tokio::test]
async fn a_trickling_client_is_cut_off_by_the_header_timeout() {
    let (mut client, mut server) = tokio::io::duplex(64);
    tokio::io::AsyncWriteExt::write_all(&mut client, b"CONNECT a:4")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let outcome = read_head(
        &mut server,
        &mut buf,
        Duration::from_millis(200),
        HEAD_LIMIT,
    )
    .await;
    assert!(matches!(outcome, ReadOutcome::TimedOut), "{outcome:?}");
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn valid_authorities_round_trip(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}", port in 1u16..) {
        let raw = format!("CONNECT {host}:{port} HTTP/1.1\r\n\r\n");
        let (request, _) = parse(raw.as_bytes()).unwrap().unwrap();
        proptest::prop_assert_eq!(request.target, Target::Authority { host, port });
    }
}
