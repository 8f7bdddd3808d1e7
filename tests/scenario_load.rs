//! Malformed scenario files give the documented error, with file:line:column; random documents never panic.

use egresslab::scenario::{load_str, ScenarioError};
use proptest::prelude::*;

const CASES: &[(&str, &str)] = &[
    ("wrong-type.toml", "wrong-type.toml:9:8: invalid type: string \"443\", expected an integer from 0 to 65535"),
    ("unknown-key.toml", "unknown-key.toml:10:1: unknown field `colour`, expected one of `name`, `hosts`, `port`, `tls`, `http`, `behaviour`, `pac`, `families`"),
    ("missing-proxy.toml", "missing-proxy.toml:7:9: unknown client proxy `corp`, expected one of `direct`, `pac`, `wpad`"),
    ("missing-upstream.toml", "missing-upstream.toml:8:12: unknown proxy `parent`, expected nothing (none is defined)"),
    ("missing-vantage-proxy.toml", "missing-vantage-proxy.toml:7:8: unknown proxy `edge`, expected nothing (none is defined)"),
    ("missing-ca.toml", "missing-ca.toml:7:17: unknown CA role `corporate`, expected one of `lab`, `intermediate`, `inspection`, `untrusted`, `connector-registration`"),
    ("bad-toml.toml", "bad-toml.toml:6:11: invalid table header, expected `.`, `]]`"),
    ("duplicate-name.toml", "duplicate-name.toml:10:8: duplicate proxy name `corp`, expected unique names (first defined at line 7)"),
    ("port-too-big.toml", "port-too-big.toml:9:8: invalid value: integer `70000`, expected an integer from 0 to 65535"),
    ("port-zero.toml", "port-zero.toml:9:8: port 0, expected a port from 1 to 65535"),
    ("bad-code.toml", "bad-code.toml:7:14: diagnosis code `Proxy Auth`, expected a dotted lowercase code such as `proxy.auth_required`"),
    ("unknown-code.toml", "unknown-code.toml:7:37: unknown diagnosis code `proxy.teapot`, expected a code of the taxonomy (harness/check/diagnoses.toml, `egresslab explain`)"),
    ("missing-expect.toml", "missing-expect.toml:1:1: missing key `expect`, expected it to be set"),
    ("unknown-probe.toml", "unknown-probe.toml:7:13: unknown variant `ftp`, expected one of `url`, `repeat`, `tcp`, `connector_endpoints`, `revocation`, `backend`, `ike`, `vpn_server`, `machine_certificate`, `servicebus`"),
    ("unknown-fault.toml", "unknown-fault.toml:8:9: unknown variant `explode`, expected one of `close-after-connect`, `close-after-challenge`, `garbage`, `status`, `slow_ms`"),
    ("toxic-unknown-on.toml", "toxic-unknown-on.toml:18:6: unknown toxic listener `ap`, expected one of `app`, `ike`"),
    ("toxic-unknown-type.toml", "toxic-unknown-type.toml:19:8: unknown toxic type `lag`, expected one of `latency`, `bandwidth`, `slow_close`, `timeout`, `reset_peer`, `slicer`, `limit_data`, `noop`, `packet_loss`"),
    ("toxic-packet-loss-on-tcp.toml", "toxic-packet-loss-on-tcp.toml:19:8: packet_loss acts on UDP responders only; on TCP use timeout or reset_peer; `app` is an endpoint, expected packet_loss only on a [[udp]] responder"),
    ("toxic-destination-on-endpoint.toml", "toxic-destination-on-endpoint.toml:20:15: destination limits a toxic to a lab proxy's connections to matching hosts; this is not a lab proxy; `app` is an endpoint, expected `destination` only on a toxic whose `on` is a proxy"),
    ("toxic-bad-attribute.toml", "toxic-bad-attribute.toml:20:14: latency toxic attributes: unknown field `latncy`, expected `latency` or `jitter`, expected the attributes Toxiproxy defines for latency (docs/control.md)"),
    ("toxic-toxicity-too-high.toml", "toxic-toxicity-too-high.toml:20:12: toxicity 2.0, expected a share from 0.0 to 1.0"),
    ("socks-http-only-key.toml", "socks-http-only-key.toml:7:8: socks5 proxy `corp` with `intercept`, expected no HTTP-only key on a socks5 proxy (it speaks SOCKS5 with no-auth, or RFC 1929 username/password when `auth = { users = {...} }` is given; docs/socks.md)"),
    ("socks-resolve-without-socks.toml", "socks-resolve-without-socks.toml:11:17: `socks_resolve` without a socks5 proxy, expected [client] proxy naming a [[proxy]] with kind = \"socks5\""),
    ("proxy-only-bad-name.toml", "proxy-only-bad-name.toml:7:15: proxy_only name `wiki corp`, expected a host name or a *.suffix pattern"),
    ("families-empty.toml", "families-empty.toml:10:12: an empty `families` list, expected a list of one or both of \"v4\" and \"v6\", each once"),
    ("families-twice.toml", "families-twice.toml:10:12: `v6` twice in `families`, expected a list of one or both of \"v4\" and \"v6\", each once"),
    ("families-unknown.toml", "families-unknown.toml:10:13: unknown variant `v5`, expected `v4` or `v6`"),
    ("bad-regex.toml", "bad-regex.toml:11:18: regular expression `(unclosed` (error: unclosed group), expected a valid regular expression"),
];

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/scenarios-bad/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_malformed_file_names_its_place_and_what_was_expected() {
    let mut failures = Vec::new();
    for (file, expected) in CASES {
        match load_str(file, &fixture(file)) {
            Ok(_) => failures.push(format!("{file}: loaded, expected `{expected}`")),
            Err(error) => {
                let got = error.to_string();
                if got != *expected {
                    failures.push(format!("{file}:\n  expected {expected}\n  got      {got}"));
                }
                assert!(error.location().is_some(), "{file}: no location");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_profile_is_rejected_with_its_name() {
    let error = load_str("p.toml", &fixture("missing-profile.toml")).expect_err("must fail");
    match &error {
        ScenarioError::UnknownReference { at, kind, name, .. } => {
            assert_eq!((at.line, at.column), (10, 19));
            assert_eq!(*kind, "certificate profile");
            assert_eq!(name, "extra-valid");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(error.to_string().starts_with(
        "p.toml:10:19: unknown certificate profile `extra-valid`, expected one of `valid`"
    ));
}

#[test]
fn every_fixture_is_in_the_table() {
    let dir = format!(
        "{}/tests/fixtures/scenarios-bad",
        env!("CARGO_MANIFEST_DIR")
    );
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            name == "missing-profile.toml" || CASES.iter().any(|(file, _)| *file == name),
            "{name} has no expected message"
        );
    }
}

fn toml_ish() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "name",
        "hosts",
        "port",
        "tls",
        "profile",
        "proxy",
        "probes",
        "url",
        "diagnoses",
        "healthy",
        "action",
        "from",
        "upstream",
        "behaviour",
        "pac",
        "trust",
        "client_cert",
        "exec",
        "client",
        "bogus",
    ]);
    let value = prop_oneof![
        Just("\"corp\"".to_owned()),
        Just("443".to_owned()),
        Just("70000".to_owned()),
        Just("true".to_owned()),
        Just("[\"*.msappproxy.net\"]".to_owned()),
        Just("{ profile = \"valid\" }".to_owned()),
        Just("[{ url = \"https://a.egresslab.test/\" }]".to_owned()),
        "\\PC{0,12}",
    ];
    let header = prop::sample::select(vec![
        "[scenario]",
        "[[endpoint]]",
        "[[proxy]]",
        "[[firewall]]",
        "[names]",
        "[[udp]]",
        "[client]",
        "[client.artifacts]",
        "[expect]",
        "[[expect.exec]]",
        "[[endpoint]",
        "",
    ]);
    let line = prop_oneof![
        header.prop_map(str::to_owned),
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        "\\PC{0,20}",
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn random_documents_never_panic(text in toml_ish()) {
        if let Err(error) = load_str("random.toml", &text) {
            let message = error.to_string();
            prop_assert!(message.starts_with("random.toml:"), "{}", message);
        }
    }

    #[test]
    fn a_valid_prefix_with_random_tail_never_panics(tail in "\\PC{0,200}") {
        let text = format!("[scenario]\nname = \"x\"\nsummary = \"s\"\nseed = \"s\"\n[expect]\nhealthy = true\n{tail}");
        let _ = load_str("tail.toml", &text);
    }
}

/// Issue 20, break 1: upstream chains that loop are refused at load time with the loop named.
#[test]
fn upstream_loops_are_refused_with_the_loop_named() {
    let two = r#"
[scenario]
name = "loop"
summary = "two proxies that chain to each other"
seed = "issue 20"
[[proxy]]
name = "a"
upstream = "b"
[[proxy]]
name = "b"
upstream = "a"
[client]
proxy = "a"
probes = [{ url = "https://x.egresslab.test/" }]
[expect]
healthy = true
"#;
    let error = egresslab::scenario::load_str("loop.toml", two)
        .expect_err("a loop must not load")
        .to_string();
    assert!(error.contains("a -> b -> a"), "{error}");
    assert!(error.starts_with("loop.toml:8:"), "{error}");

    let own = two
        .replace("upstream = \"b\"", "upstream = \"a\"")
        .replace("[[proxy]]\nname = \"b\"\nupstream = \"a\"\n", "");
    let error = egresslab::scenario::load_str("own.toml", &own)
        .expect_err("a proxy naming itself must not load")
        .to_string();
    assert!(error.contains("names itself as its upstream"), "{error}");
}

/// Issue 20, break 3: a name that could break out of a generated script is refused at load time.
#[test]
fn part_names_outside_the_documented_set_are_refused() {
    let hostile = r#"
[scenario]
name = "inject"
summary = "a proxy whose name carries script"
seed = "issue 20"
[[proxy]]
name = 'a}"; } while(true){} function z(){ return "'
[client]
proxy = 'a}"; } while(true){} function z(){ return "'
probes = [{ url = "https://x.egresslab.test/" }]
[expect]
healthy = true
"#;
    let error = egresslab::scenario::load_str("inject.toml", hostile)
        .expect_err("a hostile name must not load")
        .to_string();
    assert!(error.starts_with("inject.toml:7:"), "{error}");
    assert!(error.contains("ASCII letters, digits"), "{error}");
}

/// Issue 20, break 13: values that parse but make no sense are refused with their place.
#[test]
fn out_of_range_values_are_refused_with_their_place() {
    let base = |endpoint_http: &str, proxy_extra: &str, client_extra: &str| {
        format!(
            r#"
[scenario]
name = "values"
summary = "values outside their range"
seed = "issue 20"
[[endpoint]]
name = "app"
hosts = ["app.egresslab.test"]
port = 80
http = {{ {endpoint_http} }}
[[proxy]]
name = "corp"
{proxy_extra}
[client]
proxy = "corp"
{client_extra}
probes = [{{ url = "http://app.egresslab.test/" }}]
[expect]
healthy = true
"#
        )
    };
    let cases = [
        (
            base("status = 0", "", ""),
            ":10:",
            "HTTP status 0, expected a status from 100 to 599",
        ),
        (base("status = 65535", "", ""), ":10:", "HTTP status 65535"),
        (
            base(r#"headers = { "X-A" = "a\r\nSet-Cookie: x=1" }"#, "", ""),
            ":10:",
            "expected a value without CR, LF or NUL",
        ),
        (
            base(r#"headers = { "X A" = "b" }"#, "", ""),
            ":10:",
            "header name \"X A\"",
        ),
        (
            base(
                "status = 200",
                r#"rules = [{ hosts = "*", ports = [0], action = "allow" }]"#,
                "",
            ),
            ":13:",
            "port 0, expected a port from 1 to 65535",
        ),
        (
            base(
                "status = 200",
                "",
                "connect_timeout_ms = 9223372036854775807",
            ),
            ":16:",
            "expected at most 3600000 ms (one hour)",
        ),
        (base("delay_ms = 3600001", "", ""), ":10:", "3600001 ms"),
        (
            base("status = 200", "header_timeout_ms = 0", ""),
            ":13:",
            "0 ms, expected from 1 to 3600000 ms",
        ),
        (
            base("status = 200", "max_head_bytes = 100", ""),
            ":13:",
            "100 bytes, expected from 1024 to 1048576 bytes",
        ),
        (
            base("status = 200", "max_connections = 0", ""),
            ":13:",
            "0 connections, expected from 1 to 65536 connections",
        ),
        (
            base("status = 200", "", "").replace(
                r#"probes = [{ url = "http://app.egresslab.test/" }]"#,
                r#"probes = [{ backend = { url = "http://app.egresslab.test/", default_timeout_ms = 1000, long_timeout_ms = 9223372036854775807 } }]"#,
            ),
            ":17:",
            "long_timeout_ms 9223372036854775807, expected at most 3600000 ms (one hour)",
        ),
    ];
    for (text, line, message) in cases {
        let error = egresslab::scenario::load_str("values.toml", &text)
            .expect_err("an out-of-range value must not load")
            .to_string();
        assert!(
            error.starts_with("values.toml") && error.contains(line),
            "{error}\n{text}"
        );
        assert!(error.contains(message), "{error}\n{text}");
    }
    // The same file with sane values loads, and the proxy's limits reach its plan.
    egresslab::scenario::load_str("values.toml", &base("status = 200", "", "")).expect("loads");
    let limits = "header_timeout_ms = 1500\nmax_head_bytes = 2048\nmax_connections = 3";
    let scenario = egresslab::scenario::load_str("values.toml", &base("status = 200", limits, ""))
        .expect("limits load");
    let plan = &scenario.plan.proxies[0];
    assert_eq!(
        (
            plan.header_timeout,
            plan.max_head_bytes,
            plan.max_connections
        ),
        (std::time::Duration::from_millis(1500), 2048, 3)
    );
}
