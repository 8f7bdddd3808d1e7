//! `egresslab ctl` end to end against `egresslab up tls-healthy --control 127.0.0.1:0`: a link made,
//! poisoned, listed, toggled, cleaned and deleted, and the errors a person meets on the way.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};

use common::control_lab::ControlLab;

fn lab() -> ControlLab {
    ControlLab::start(Path::new(env!("CARGO_BIN_EXE_egresslab")), "tls-healthy", 7)
        .expect("the lab starts")
}

/// `egresslab ctl --host HOST ARGS...`, with TOXIPROXY_URL cleared so only `host` counts.
fn ctl(host: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .arg("ctl")
        .args(["--host", host])
        .args(args)
        .env_remove("TOXIPROXY_URL")
        .output()
        .expect("egresslab ctl runs")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stdout of a call that must succeed.
fn ok(host: &str, args: &[&str]) -> String {
    let out = ctl(host, args);
    assert!(out.status.success(), "ctl {args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr of a call that must fail.
fn fails(host: &str, args: &[&str]) -> String {
    let out = ctl(host, args);
    assert!(
        !out.status.success(),
        "ctl {args:?} succeeded: {}",
        describe(&out)
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn connect(address: SocketAddr) -> Result<(), ErrorKind> {
    TcpStream::connect(address).map(drop).map_err(|e| e.kind())
}

#[test]
fn ctl_creates_poisons_lists_toggles_cleans_and_deletes_a_link() {
    let lab = lab();
    let host = lab.url();

    let created = ok(
        &host,
        &[
            "create",
            "site-ctl",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "site",
        ],
    );
    let listen = created
        .strip_prefix("Created new proxy site-ctl listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{created}"));
    let address: SocketAddr = listen.parse().expect("an address");
    assert_ne!(address.port(), 0, "the real port is shown");
    connect(address).expect("the new link accepts");

    assert_eq!(
        ok(
            &host,
            &[
                "toxic",
                "add",
                "site-ctl",
                "-t",
                "latency",
                "-a",
                "latency=150",
                "-a",
                "jitter=5"
            ]
        ),
        "Added downstream latency toxic 'latency_downstream' on proxy 'site-ctl'\n"
    );
    assert_eq!(
        ok(
            &host,
            &[
                "toxic",
                "add",
                "site-ctl",
                "--type",
                "limit_data",
                "--upstream",
                "--toxicName",
                "cut",
                "--toxicity",
                "0.25",
                "--attribute",
                "bytes=4096"
            ]
        ),
        "Added upstream limit_data toxic 'cut' on proxy 'site-ctl'\n"
    );
    // The lab's own endpoint `site` is listed first, untouched; then the link.
    let listed = ok(&host, &["list"]);
    let lab_line = listed.lines().next().unwrap_or_default().to_owned();
    assert!(
        lab_line.starts_with("site\t127.0.0.1:")
            && lab_line.ends_with("\tendpoint site\tenabled\t0"),
        "{listed}"
    );
    assert_eq!(
        listed,
        format!("{lab_line}\nsite-ctl\t{listen}\tsite\tenabled\t2\n")
    );
    assert_eq!(
        ok(&host, &["inspect", "site-ctl"]),
        format!(
            "Name: site-ctl\tListen: {listen}\tUpstream: site\tEnabled: enabled\n\
             latency_downstream\ttype=latency\tstream=downstream\ttoxicity=1.00\t\
             attributes=[\tjitter=5\tlatency=150\t]\n\
             cut\ttype=limit_data\tstream=upstream\ttoxicity=0.25\tattributes=[\tbytes=4096\t]\n"
        )
    );

    assert_eq!(
        ok(
            &host,
            &[
                "toxic",
                "update",
                "site-ctl",
                "-n",
                "latency_downstream",
                "--tox",
                "0.5",
                "-a",
                "jitter=20"
            ]
        ),
        "Updated toxic 'latency_downstream' on proxy 'site-ctl'\n"
    );
    let inspected = ok(&host, &["i", "site-ctl"]);
    assert!(
        inspected.contains(
            "latency_downstream\ttype=latency\tstream=downstream\ttoxicity=0.50\t\
             attributes=[\tjitter=20\tlatency=150\t]\n"
        ),
        "the update merged the attributes and set the toxicity:\n{inspected}"
    );

    assert_eq!(
        ok(&host, &["toggle", "site-ctl"]),
        "Proxy site-ctl is now disabled\n"
    );
    assert_eq!(
        connect(address),
        Err(ErrorKind::ConnectionRefused),
        "a disabled link refuses"
    );
    // TOXIPROXY_URL instead of --host, as toxiproxy-cli reads it.
    let by_env = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args(["ctl", "ls"])
        .env("TOXIPROXY_URL", &host)
        .output()
        .expect("egresslab ctl runs");
    assert!(by_env.status.success(), "{}", describe(&by_env));
    assert_eq!(
        String::from_utf8_lossy(&by_env.stdout),
        format!("{lab_line}\nsite-ctl\t{listen}\tsite\tdisabled\t2\n")
    );
    assert_eq!(
        ok(&host, &["tog", "site-ctl"]),
        "Proxy site-ctl is now enabled\n"
    );
    connect(address).expect("enabled again, the same port accepts");

    assert_eq!(
        ok(&host, &["toxic", "remove", "site-ctl", "-n", "cut"]),
        "Removed toxic 'cut' on proxy 'site-ctl'\n"
    );
    assert_eq!(
        ok(&host, &["t", "d", "site-ctl", "-n", "latency_downstream"]),
        "Removed toxic 'latency_downstream' on proxy 'site-ctl'\n"
    );
    assert_eq!(
        ok(&host, &["list"]),
        format!("{lab_line}\nsite-ctl\t{listen}\tsite\tenabled\t0\n")
    );
    assert_eq!(
        ok(&host, &["delete", "site-ctl"]),
        "Deleted proxy site-ctl\n"
    );
    assert_eq!(
        ok(&host, &["list"]),
        format!("{lab_line}\n"),
        "only the lab's own listener is left"
    );
    assert_eq!(
        connect(address),
        Err(ErrorKind::ConnectionRefused),
        "a deleted link frees its port"
    );
    assert!(lab.stop().expect("the lab stops").success());
}

#[test]
fn ctl_reports_the_api_refusals_in_its_words() {
    let lab = lab();
    let host = lab.url();

    let missing = fails(
        &host,
        &[
            "toxic",
            "add",
            "nowhere",
            "-t",
            "latency",
            "-a",
            "latency=10",
        ],
    );
    assert!(
        missing.contains("cannot add a toxic to link `nowhere`: proxy not found (HTTP 404)"),
        "{missing}"
    );
    let outside = fails(&host, &["create", "far", "--upstream", "example.com:443"]);
    assert!(
        outside.contains("cannot create link `far`") && outside.contains("(HTTP 403)"),
        "{outside}"
    );
    ok(&host, &["create", "site-ctl", "--upstream", "site"]);
    let duplicate = fails(&host, &["create", "site-ctl", "--upstream", "site"]);
    assert!(duplicate.contains("(HTTP 409)"), "{duplicate}");
    let unknown = fails(&host, &["toxic", "add", "site-ctl", "-t", "gremlins"]);
    assert!(
        unknown.contains("invalid toxic type") && unknown.contains("latency"),
        "the API's list of types is shown: {unknown}"
    );
    // Refused by the API, then before anything is sent: each with the words that say why.
    let https_host = host.replace("http:", "https:");
    let cases: &[(&str, &[&str], &str)] = &[
        (
            &host,
            &[
                "toxic",
                "update",
                "site-ctl",
                "-n",
                "nope",
                "-a",
                "latency=1",
            ],
            "toxic not found (HTTP 404)",
        ),
        (
            &host,
            &[
                "toxic",
                "add",
                "site-ctl",
                "-t",
                "latency",
                "--upstream",
                "--downstream",
            ],
            "cannot be used with",
        ),
        (
            &host,
            &[
                "toxic",
                "add",
                "site-ctl",
                "-t",
                "latency",
                "--toxicity",
                "2",
            ],
            "not a number from 0 to 1",
        ),
        (
            &host,
            &["toxic", "add", "site-ctl", "-t", "latency", "-a", "latency"],
            "is not KEY=VALUE",
        ),
        (&https_host, &["list"], "https is not supported"),
        (
            &host,
            &["inspect", "a/b"],
            "cannot be named in a request path",
        ),
    ];
    for (host, args, words) in cases {
        let said = fails(host, args);
        assert!(said.contains(words), "{args:?}: {said}");
    }

    assert_eq!(
        ok(&host, &["list"]).lines().count(),
        2,
        "nothing but the one link was made (beside the lab's own endpoint)"
    );
    assert!(lab.stop().expect("the lab stops").success());
}

#[test]
fn ctl_against_a_closed_port_says_where_it_knocked_and_what_to_start() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let said = fails(&format!("http://{closed}"), &["list"]);
    assert!(
        said.contains(&format!("nothing listens at {closed}")),
        "{said}"
    );
    assert!(
        said.contains(&format!("egresslab up SCENARIO --control {closed}")),
        "{said}"
    );
    assert!(
        said.contains("Connection refused"),
        "the cause is kept: {said}"
    );
}

#[test]
fn ctl_help_teaches_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args(["ctl", "--help"])
        .output()
        .expect("egresslab ctl --help runs");
    assert!(out.status.success(), "{}", describe(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "TOXIPROXY_URL",
        "http://127.0.0.1:8474",
        "is a TCP relay",
        "Exits 0 on success and 2 on any error",
        "egresslab ctl toxic add site-slow -t latency -a latency=300",
        "egresslab up tls-healthy --control",
        "toggle",
        "inspect",
    ] {
        assert!(help.contains(expected), "{expected} missing:\n{help}");
    }
}
