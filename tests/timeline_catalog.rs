//! Every catalog scenario's timeline explains what happened: the whole catalog runs through
//! `egresslab run --timeline DIR`, and for each scenario the event that explains its failure (or
//! its health) is in its file, on a connection whose story runs from its first event to its close.
//! `egresslab timeline` reads the same files back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

type Events = Vec<Value>;

fn kind(event: &Value) -> &str {
    event["event"].as_str().unwrap_or_default()
}

fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event[field].as_str().unwrap_or_default()
}

/// The first event of kind `event` that `matches`, if any.
fn find<'a>(
    events: &'a Events,
    event: &str,
    matches: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    events.iter().find(|e| kind(e) == event && matches(e))
}

fn firewall(action: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| find(events, "firewall", |e| text(e, "action").contains(action))
}

fn http(role: &'static str, status: u64) -> impl Fn(&Events) -> Option<&Value> {
    move |events| {
        find(events, "http", |e| {
            text(e, "role") == role && e["status"] == status
        })
    }
}

fn tls_failed(error: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| find(events, "tls_failed", |e| text(e, "error").contains(error))
}

fn served_profile(profile: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| {
        let defect = format!("(profile {profile})");
        events.iter().find(|e| {
            matches!(kind(e), "tls_handshake" | "tls_failed") && text(e, "served").contains(&defect)
        })
    }
}

fn note(words: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| find(events, "note", |e| text(e, "message").contains(words))
}

fn closed(words: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| find(events, "closed", |e| text(e, "reason").contains(words))
}

fn unanswered(because: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| {
        find(events, "datagram", |e| {
            e["answered"] == false && text(e, "unanswered_because").contains(because)
        })
    }
}

fn dns(answer: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| find(events, "dns_query", |e| text(e, "answer").contains(answer))
}

fn socks(outcome: &'static str) -> impl Fn(&Events) -> Option<&Value> {
    move |events| find(events, "socks", |e| text(e, "outcome").contains(outcome))
}

type Explains = Box<dyn Fn(&Events) -> Option<&Value>>;

