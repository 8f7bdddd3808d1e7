//! Proxy authentication performed by real clients against the lab proxy: curl's NTLM, Digest and
//! "any" authentication, Python's requests-ntlm (NTLM on a forwarded request, the 407 path) and
//! pyspnego (Negotiate: SPNEGO carrying NTLM, driven over a raw socket). Each succeeds with the
//! right password and sees 407 with the wrong one.

mod common;

use common::proxy::*;
use egresslab::lab::{AuthScheme, Lab, ProxyAuthPlan, ProxyFault, ProxyPlan};

const USER: &str = "CORP\\alice";
const PASSWORD: &str = "Tr0ub4dor&3";

fn plan(schemes: Vec<AuthScheme>) -> ProxyPlan {
    ProxyPlan {
        auth: Some(ProxyAuthPlan {
            schemes,
            realm: "corp proxy".into(),
            users: vec![(USER.into(), PASSWORD.into())],
        }),
        ..ProxyPlan::new("corp")
    }
}

async fn lab(schemes: Vec<AuthScheme>) -> Lab {
    world()
        .proxy(plan(schemes))
        .start()
        .await
        .expect("lab starts")
}

/// curl through the lab's proxy with `auth` (`--proxy-ntlm`, ...) as `user:password`, fetching an
/// https URL (CONNECT) and an http URL (forwarded); returns curl's outcomes.
async fn curl_both(lab: &Lab, auth: &str, password: &str) -> [(i32, String, String); 2] {
    let proxy = lab.proxy("corp").unwrap().url();
    let bundle = lab.ca_bundle_path().to_str().unwrap().to_owned();
    let credentials = format!("{USER}:{password}");
    let common = ["-x", proxy.as_str(), auth, "-U", credentials.as_str()];
    let https = [
        &common[..],
        &["--cacert", &bundle, "https://secure.egresslab.test/"],
    ]
    .concat();
    let http = [
        &common[..],
        &["-w", " %{http_code}", "http://web.egresslab.test/"],
    ]
    .concat();
    [curl(&https).await, curl(&http).await]
}

