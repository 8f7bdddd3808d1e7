//! The `socks5` proxy kind against real clients: curl's `--socks5`, `--socks5-hostname`, `-x
//! socks5h://` with and without `-U`/`--proxy-user`, and Python `requests` with PySocks, through
//! the catalog's SOCKS5 scenarios; their exact exit codes where the scenario fails; the reply codes
//! in the timeline; a raw socket for the commands no client here sends (BIND, UDP ASSOCIATE); and
//! `egresslab run` judging the checks' own diagnosis and curl under `--exec` for each scenario.

mod common;

use std::process::Command;
use std::time::Duration;

use common::proxy::curl;
use egresslab::scenario::Live;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "Summer2026!";

/// The SOCKS5 scenarios of the catalog.
const SCENARIOS: [&str; 9] = [
    "socks5-healthy",
    "socks5-client-resolves-healthy",
    "socks5-auth",
    "socks5-auth-required",
    "socks5-wrong-password",
    "socks5-denied-by-rule",
    "socks5-origin-refused",
    "socks5-local-dns-fails",
    "socks5h-proxy-resolves",
];

/// A running catalog scenario with what curl needs: the proxy's `host:port` and the CA bundle.
/// `curl --socks5` to `url` with client-side resolution (see [`Socks::socks5_args`]).
async fn curl_resolving_locally(lab: &Socks, url: &str) -> (i32, String, String) {
    let args = lab.socks5_args(url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&args).await
}

struct Socks {
    live: Live,
    proxy: String,
    bundle: String,
}

async fn start(id: &str) -> Socks {
    let live = Live::from_catalog(id).await.expect("the scenario starts");
    let proxy = live.lab().expect_proxy("corp").address().to_string();
    let bundle = live.client().trust_bundle.display().to_string();
    Socks {
        live,
        proxy,
        bundle,
    }
}

impl Socks {
    /// `--connect-to` for `host:443` to where its endpoint really listens (the client-side
    /// resolution curl's `--socks5` then sends as an address).
    fn connect_to(&self, endpoint: &str, host: &str) -> String {
        let address = self
            .live
            .lab()
            .endpoint(endpoint)
            .expect("endpoint")
            .address();
        format!("{host}:443:{}:{}", address.ip(), address.port())
    }