/// For each catalog scenario: what explains it, in words, and how to find that event.
fn table() -> BTreeMap<&'static str, (&'static str, Explains)> {
    let mut t: BTreeMap<&'static str, (&'static str, Explains)> = BTreeMap::new();
    let mut add = |id, why, explains: Explains| {
        t.insert(id, (why, explains));
    };
    // The firewall's own record of drops and rejects, seen as SYNs (needs CAP_NET_RAW, see below).
    add(
        "port-443-filtered",
        "the firewall drop",
        Box::new(firewall("drop")),
    );
    add(
        "port-443-refused",
        "the firewall reject",
        Box::new(firewall("reject")),
    );
    add(
        "port-80-blocked",
        "the drop on port 80",
        Box::new(firewall("drop")),
    );
    add(
        "signin-unreachable",
        "the reject of the sign-in host",
        Box::new(firewall("reject")),
    );
    add(
        "servicebus-tcp-fallback",
        "the reject of 5671/9352",
        Box::new(firewall("reject")),
    );
    add(
        "proxy-bypassed-but-required",
        "the drop of direct traffic",
        Box::new(firewall("drop")),
    );
    add(
        "proxy-down",
        "the refused SYN at the proxy that is off",
        Box::new(firewall("reject")),
    );
    add(
        "wpad-pac-dead-proxy",
        "the refused SYN at the PAC's proxy",
        Box::new(firewall("reject")),
    );
    // Middleboxes.
    add(
        "tls12-blocked",
        "the middlebox reset of TLS 1.2",
        Box::new(firewall("TLS 1.2")),
    );
    add(
        "sha512-blocked",
        "the middlebox reset on SHA-512",
        Box::new(firewall("SHA-512")),
    );
    // Proxies.
    add(
        "proxy-auth-required",
        "the 407 with its challenges",
        Box::new(|events| {
            find(events, "http", |e| {
                e["status"] == 407
                    && e["response_headers"]
                        .as_array()
                        .is_some_and(|headers| headers.iter().any(|h| h[0] == "Proxy-Authenticate"))
            })
        }),
    );
    add(
        "proxy-denies-domain",
        "the 403 for the domain",
        Box::new(http("connect", 403)),
    );
    add(
        "proxy-denies-port-80",
        "the 403 for port 80",
        Box::new(http("connect", 403)),
    );
    add(
        "proxy-bad-gateway-squid",
        "the 503 after the failed leg",
        Box::new(http("connect", 503)),
    );
    add(
        "proxy-bad-gateway",
        "the 502 after the failed leg",
        Box::new(http("connect", 502)),
    );
    add(
        "proxy-chained-parent-down",
        "the failed leg to the parent",
        Box::new(|events| {
            find(events, "upstream_failed", |e| {
                text(e, "destination").contains("parent")
            })
        }),
    );
    add(
        "proxy-closes-after-connect",
        "the fault's close",
        Box::new(closed("(fault)")),
    );
    add(
        "proxy-ntlm-broken-keepalive",
        "the close right after the NTLM challenge",
        Box::new(closed("after the NTLM challenge")),
    );
    add(
        "socks5-auth-required",
        "the X'FF' to a client offering no-auth only",
        Box::new(socks("no acceptable methods")),
    );
    add(
        "socks5-wrong-password",
        "the refused RFC 1929 user name and password",
        Box::new(socks("username/password refused")),
    );
    add(
        "socks5-denied-by-rule",
        "the reply 0x02 for the denied destination",
        Box::new(socks("replied 0x02")),
    );
    add(
        "socks5-origin-refused",
        "the reply 0x05 after the rejected leg",
        Box::new(socks("replied 0x05")),
    );
    add(
        "socks5-local-dns-fails",
        "the client's NXDOMAIN for the name only the proxy knows",
        Box::new(dns("NXDOMAIN")),
    );
    add(
        "proxy-digest-wrong-password",
        "the refused Digest response",
        Box::new(note("Digest: wrong response")),
    );
    add(
        "proxy-ntlm-wrong-password",
        "the refused NTLMv2 response",
        Box::new(note("wrong NTLMv2 response")),
    );
    for id in ["proxy-ntlm-connector", "proxy-auth-some-destinations"] {
        add(
            id,
            "the 407 with its challenges",
            Box::new(|events| {
                find(events, "http", |e| {
                    e["status"] == 407
                        && e["response_headers"].as_array().is_some_and(|headers| {
                            headers.iter().any(|h| h[0] == "Proxy-Authenticate")
                        })
                })
            }),
        );
    }
    add(
        "proxy-garbage",
        "the fault's garbage answer",
        Box::new(closed("garbage")),
    );
    add(
        "proxy-slow",
        "the fault's wait",
        Box::new(note("wait 4000 ms")),
    );
    add(
        "proxy-flapping",
        "the reset_peer toxic",
        Box::new(note("reset_peer")),
    );
    add(
        "proxy-https-untrusted",
        "the client's alert on the proxy's certificate",
        Box::new(tls_failed("UnknownCA")),
    );
    // Interception.
    add(
        "tls-inspection",
        "the leaf minted by the inspection CA",
        Box::new(|events| {
            find(events, "tls_handshake", |e| {
                text(e, "served").contains("Inspection CA")
            })
        }),
    );
    add(
        "inspection-breaks-client-auth",
        "the client certificate lost at the interception",
        Box::new(note("client's certificate is lost")),
    );
    // Certificates served.
    for (id, profile) in [
        ("tls-expired", "expired"),
        ("tls-not-yet-valid", "not-yet-valid"),
        ("tls-self-signed", "self-signed"),
        ("tls-wrong-host", "wrong-host"),
        ("tls-untrusted-root", "untrusted-root"),
        ("untrusted-root", "untrusted-root"),
        ("tls-incomplete-chain", "incomplete-chain"),
        ("tls-revoked", "revoked"),
        ("vpn-server-cert-expired", "expired"),
        ("vpn-name-mismatch", "wrong-host"),
        ("vpn-no-server-auth-eku", "no-server-auth"),
        ("vpn-untrusted-root", "untrusted-root"),
    ] {
        add(
            id,
            "the defective certificate served",
            Box::new(served_profile(profile)),
        );
    }
    add(
        "client-cert-missing",
        "the handshake without a client certificate",
        Box::new(tls_failed("client certificate")),
    );
    add(
        "client-cert-expired",
        "the refused expired client certificate",
        Box::new(tls_failed("")),
    );
    add(
        "tls12-server-tls13-client",
        "the version mismatch",
        Box::new(tls_failed("incompatible")),
    );
    add(
        "tls13-server-tls12-client",
        "the version mismatch",
        Box::new(tls_failed("incompatible")),
    );
    // Names, PAC, UDP, slow paths.
    add(
        "name-unresolved",
        "the NXDOMAIN answer",
        Box::new(dns("NXDOMAIN")),
    );
    add(
        "vpn-server-unreachable",
        "the NXDOMAIN answer",
        Box::new(dns("NXDOMAIN")),
    );
    add(
        "vpn-ike-blocked",
        "the unanswered IKE datagrams",
        Box::new(unanswered("silent responder")),
    );
    add(
        "vpn-ike-lossy",
        "the datagram packet_loss dropped",
        Box::new(note("packet_loss dropped")),
    );
    add(
        "backend-slow-link",
        "the latency toxic on the path",
        Box::new(note("latency")),
    );
    add(
        "backend-timeout",
        "the answer that waited past the default time-out",
        Box::new(|events| {
            find(events, "http", |e| {
                e["wait_ms"].as_f64().unwrap_or_default() >= 500.0
            })
        }),
    );
    add(
        "registration-bandwidth-starved",
        "the bandwidth toxic on the path",
        Box::new(note("bandwidth")),
    );
    add("wpad-pac", "the PAC fetch", Box::new(http("pac", 200)));
    add(
        "ipv6-path-dropped",
        "the firewall drop on the v6 path",
        Box::new(|events| {
            find(events, "firewall", |e| {
                text(e, "action") == "drop" && text(e, "rule").contains("over v6")
            })
        }),
    );
    add(
        "ipv6-only-behind-v4-proxy",
        "the 503 for the v6-only host",
        Box::new(http("connect", 503)),
    );
    // Healthy twins and scenarios whose cause is in the customer's files (the lab's traffic is
    // healthy there): the explaining event is a complete, successful exchange.
    for id in [
        "tls-healthy",
        "client-cert-healthy",
        "tls12-only-healthy",
        "connector-healthy-direct",
        "connector-healthy-proxy",
        "backend-link-healthy",
        "backend-via-forward-proxy",
        "registration-link-healthy",
        "proxy-healthy",
        "proxy-tunnels-healthy",
        "proxy-chained",
        "proxy-https",
        "proxy-ntlm-healthy",
        "proxy-auth-some-destinations-healthy",
        "proxy-digest",
        "socks5-healthy",
        "socks5-client-resolves-healthy",
        "socks5-auth",
        "socks5h-proxy-resolves",
        "ipv6-dual-stack-healthy",
        "ipv6-only-behind-dual-stack-proxy",
    ] {
        add(
            id,
            "a successful exchange",
            Box::new(|events| {
                find(events, "http", |e| {
                    e["status"] == 200 && text(e, "role") == "endpoint"
                })
            }),
        );
    }
    // The cause is in the customer's files; the lab's endpoint answered, as the real service would.
    for id in [
        "registration-errors",
        "trust-settings-mismatch",
        "netsh-overrides",
    ] {
        add(
            id,
            "the endpoint's answer",
            Box::new(|events| {
                find(events, "http", |e| {
                    text(e, "role") == "endpoint" && e["status"].as_u64().is_some_and(|s| s > 0)
                })
            }),
        );
    }
    for id in [
        "vpn-healthy",
        "vpn-auth-mismatch",
        "vpn-conditional-access",
        "vpn-no-machine-cert",
    ] {
        add(
            id,
            "the answered IKE datagram",
            Box::new(|events| find(events, "datagram", |e| e["answered"] == true)),
        );
    }
    t
}