/// The right password passes both ways; a wrong one gets 407 both ways.
async fn assert_curl_authenticates(schemes: Vec<AuthScheme>, auth: &str) {
    let lab = lab(schemes).await;
    let [https, http] = curl_both(&lab, auth, PASSWORD).await;
    assert_eq!(
        (https.0, https.1.as_str()),
        (0, "ok\n"),
        "{auth} https: {}",
        https.2
    );
    assert_eq!(
        (http.0, http.1.as_str()),
        (0, "ok\n 200"),
        "{auth} http: {}",
        http.2
    );
    let [https, http] = curl_both(&lab, auth, "wrong-password").await;
    assert!(
        https.2.contains("CONNECT tunnel failed, response 407"),
        "{auth} https, wrong password: exit {} {}",
        https.0,
        https.2
    );
    assert!(https.0 == 56 || https.0 == 7, "exit {}", https.0);
    assert!(
        http.1.ends_with(" 407"),
        "{auth} http, wrong password: {http:?}"
    );
    let timeline = lab.timeline().to_json_lines();
    assert!(
        !timeline.contains(PASSWORD),
        "the password reached the timeline"
    );
    assert!(
        timeline.contains("CORP\\\\alice"),
        "the user is not recorded"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn curl_proxy_ntlm_connect_and_forwarded() {
    assert_curl_authenticates(vec![AuthScheme::Ntlm], "--proxy-ntlm").await;
}

#[tokio::test]
async fn curl_proxy_digest_md5_and_sha256() {
    assert_curl_authenticates(vec![AuthScheme::Digest], "--proxy-digest").await;
    assert_curl_authenticates(vec![AuthScheme::DigestSha256], "--proxy-digest").await;
}

/// `--proxy-anyauth` picks the strongest scheme offered: NTLM over Basic here, Digest over NTLM
/// when both are offered. The timeline shows which one ran.
#[tokio::test]
async fn curl_proxy_anyauth_picks_ntlm_or_digest() {
    assert_curl_authenticates(vec![AuthScheme::Basic, AuthScheme::Ntlm], "--proxy-anyauth").await;
    let lab = lab(vec![
        AuthScheme::Ntlm,
        AuthScheme::Digest,
        AuthScheme::Basic,
    ])
    .await;
    let [https, _] = curl_both(&lab, "--proxy-anyauth", PASSWORD).await;
    assert_eq!(https.0, 0, "{}", https.2);
    let timeline = lab.timeline().to_json_lines();
    assert!(
        !timeline.contains("NTLM challenge (type 2) issued"),
        "curl chose NTLM over Digest"
    );
    lab.shutdown().await;
}

/// requests with requests-ntlm's `HttpNtlmAuth` through an http:// proxy for an http:// URL: the
/// proxy answers 407 with the NTLM offer, requests-ntlm runs the handshake on the same connection.
const REQUESTS_NTLM: &str = r#"
import sys, requests
from requests_ntlm import HttpNtlmAuth
proxy, url, user, password = sys.argv[1:5]
r = requests.get(url, proxies={"http": proxy}, auth=HttpNtlmAuth(user, password), timeout=10)
print(r.status_code, r.text.strip())
"#;

/// pyspnego's Negotiate client (NTLM inside SPNEGO, no Kerberos here) over a raw socket: CONNECT,
/// 407 with the NegTokenResp, CONNECT with the answer on the same connection.
const PYSPNEGO: &str = r#"
import base64, socket, sys, spnego
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = spnego.client(user, password, hostname="proxy.corp", service="HTTP", protocol="negotiate")
sock = socket.create_connection((host, port), timeout=10)
def connect(token):
    value = base64.b64encode(token).decode()
    sock.sendall(("CONNECT secure.egresslab.test:443 HTTP/1.1\r\nHost: secure.egresslab.test:443\r\n"
                  "Proxy-Authorization: Negotiate %s\r\n\r\n" % value).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            break
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = 0
    challenge = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        if name.lower() == "proxy-authenticate" and value.strip().startswith("Negotiate "):
            challenge = base64.b64decode(value.strip()[len("Negotiate "):])
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), challenge
status, challenge = connect(ctx.step())
if status != 407 or challenge is None:
    print("first", status)
    sys.exit(0)
status, _ = connect(ctx.step(challenge))
print(status)
"#;

async fn python(script: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python failed (is pyspnego/requests-ntlm installed? ./test.sh installs them): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn python_requests_ntlm_through_an_http_proxy() {
    let lab = lab(vec![AuthScheme::Negotiate, AuthScheme::Ntlm]).await;
    let proxy = lab.proxy("corp").unwrap().url();
    let url = "http://web.egresslab.test/";
    assert_eq!(
        python(REQUESTS_NTLM, &[&proxy, url, USER, PASSWORD]).await,
        "200 ok"
    );
    let wrong = python(REQUESTS_NTLM, &[&proxy, url, USER, "wrong"]).await;
    assert!(wrong.starts_with("407"), "{wrong}");
    lab.shutdown().await;
}

#[tokio::test]
async fn pyspnego_negotiate_through_connect() {
    let lab = lab(vec![AuthScheme::Negotiate, AuthScheme::Basic]).await;
    let address = proxy_addr(&lab, "corp");
    let (host, port) = (address.ip().to_string(), address.port().to_string());
    assert_eq!(
        python(PYSPNEGO, &[&host, &port, USER, PASSWORD]).await,
        "200"
    );
    assert_eq!(
        python(PYSPNEGO, &[&host, &port, USER, "wrong"]).await,
        "407"
    );
    let timeline = lab.timeline().to_json_lines();
    assert!(
        timeline.contains("Negotiate challenge (type 2) issued"),
        "{timeline}"
    );
    lab.shutdown().await;
}

/// A middlebox that closes the connection after the challenge: curl's NTLM answer never reaches
/// the proxy, and curl fails with the right password.
#[tokio::test]
async fn curl_proxy_ntlm_fails_when_the_connection_closes_after_the_challenge() {
    let plan = ProxyPlan {
        fault: Some(ProxyFault::CloseAfterChallenge),
        ..plan(vec![AuthScheme::Ntlm])
    };
    let lab = world().proxy(plan).start().await.expect("lab starts");
    let [https, http] = curl_both(&lab, "--proxy-ntlm", PASSWORD).await;
    assert_ne!(https.0, 0, "{https:?}");
    assert!(!http.1.ends_with(" 200"), "{http:?}");
    let timeline = lab.timeline().to_json_lines();
    assert!(
        timeline.contains("closed right after the NTLM challenge"),
        "{timeline}"
    );
    lab.shutdown().await;
}

/// `egresslab check URL --proxy P --proxy-user 'CORP\alice:…' --proxy-ntlm` (and `--proxy-digest`):
/// the CLI's checks answer the challenge; the right password passes, a wrong one is
/// `proxy.auth_rejected`.
#[tokio::test]
async fn the_check_cli_speaks_ntlm_and_digest_to_the_proxy() {
    let lab = lab(vec![
        AuthScheme::Negotiate,
        AuthScheme::Ntlm,
        AuthScheme::Digest,
    ])
    .await;
    let proxy = lab.proxy("corp").unwrap().url();
    for flag in ["--proxy-ntlm", "--proxy-digest"] {
        check_cli(&lab, &proxy, flag).await;
    }
    lab.shutdown().await;
}

async fn check_cli(lab: &Lab, proxy: &str, flag: &'static str) {
    let check = |password: &'static str| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_egresslab"));
        command
            .args(["check", "https://secure.egresslab.test/", "--proxy", proxy])
            .arg("--ca")
            .arg(lab.ca_bundle_path())
            .args(["--proxy-user", &format!("{USER}:{password}"), flag]);
        async move {
            let out = command.output().await.expect("egresslab check runs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.code(), text)
        }
    };
    let (code, text) = check(PASSWORD).await;
    assert_eq!(code, Some(0), "{flag}: {text}");
    assert!(!text.contains(PASSWORD), "the password was printed");
    let (code, text) = check("wrong-password").await;
    assert_ne!(code, Some(0), "{flag}: {text}");
    assert!(text.contains("proxy.auth_rejected"), "{flag}: {text}");
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// After NTLM and Digest runs with the right and a wrong password, neither the trace logs, the
/// timeline nor the HAR hold a password, an NTLM message (type 2 or 3) or a Digest response.
#[tokio::test]
async fn ntlm_and_digest_secrets_stay_out_of_logs_timeline_and_har() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    // A current-thread test runtime: every proxy task runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let lab = lab(vec![AuthScheme::Ntlm, AuthScheme::Digest]).await;
    let har_file = tempfile::NamedTempFile::new().unwrap();
    lab.timeline().har_to(har_file.path()).unwrap();
    for password in [PASSWORD, "wrong-password"] {
        curl_both(&lab, "--proxy-ntlm", password).await;
        curl_both(&lab, "--proxy-digest", password).await;
    }
    let har = std::fs::read_to_string(har_file.path()).unwrap();
    let timeline = lab.timeline().to_json_lines();
    lab.shutdown().await;
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(har.contains("407"), "the HAR has the 407s");
    // "NTLMSSP\0\x02" and "\x03" in base64, and a Digest response's parameter.
    for leaked in [
        PASSWORD,
        "wrong-password",
        "TlRMTVNTUAAC",
        "TlRMTVNTUAAD",
        "response=\"",
    ] {
        assert!(!logs.contains(leaked), "{leaked} in the logs");
        assert!(!timeline.contains(leaked), "{leaked} in the timeline");
        assert!(!har.contains(leaked), "{leaked} in the HAR");
    }
    assert!(har.contains("NTLM [redacted]"), "the HAR keeps the scheme");
}

/// Read one answer on `stream`: status and `Proxy-Authenticate` values (the body is skipped).
async fn answer(stream: &mut tokio::net::TcpStream) -> (u16, Vec<String>) {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let header = |name: &str| -> Vec<String> {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    };
    let length: usize = header("Content-Length")
        .first()
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; if status == 200 { 0 } else { length }];
    stream.read_exact(&mut body).await.unwrap();
    (status, header("Proxy-Authenticate"))
}

/// A CONNECT carrying a Digest (MD5) response to `challenge`.
fn digest_connect(challenge: &str, nc: u32) -> String {
    use md5::Digest;
    let param = |key: &str| {
        let start = challenge.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
        challenge[start..start + challenge[start..].find('"').unwrap()].to_owned()
    };
    let (realm, nonce, uri) = (param("realm"), param("nonce"), "secure.egresslab.test:443");
    let h = |text: String| hex::encode(md5::Md5::digest(text.as_bytes()));
    let ha1 = h(format!("{USER}:{realm}:{PASSWORD}"));
    let ha2 = h(format!("CONNECT:{uri}"));
    let nc = format!("{nc:08x}");
    let response = h(format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
    let user = USER.replace('\\', "\\\\");
    format!(
        "CONNECT {uri} HTTP/1.1\r\nHost: {uri}\r\nProxy-Authorization: Digest username=\"{user}\", \
         realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", qop=auth, \
         nc={nc}, cnonce=\"c0ffee\"\r\n\r\n"
    )
}

/// `auth.nonce_lifetime_ms` reaches the proxy: a right response on a nonce older than the lifetime
/// gets 407 with `stale=true` and only the Digest offer (as Squid answers), the new nonce passes.
#[tokio::test]
async fn an_expired_digest_nonce_is_answered_stale_and_the_new_one_passes() {
    use tokio::io::AsyncWriteExt;
    let plan = ProxyPlan {
        digest_nonce_lifetime: std::time::Duration::from_secs(1),
        ..plan(vec![AuthScheme::Digest, AuthScheme::Basic])
    };
    let lab = world().proxy(plan).start().await.expect("lab starts");
    let mut stream = tokio::net::TcpStream::connect(proxy_addr(&lab, "corp"))
        .await
        .unwrap();
    let bare =
        "CONNECT secure.egresslab.test:443 HTTP/1.1\r\nHost: secure.egresslab.test:443\r\n\r\n";
    stream.write_all(bare.as_bytes()).await.unwrap();
    let (status, offers) = answer(&mut stream).await;
    assert_eq!((status, offers.len()), (407, 2), "{offers:?}");
    // Let the nonce grow older than its one second (a wait, not a timing assertion).
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    stream
        .write_all(digest_connect(&offers[0], 1).as_bytes())
        .await
        .unwrap();
    let (status, stale) = answer(&mut stream).await;
    assert_eq!(status, 407);
    assert_eq!(stale.len(), 1, "only the Digest offer: {stale:?}");
    assert!(
        stale[0].starts_with("Digest ") && stale[0].ends_with("stale=true"),
        "{stale:?}"
    );
    stream
        .write_all(digest_connect(&stale[0], 1).as_bytes())
        .await
        .unwrap();
    assert_eq!(answer(&mut stream).await.0, 200);
    let timeline = lab.timeline().to_json_lines();
    assert!(timeline.contains("Digest nonce expired: challenged again with stale=true"));
    lab.shutdown().await;
}