    /// The arguments of `curl --socks5` to `url` on site.egresslab.test, resolved by curl itself
    /// (through `--connect-to`) so the proxy is sent an address.
    fn socks5_args(&self, url: &str) -> Vec<String> {
        let mapped = self.connect_to("site", "site.egresslab.test");
        [
            "--socks5",
            &self.proxy,
            "--connect-to",
            &mapped,
            "--cacert",
            &self.bundle,
            url,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// The `socks` events of the timeline so far.
    fn socks_events(&self) -> Vec<Value> {
        self.live
            .lab()
            .timeline()
            .to_json_lines()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("json"))
            .filter(|event| event["event"] == "socks")
            .collect()
    }

    /// Wait until the timeline has `count` `socks` events (the proxy records one as the exchange
    /// ends, which may be just after curl exits).
    async fn wait_socks(&self, count: usize) -> Vec<Value> {
        for _ in 0..100 {
            let events = self.socks_events();
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {count} socks events: {:?}", self.socks_events());
    }
}

/// (address type, reply code) of each `socks` event.
fn replies(events: &[Value]) -> Vec<(&str, u64)> {
    events
        .iter()
        .map(|e| {
            (
                e["address_type"].as_str().unwrap_or_default(),
                e["reply"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

#[tokio::test]
async fn curl_socks5_and_socks5_hostname_pass_the_healthy_proxy() {
    let lab = start("socks5-healthy").await;
    let url = "https://site.egresslab.test/";
    let remote = [
        "--socks5-hostname",
        &lab.proxy,
        "--cacert",
        &lab.bundle,
        url,
    ];
    let (code, _, err) = curl(&remote).await;
    assert_eq!(code, 0, "{err}");
    let socks5h = format!("socks5h://{}", lab.proxy);
    let (code, body, err) = curl(&["-x", &socks5h, "--cacert", &lab.bundle, url]).await;
    assert_eq!((code, body.as_str()), (0, "ok\n"), "{err}");
    // The rules name hosts: an address the client resolved itself matches none of them (0x02).
    let (code, _, err) = curl_resolving_locally(&lab, url).await;
    assert_eq!(code, 97, "{err}");
    assert!(err.contains("(2)"), "{err}");
    let events = lab.wait_socks(3).await;
    assert_eq!(
        replies(&events),
        vec![("domain name", 0), ("domain name", 0), ("IPv4", 2)],
        "{events:?}"
    );
    // curl built with GSS-API offers it beside no-auth; the proxy picks no-auth.
    assert_eq!(events[0]["methods"][0], "no-auth", "{events:?}");
    assert_eq!(events[0]["chosen"], "no-auth");
    lab.live.shutdown().await;

    // Without rules, the address curl --socks5 resolved (through --connect-to) is relayed.
    let lab = start("socks5-client-resolves-healthy").await;
    let (code, body, err) = curl_resolving_locally(&lab, url).await;
    assert_eq!((code, body.as_str()), (0, "ok\n"), "{err}");
    // An IPv6 address the lab never declared: parsed as such and refused by ruleset (0x02).
    let port = lab.live.lab().expect_endpoint("site").address().port();
    let v6 = format!("site.egresslab.test:443:[::1]:{port}");
    let (code, _, err) = curl(&["--socks5", &lab.proxy, "--connect-to", &v6, url]).await;
    assert_eq!(code, 97, "{err}");
    let events = lab.wait_socks(2).await;
    assert_eq!(
        replies(&events),
        vec![("IPv4", 0), ("IPv6", 2)],
        "{events:?}"
    );
    lab.live.shutdown().await;
}

#[tokio::test]
async fn curl_with_the_right_password_passes_and_without_or_with_a_wrong_one_gets_97() {
    let lab = start("socks5-auth").await;
    let url = "https://site.egresslab.test/";
    let right = format!("alice:{PASSWORD}");
    let base = ["--socks5-hostname", &lab.proxy, "--cacert", &lab.bundle];
    let (code, body, err) = curl(&[&base[..], &["-U", &right, url]].concat()).await;
    assert_eq!((code, body.as_str()), (0, "ok\n"), "{err}");
    let in_url = format!("socks5h://alice:{}@{}", "Summer2026%21", lab.proxy);
    let (code, _, err) = curl(&["-x", &in_url, "--cacert", &lab.bundle, url]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        curl(&[&base[..], &["--proxy-user", "alice:Winter2025!", url]].concat()).await;
    assert_eq!(code, 97, "{err}");
    assert!(
        err.contains("User was rejected by the SOCKS5 server"),
        "{err}"
    );
    let (code, _, err) = curl(&[&base[..], &[url]].concat()).await;
    assert_eq!(code, 97, "{err}");
    assert!(
        err.contains("No authentication method was acceptable"),
        "{err}"
    );
    let events = lab.wait_socks(4).await;
    let seen: Vec<(Option<bool>, &str)> = events
        .iter()
        .map(|e| {
            (
                e["authenticated"].as_bool(),
                e["chosen"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (Some(true), "username/password"),
            (Some(true), "username/password"),
            (Some(false), "username/password"),
            (None, "no acceptable methods"),
        ]
    );
    let timeline = lab.live.lab().timeline().to_json_lines();
    assert!(!timeline.contains(PASSWORD) && !timeline.contains("Winter2025!"));
    assert!(
        timeline.contains("\"user\":\"alice\""),
        "the user is not recorded"
    );
    lab.live.shutdown().await;
}

#[tokio::test]
async fn a_rule_denial_is_0x02_and_a_refused_origin_0x05_curl_exit_97() {
    for (id, host, reply) in [
        ("socks5-denied-by-rule", "share.egresslab.test", 2),
        ("socks5-origin-refused", "site.egresslab.test", 5),
    ] {
        let lab = start(id).await;
        let url = format!("https://{host}/");
        let (code, _, err) = curl(&["--socks5-hostname", &lab.proxy, &url]).await;
        assert_eq!(code, 97, "{id}: {err}");
        assert!(err.contains(&format!("({reply})")), "{id}: {err}");
        let events = lab.wait_socks(1).await;
        assert_eq!(events[0]["reply"], reply, "{id}: {events:?}");
        lab.live.shutdown().await;
    }
}

#[tokio::test]
async fn a_name_only_the_proxy_resolves_fails_at_curls_own_dns_with_socks5_and_passes_with_socks5h()
{
    let lab = start("socks5-local-dns-fails").await;
    let url = "https://wiki.corp.egresslab.test/";
    // curl 7.88 negotiates the method with the proxy, then resolves the name itself and gives
    // up with CURLE_PROXY (97) — not the 6 of a direct connection — before any CONNECT.
    let (code, _, err) = curl(&["--socks5", &lab.proxy, "--cacert", &lab.bundle, url]).await;
    assert_eq!(code, 97, "{err}");
    assert!(
        err.contains("Could not resolve host: wiki.corp.egresslab.test"),
        "{err}"
    );
    let first = lab.wait_socks(1).await;
    assert!(
        first[0]["target"].is_null(),
        "a CONNECT reached the proxy: {first:?}"
    );
    let (code, body, err) = curl(&[
        "--socks5-hostname",
        &lab.proxy,
        "--cacert",
        &lab.bundle,
        url,
    ])
    .await;
    assert_eq!((code, body.as_str()), (0, "ok\n"), "{err}");
    let events = lab.wait_socks(2).await;
    assert_eq!(events[1]["target"], "wiki.corp.egresslab.test:443");
    assert_eq!(events[1]["address_type"], "domain name");
    assert_eq!(events[1]["reply"], 0);
    lab.live.shutdown().await;
}

/// Python `requests` through PySocks: `socks5h://` with the right password fetches the page, a
/// wrong password and a missing one raise, and `socks5://` fails at the client's own resolver
/// for the name only the proxy knows.
#[tokio::test]
async fn python_requests_with_pysocks() {
    const SCRIPT: &str = r#"
import sys, requests
proxy, bundle, url = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    r = requests.get(url, proxies={"https": proxy}, verify=bundle, timeout=10)
    print(r.status_code, r.text.strip())
except requests.exceptions.ConnectionError as e:
    print("error", type(e.__context__ or e).__name__, e)
"#;
    let python = |proxy: String, bundle: String, url: &'static str| async move {
        let output = tokio::process::Command::new("python3")
            .args(["-c", SCRIPT, &proxy, &bundle, url])
            .output()
            .await
            .expect("python3 runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let lab = start("socks5-auth").await;
    let url = "https://site.egresslab.test/";
    let with = |password: &str| format!("socks5h://alice:{password}@{}", lab.proxy);
    let got = python(with("Summer2026%21"), lab.bundle.clone(), url).await;
    assert_eq!(got, "200 ok");
    let got = python(with("Winter2025"), lab.bundle.clone(), url).await;
    assert!(
        got.starts_with("error") && got.contains("authentication failed"),
        "{got}"
    );
    let got = python(format!("socks5h://{}", lab.proxy), lab.bundle.clone(), url).await;
    assert!(
        got.starts_with("error") && got.contains("authentication"),
        "{got}"
    );
    lab.live.shutdown().await;

    let lab = start("socks5-local-dns-fails").await;
    let url = "https://wiki.corp.egresslab.test/";
    let got = python(format!("socks5://{}", lab.proxy), lab.bundle.clone(), url).await;
    assert!(got.starts_with("error"), "{got}");
    assert!(
        lab.socks_events().iter().all(|e| e["target"].is_null()),
        "PySocks sent a CONNECT anyway"
    );
    let got = python(format!("socks5h://{}", lab.proxy), lab.bundle.clone(), url).await;
    assert_eq!(got, "200 ok");
    lab.live.shutdown().await;
}

/// What no client here sends: BIND and UDP ASSOCIATE get 0x07; an unknown address type and a
/// SOCKS4 greeting a close without an answer.
#[tokio::test]
async fn bind_and_udp_associate_are_0x07_and_an_unknown_address_type_is_closed() {
    let lab = start("socks5-healthy").await;
    let ask = |request: &'static [u8]| {
        let proxy = lab.proxy.clone();
        async move {
            let mut stream = TcpStream::connect(proxy).await.expect("connects");
            stream.write_all(&[5, 1, 0]).await.expect("greeting");
            let mut choice = [0u8; 2];
            stream.read_exact(&mut choice).await.expect("choice");
            assert_eq!(choice, [5, 0]);
            stream.write_all(request).await.expect("request");
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await.expect("reply");
            reply
        }
    };
    let bind = ask(&[5, 2, 0, 1, 127, 0, 0, 1, 1, 187]).await;
    assert_eq!(&bind[..2], &[5, 7], "{bind:?}");
    let udp = ask(&[5, 3, 0, 1, 0, 0, 0, 0, 0, 0]).await;
    assert_eq!(&udp[..2], &[5, 7], "{udp:?}");
    // RFC 1928 says 0x08; Dante 1.4.2 closes without a reply, and so does the lab.
    let atyp = ask(&[5, 1, 0, 9, 0, 0]).await;
    assert!(atyp.is_empty(), "{atyp:?}");
    let mut v4 = TcpStream::connect(&lab.proxy).await.expect("connects");
    v4.write_all(&[4, 1, 1, 187, 127, 0, 0, 1, 0])
        .await
        .expect("socks4");
    let mut answer = Vec::new();
    v4.read_to_end(&mut answer).await.expect("closed");
    assert!(answer.is_empty(), "{answer:?}");
    lab.live.shutdown().await;
}

#[test]
fn egresslab_run_judges_the_checks_and_curl_for_every_socks_scenario() {
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
            .arg("run")
            .args(SCENARIOS)
            .args(extra)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        stdout
    };
    let passed = format!("{0}/{0} passed", SCENARIOS.len());
    let checks = run(&[]);
    assert!(checks.contains(&passed), "{checks}");
    // curl reads the lab's .curlrc (CURL_HOME): the proxy, socks5h or socks5, the credentials.
    let judged = run(&[
        "--exec",
        "curl -sS -o /dev/null --max-time 10 $EGRESSLAB_URL",
    ]);
    assert!(judged.contains(&passed), "{judged}");
    assert!(!judged.contains("not judged"), "{judged}");
}

/// The lines a user is given for a client of a socks5 proxy: the proxy variables, the lab's
/// `.curlrc` and `up`'s curl line say socks5h (or socks5 with the name mapping), carry the RFC 1929
/// credentials only in the owner-only file, and no openssl line is offered.
#[tokio::test]
async fn the_printed_client_lines_say_socks5h_or_socks5() {
    use egresslab::scenario::prepare::{curl_command, openssl_command};
    let lab = start("socks5-auth").await;
    let env = lab.live.env().expect("env");
    let get = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("HTTPS_PROXY"), format!("socks5h://{}", lab.proxy));
    let curlrc = std::fs::read_to_string(lab.live.lab().dir().join(".curlrc")).expect("curlrc");
    assert!(
        curlrc.contains(&format!("proxy = \"socks5h://{}\"", lab.proxy)),
        "{curlrc}"
    );
    assert!(
        curlrc.contains(&format!("proxy-user = \"alice:{PASSWORD}\"")),
        "{curlrc}"
    );
    assert!(
        !curlrc.contains("proxytunnel") && !curlrc.contains("connect-to"),
        "{curlrc}"
    );
    let url = "https://site.egresslab.test/";
    let line = curl_command(lab.live.client(), url);
    assert!(
        line.contains(&format!("--socks5-hostname {} ", lab.proxy)),
        "{line}"
    );
    assert!(
        line.contains("--proxy-user 'alice'") && !line.contains(PASSWORD),
        "{line}"
    );
    assert_eq!(openssl_command(lab.live.client(), url), None);
    // The printed line works once curl has the password (here from the lab's .curlrc).
    let home = lab.live.lab().dir().display().to_string();
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(line.replace("--proxy-user 'alice'", ""))
        .env("CURL_HOME", &home)
        .output()
        .await
        .expect("sh runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    lab.live.shutdown().await;

    let lab = start("socks5-client-resolves-healthy").await;
    let line = curl_command(lab.live.client(), url);
    let mapped = lab.connect_to("site", "site.egresslab.test");
    assert!(line.contains(&format!("--socks5 {} ", lab.proxy)), "{line}");
    assert!(line.contains(&format!("--connect-to {mapped}")), "{line}");
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .output()
        .await
        .expect("sh runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n", "{line}");
    lab.live.shutdown().await;
}

/// A lab with one HTTPS site and a socks5 proxy `corp` with `proxy` keys, `rest` after it.
fn inline(proxy: &str, rest: &str) -> String {
    format!(
        r#"
[scenario]
name = "socks5-inline"
summary = "A socks5 proxy under test."
seed = "issue 16"
tags = ["socks"]

[[endpoint]]
name = "site"
hosts = ["site.egresslab.test"]
port = 443
tls = {{ profile = "valid" }}

[[proxy]]
name = "corp"
kind = "socks5"
{proxy}

{rest}

[client]
proxy = "corp"
io_timeout_ms = 1000
probes = [{{ url = "https://site.egresslab.test/" }}]

[expect]
healthy = true
"#
    )
}

/// The HTTP proxy's faults, `down`, the firewall and the connect time-out act on a socks5 proxy,
/// and the checks name each; a parent HTTP proxy carries its legs.
#[tokio::test]
async fn faults_down_firewall_and_a_parent_act_on_a_socks5_proxy() {
    let drop =
        "[[firewall]]\nfrom = \"proxy:corp\"\nhosts = \"site.egresslab.test\"\naction = \"drop\"";
    let cases = [
        ("fault = \"garbage\"", "", "proxy.garbage"),
        ("fault = \"close-after-connect\"", "", "proxy.closed"),
        ("fault = { slow_ms = 3000 }", "", "proxy.slow"),
        ("fault = { status = 502 }", "", "proxy.bad_gateway"),
        ("down = true", "", "proxy.unreachable"),
        ("connect_timeout_ms = 300", drop, "proxy.gateway_timeout"),
    ];
    for (keys, rest, code) in cases {
        let live = Live::from_toml(&inline(keys, rest)).await.expect("starts");
        let report = live.check().await;
        let codes: Vec<&str> = report.codes().iter().map(|c| c.as_str()).collect();
        assert!(codes.contains(&code), "{keys}: {codes:?}");
        live.shutdown().await;
    }
    let parent = "[[proxy]]\nname = \"parent\"";
    let live = Live::from_toml(&inline("upstream = \"parent\"", parent))
        .await
        .expect("starts");
    let report = live.check().await;
    assert!(!report.has_errors(), "{:?}", report.codes());
    let proxy = live.lab().expect_proxy("corp").address().to_string();
    let bundle = live.client().trust_bundle.display().to_string();
    let (code, body, err) = curl(&[
        "--socks5-hostname",
        &proxy,
        "--cacert",
        &bundle,
        "https://site.egresslab.test/",
    ])
    .await;
    assert_eq!((code, body.as_str()), (0, "ok\n"), "{err}");
    let timeline = live.lab().timeline().to_json_lines();
    assert!(
        timeline.contains("\"source\":\"proxy:parent\"")
            && timeline.contains("\"method\":\"CONNECT\""),
        "the parent saw no CONNECT"
    );
    live.shutdown().await;
}

/// Keys a socks5 proxy does not perform are refused with the file, line and key named.
#[test]
fn http_only_keys_on_a_socks5_proxy_are_errors_naming_the_place() {
    for (keys, named) in [
        ("tls_profile = \"valid\"", "tls_profile"),
        ("intercept = true", "intercept"),
        (
            "auth = { schemes = [\"basic\"], users = { a = \"b\" } }",
            "auth.schemes",
        ),
        ("fault = \"close-after-challenge\"", "close-after-challenge"),
    ] {
        let text = inline(keys, "");
        let error = egresslab::scenario::load::load_str("inline.toml", &text)
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("inline.toml:") && error.contains(named),
            "{keys}: {error}"
        );
    }
    let text = inline("", "")
        .replace(
            "proxy = \"corp\"",
            "proxy = \"corp\"\nsocks_resolve = \"client\"",
        )
        .replace("kind = \"socks5\"", "");
    let error = egresslab::scenario::load::load_str("inline.toml", &text)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("socks_resolve"), "{error}");
}

/// A real Dante (`danted`) on loopback with no authentication and `rules` after `client pass`;
/// killed when dropped.
struct Dante {
    child: std::process::Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Drop for Dante {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dante(rules: &str) -> Dante {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let conf = format!(
        "logoutput: {log}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
         clientmethod: none\nsocksmethod: none\n\
         client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n{rules}\n",
        log = dir.path().join("log").display()
    );
    let path = dir.path().join("danted.conf");
    std::fs::write(&path, conf).expect("config");
    let child = Command::new("danted")
        .arg("-f")
        .arg(&path)
        .arg("-p")
        .arg(dir.path().join("pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("danted runs (test.sh installs dante-server)");
    let address = format!("127.0.0.1:{port}");
    let dante = Dante {
        child,
        address,
        dir,
    };
    // Bounded: 100 tries, 50 ms apart.
    for _ in 0..100 {
        if std::net::TcpStream::connect(&dante.address).is_ok() {
            return dante;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dante.dir.path().join("log")).unwrap_or_default();
    panic!("danted did not listen on {}: {log}", dante.address);
}

/// Send `greeting` (and `request` once the method is chosen) to the SOCKS5 server at `server`;
/// what came back: the method choice and the reply as hex, or where the server closed.
async fn answer(server: &str, greeting: &[u8], request: &[u8]) -> String {
    use egresslab::socks::{decode_choice, decode_reply, read_message};
    let mut stream = TcpStream::connect(server).await.expect("connects");
    let mut buf = Vec::new();
    let limit = Duration::from_secs(3);
    stream.write_all(greeting).await.expect("greeting");
    let choice =
        tokio::time::timeout(limit, read_message(&mut stream, &mut buf, decode_choice)).await;
    let method = match choice {
        Ok(Ok(method)) => method,
        Ok(Err(error)) => return format!("greeting: {error}"),
        Err(_) => return "greeting: no answer".to_owned(),
    };
    if method != 0 {
        return format!("method {method:#04x}");
    }
    stream.write_all(request).await.expect("request");
    let reply =
        tokio::time::timeout(limit, read_message(&mut stream, &mut buf, decode_reply)).await;
    match reply {
        Ok(Ok((reply, bound))) => format!("reply {reply}, bound {bound}"),
        Ok(Err(error)) => format!("request: {error}"),
        Err(_) => "request: no answer".to_owned(),
    }
}

/// A CONNECT request for `address`.
fn connect(address: egresslab::socks::Address) -> Vec<u8> {
    let request = egresslab::socks::Request {
        command: egresslab::socks::Command::Connect,
        address,
    };
    egresslab::socks::request(&request).expect("encodes")
}

/// The same byte sequences to a real Dante 1.4.2 and to the lab's socks5 proxy give the same
/// answers: an unresolvable name (0x04, the name echoed), a denial by rule (0x02, the destination
/// echoed), a refused origin (0x05), a relayed CONNECT (0x00), no acceptable method (X'FF'), an
/// unknown address type and an HTTP request (closed without a reply).
#[tokio::test]
async fn the_lab_answers_as_a_real_dante_does() {
    use egresslab::socks::Address;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let dante = dante("socks block { from: 0.0.0.0/0 to: 127.0.0.2/32 }\nsocks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect }");
    let open = start("socks5-client-resolves-healthy").await;
    let site = open.live.lab().expect_endpoint("site").address();
    let denied = start("socks5-denied-by-rule").await;
    let refused = start("socks5-origin-refused").await;
    let name = || Address::Domain("nonexistent.invalid".into(), 443);
    let same = [
        (
            "an unresolvable name",
            &dante.address,
            &open.proxy,
            connect(name()),
            connect(name()),
        ),
        (
            "an unknown address type",
            &dante.address,
            &open.proxy,
            vec![5, 1, 0, 9, 0, 0],
            vec![5, 1, 0, 9, 0, 0],
        ),
    ];
    let expected = [
        "reply 0x04 host unreachable, bound nonexistent.invalid:443",
        "request: closed after 0 bytes of a SOCKS message",
    ];
    for ((what, real, lab, to_real, to_lab), expected) in same.into_iter().zip(expected) {
        let (real, lab) = (
            answer(real, &[5, 1, 0], &to_real).await,
            answer(lab, &[5, 1, 0], &to_lab).await,
        );
        assert_eq!(
            (lab.as_str(), real.as_str()),
            (expected, expected),
            "{what}"
        );
    }
    // Each server's own way to the same outcome; the reply code and the echoed destination agree.
    let blocked = Address::Ip("127.0.0.2:443".parse().expect("address"));
    let real = answer(&dante.address, &[5, 1, 0], &connect(blocked.clone())).await;
    assert_eq!(
        real,
        format!("reply 0x02 connection not allowed by ruleset, bound {blocked}")
    );
    let share = Address::Domain("share.egresslab.test".into(), 443);
    let lab = answer(&denied.proxy, &[5, 1, 0], &connect(share.clone())).await;
    assert_eq!(
        lab,
        format!("reply 0x02 connection not allowed by ruleset, bound {share}")
    );
    let real = answer(&dante.address, &[5, 1, 0], &connect(Address::Ip(closed))).await;
    let site_name = Address::Domain("site.egresslab.test".into(), 443);
    let lab = answer(&refused.proxy, &[5, 1, 0], &connect(site_name)).await;
    for got in [&real, &lab] {
        assert!(got.starts_with("reply 0x05 connection refused"), "{got}");
    }
    let real = answer(&dante.address, &[5, 1, 0], &connect(Address::Ip(site))).await;
    let lab = answer(&open.proxy, &[5, 1, 0], &connect(Address::Ip(site))).await;
    for got in [&real, &lab] {
        assert!(got.starts_with("reply 0x00 succeeded"), "{got}");
    }
    let real = answer(&dante.address, &[5, 1, 2], &[]).await;
    let lab = answer(&open.proxy, &[5, 1, 2], &[]).await;
    assert_eq!(
        (real.as_str(), lab.as_str()),
        ("method 0xff", "method 0xff")
    );
    let real = answer(&dante.address, b"GET / HTTP/1.1\r\n\r\n", &[]).await;
    let lab = answer(&open.proxy, b"GET / HTTP/1.1\r\n\r\n", &[]).await;
    let closed_at_once = "greeting: closed after 0 bytes of a SOCKS message";
    assert_eq!(
        (lab.as_str(), real.as_str()),
        (closed_at_once, closed_at_once),
        "an HTTP request"
    );
    for lab in [open, denied, refused] {
        lab.live.shutdown().await;
    }
}

/// `egresslab check --proxy socks5h://...` (the checks outside any scenario) against the lab's
/// SOCKS5 proxy: the right password tunnels, a wrong one is `proxy.socks.auth_failed`.
#[tokio::test]
async fn egresslab_check_speaks_socks5_to_a_proxy_given_on_the_command_line() {
    let lab = start("socks5-auth").await;
    let proxy = format!("socks5h://{}", lab.proxy);
    // The lab serves on this test's runtime: the command is awaited, never blocked on.
    let check = |credentials: String| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_egresslab"));
        command
            .args(["check", "--proxy", &proxy, "--proxy-user", &credentials])
            .args(["--ca", &lab.bundle, "--format", "json"])
            .arg("https://site.egresslab.test/");
        async move {
            let out = command.output().await.expect("runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (code, json) = check(format!("alice:{PASSWORD}")).await;
    assert_eq!(code, Some(0), "{json}");
    assert!(json.contains("\"proxy.socks.ok\""), "{json}");
    let (code, json) = check("alice:Winter2025!".to_owned()).await;
    assert_ne!(code, Some(0), "{json}");
    assert!(json.contains("\"proxy.socks.auth_failed\""), "{json}");
    assert!(!json.contains("Winter2025!"), "the password was printed");
    lab.live.shutdown().await;
}