/// The client connection a leg serves (following `serves` up), or `id` itself.
fn root(events: &Events, id: u64) -> u64 {
    let mut at = id;
    for _ in 0..events.len() {
        let parent = events
            .iter()
            .find(|e| e["conn"] == at && e["serves"].as_u64().is_some())
            .and_then(|e| e["serves"].as_u64());
        match parent {
            Some(parent) if parent != at => at = parent,
            _ => break,
        }
    }
    at
}

/// The events of connection `id` and of the legs that serve it.
fn story(events: &Events, id: u64) -> Vec<&Value> {
    let mut ids = BTreeSet::from([id]);
    for event in events {
        if let (Some(conn), Some(serves)) = (event["conn"].as_u64(), event["serves"].as_u64()) {
            if ids.contains(&serves) {
                ids.insert(conn);
            }
        }
    }
    events
        .iter()
        .filter(|e| e["conn"].as_u64().is_some_and(|c| ids.contains(&c)))
        .collect()
}

fn read(path: &Path) -> Events {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

#[test]
fn every_catalog_scenario_has_the_event_that_explains_it_linked_from_first_packet_to_close() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["run", "--timeline"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let watching = egresslab::lab::can_watch_syns();
    if !watching {
        eprintln!(
            "NOT CHECKED: this process may not open a raw socket (CAP_NET_RAW), so the firewall cannot \
             see SYNs to its drop and reject places; those scenarios are checked for the note that says so"
        );
    }
    let table = table();
    let mut missing = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let id = path.file_stem().unwrap().to_string_lossy().into_owned();
        let events = read(&path);
        // The schema: a version, an order, a wall-clock time on every event.
        for (index, event) in events.iter().enumerate() {
            assert_eq!(event["v"], 1, "{id}: {event}");
            assert_eq!(event["seq"], index as u64, "{id}: {event}");
            assert!(text(event, "time").ends_with('Z'), "{id}: {event}");
            assert!(
                !event.to_string().contains("https://docs.rs"),
                "{id}: a library link in {event}"
            );
        }
        // Every TCP connection the lab accepted has its close, under the same id.
        for accepted in events.iter().filter(|e| kind(e) == "accepted") {
            let conn = accepted["conn"]
                .as_u64()
                .unwrap_or_else(|| panic!("{id}: no conn in {accepted}"));
            assert!(
                events
                    .iter()
                    .any(|e| kind(e) == "closed" && e["conn"] == conn),
                "{id}: connection {conn} was accepted and never closed"
            );
        }
        let Some((why, explains)) = table.get(id.as_str()) else {
            missing.push(id);
            continue;
        };
        let firewall_seen_by_syn = id.contains("443-")
            || id.contains("80-blocked")
            || id == "signin-unreachable"
            || id == "servicebus-tcp-fallback"
            || id == "proxy-bypassed-but-required"
            || id.contains("down")
            || id == "wpad-pac-dead-proxy";
        if firewall_seen_by_syn && !watching {
            assert!(
                find(&events, "note", |e| text(e, "message")
                    .contains("CAP_NET_RAW"))
                .is_some(),
                "{id}: without the SYN watcher the timeline must say so"
            );
            continue;
        }
        let event = explains(&events).unwrap_or_else(|| {
            panic!(
                "{id}: no event shows {why}; the timeline:\n{}",
                events
                    .iter()
                    .map(|e| e.to_string() + "\n")
                    .collect::<String>()
            )
        });
        let conn = event["conn"]
            .as_u64()
            .unwrap_or_else(|| panic!("{id}: {why} carries no connection id: {event}"));
        let root = root(&events, conn);
        let whole = story(&events, root);
        let first = kind(whole[0]);
        assert!(
            matches!(
                first,
                "accepted" | "firewall" | "syn" | "dns_query" | "datagram"
            ),
            "{id}: the story of connection {root} (holding {conn}) starts with {first}, not with its first packet"
        );
        if first == "accepted" {
            // The firewall's SYN watcher reads its raw socket as it goes, so a leg's SYN may be
            // written just after the close it caused; the close is there all the same.
            assert!(
                whole
                    .iter()
                    .any(|e| kind(e) == "closed" && e["conn"] == root),
                "{id}: connection {root}'s story has no close"
            );
        }
        checked += 1;
    }
    assert!(
        missing.is_empty(),
        "catalog scenarios without an explaining event in the table: {missing:?}"
    );
    assert!(checked >= 50, "only {checked} scenarios checked");

    // `egresslab timeline` reads the files back: one line per connection and one story.
    let file = dir.path().join("port-443-refused.jsonl");
    let summary = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("timeline")
        .arg(&file)
        .output()
        .unwrap();
    let summary_text = String::from_utf8_lossy(&summary.stdout);
    assert!(summary.status.success(), "{summary_text}");
    if watching {
        assert!(
            summary_text.contains("reject (rule 1: reject"),
            "{summary_text}"
        );
    }
    let file = dir.path().join("proxy-auth-required.jsonl");
    let story = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("timeline")
        .arg(&file)
        .args(["--conn", "1"])
        .output()
        .unwrap();
    let story_text = String::from_utf8_lossy(&story.stdout);
    assert!(story.status.success(), "{story_text}");
    for step in ["accepted", "request", "http", "answer", "closed"] {
        assert!(
            story_text.contains(step),
            "{step} missing from\n{story_text}"
        );
    }
    assert!(story_text.contains("status=407"), "{story_text}");
}

#[test]
fn timeline_reads_a_damaged_file_and_names_the_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    std::fs::write(
        &file,
        "{\"v\":1,\"seq\":0,\"at_ms\":1.0,\"time\":\"x\",\"source\":\"dns\",\"conn\":1,\"event\":\"dns_query\",\"name\":\"a.test\",\"answer\":\"NXDOMAIN\"}\n{\"truncated\": \n[1,2]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("timeline")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: not JSON"), "{stderr}");
    assert!(
        stderr.contains("line 3: expected a JSON object"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("DNS a.test → NXDOMAIN"));
    let none = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("timeline")
        .arg(&file)
        .args(["--conn", "9"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no event belongs to connection 9"));
}
