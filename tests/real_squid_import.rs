//! The import differential: for each squid.conf of scenarios/squid-conf/, a real Squid 5.7 runs
//! that file (its ports, paths and peers rewritten to the test's own) and the lab runs the
//! scenario `egresslab import` makes of the same file. The same generated requests go to both
//! (CONNECT and absolute-URI, hosts in and out of every ACL, ports, methods, two client
//! addresses, with and without credentials) and the status, `X-Squid-Error`, `Location` and the
//! `Proxy-Authenticate` schemes (or the reset) must agree. docs/import.md has the figures and the rewrites.
//!
//! Nothing reaches the internet: every name is in Squid's hosts file and in the lab's routes,
//! pointing at listeners of this test on 127.0.0.0/8; `dst` networks outside 127/8 are moved
//! into it for both; Squid asks its DNS questions of 127.0.0.1, where nothing answers.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::squid;
use egresslab::lab::{AclKind, IpRange, Lab, LabBuilder, ProxyAuthPlan};
use egresslab::scenario::import::squid as importer;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

/// Ports every host listens on; [`DOWN_PORT`] is routed but never listened on.
const PORTS: [u16; 8] = [443, 80, 8080, 8443, 21, 25, 70, 22];
/// A port in Safe_ports' 1025-65535 where no origin listens (connection refused).
const DOWN_PORT: u16 = 8081;
/// Requests per file.
const PER_FILE: usize = 300;
/// Users of both proxies' user tables.
const USERS: [(&str, &str); 2] = [("alice", "alice-pw"), ("bob", "bob-pw")];
/// Client source addresses: the proxy host itself, another machine of the lab, and one inside
/// 10.20.0.0/16 as the test moves it (127.10.20.0/24: the branch of parent-never-direct).
const SOURCES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 88, 0, 5),
    Ipv4Addr::new(127, 10, 20, 5),
];

/// Host names beyond those the ACLs name, per file: what the regular expressions and the
/// "everything else" lines must see.
fn extra_hosts(file: &str) -> &'static [&'static str] {
    match file {
        "regex-denyinfo" => &[
            "www.facebook.com",
            "facebook.com",
            "INSTAGRAM.com",
            "m.tiktok.com",
            "facebook.com.school.example",
            "notfacebook.com",
            "ads.example.org",
            "ad7.cdn.example.org",
            "reads.example.org",
            "www.school.example",
        ],
        _ => &["www.example.org", "intranet.contoso.local"],
    }
}

/// What a client sees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// An HTTP answer.
    Answer {
        status: u16,
        squid_error: Option<String>,
        location: Option<String>,
        /// The schemes of the `Proxy-Authenticate` challenges, in order.
        challenges: Vec<String>,
    },
    /// The connection was reset before any answer.
    Reset,
    /// Closed without an answer.
    Closed,
    /// No answer within the time-out.
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Creds {
    None,
    Good(usize),
    Wrong(usize),
    Ntlm,
}

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    host: String,
    port: u16,
    creds: Creds,
    source: Ipv4Addr,
}

impl Req {
    fn raw(&self) -> Vec<u8> {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let authority = format!("{host}:{}", self.port);
        let auth = match self.creds {
            Creds::None => String::new(),
            Creds::Good(i) => basic(USERS[i].0, USERS[i].1),
            Creds::Wrong(i) => basic(USERS[i].0, "not-the-password"),
            Creds::Ntlm => "Proxy-Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n".to_owned(),
        };
        if self.method == "CONNECT" {
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n").into_bytes()
        } else {
            let body = if matches!(self.method, "POST" | "PUT") {
                "Content-Length: 0\r\n"
            } else {
                ""
            };
            format!(
                "{} http://{authority}/path?q=1 HTTP/1.1\r\nHost: {authority}\r\n{auth}{body}Connection: close\r\n\r\n",
                self.method
            )
            .into_bytes()
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} {}:{} creds {:?} from {}",
            self.method, self.host, self.port, self.creds, self.source
        )
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Proxy-Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Send one request from `source` and read the answer's head.
async fn send(proxy: SocketAddr, req: &Req) -> Outcome {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::V4(req.source), 0))
        .unwrap();
    let mut stream = match socket.connect(proxy).await {
        Ok(stream) => stream,
        Err(error) => panic!("cannot reach the proxy at {proxy}: {error}"),
    };
    let _ = stream.write_all(&req.raw()).await;
    let mut head = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => {
                    return if head.is_empty() {
                        Some(Outcome::Closed)
                    } else {
                        None
                    }
                }
                Ok(n) => {
                    head.extend_from_slice(&buf[..n]);
                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                        return None;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && head.is_empty() => {
                    return Some(Outcome::Reset)
                }
                Err(_) => return None,
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(15), read).await {
        Err(_) => return Outcome::Silent,
        Ok(Some(outcome)) => return outcome,
        Ok(None) => {}
    }
    let text = String::from_utf8_lossy(&head);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let challenges = head
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("Proxy-Authenticate")
                .then(|| v.split_whitespace().next().unwrap_or_default().to_owned())
        })
        .collect();
    Outcome::Answer {
        status,
        squid_error: header("X-Squid-Error"),
        location: header("Location"),
        challenges,
    }
}

/// An origin on `address`: answers any HTTP request 200 and closes; a tunnel's silence is closed
/// after a second.
async fn origin(address: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(address)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {address}: {e}"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let read =
                    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
                if let Ok(Ok(n)) = read {
                    let method = buf[..n]
                        .iter()
                        .take_while(|b| b.is_ascii_uppercase())
                        .count();
                    if method > 0 && buf.get(method) == Some(&b' ') {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                            .await;
                    }
                }
            });
        }
    })
}

/// `dst` and `src` values outside 127/8 moved into it (`a.b.c.d/n` becomes `127.a.b.c/(n+8)`, a
/// range `x-y` maps both ends), IPv6 ones other than ::1 dropped: neither proxy may ever connect
/// outside loopback, and the test can connect from inside a `src` network.
fn move_into_loopback(text: &str) -> String {
    fn map(ip: Ipv4Addr) -> Ipv4Addr {
        match ip.octets() {
            [127, ..] => ip,
            [a, b, c, _] => Ipv4Addr::new(127, a, b, c),
        }
    }
    text.lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() < 4 || words[0] != "acl" || !matches!(words[2], "dst" | "src") {
                return line.to_owned();
            }
            let mut out: Vec<String> = words[..3].iter().map(|w| (*w).to_owned()).collect();
            for value in &words[3..] {
                if value.starts_with('#') {
                    break;
                }
                if let Some((x, y)) = value.split_once('-') {
                    if let (Ok(x), Ok(y)) = (x.parse::<Ipv4Addr>(), y.parse::<Ipv4Addr>()) {
                        out.push(format!("{}-{}", map(x), map(y)));
                    }
                    continue;
                }
                let (address, bits) = value.split_once('/').unwrap_or((value, "32"));
                match (address.parse::<Ipv4Addr>(), bits.parse::<u8>()) {
                    (Ok(ip), _) if ip.octets()[0] == 127 => out.push((*value).to_owned()),
                    (Ok(ip), Ok(bits)) => out.push(format!("{}/{}", map(ip), (bits + 8).min(32))),
                    _ if *value == "::1" || *value == "::1/128" => out.push((*value).to_owned()),
                    _ => {}
                }
            }
            if out.len() == 3 {
                out.push("::1".to_owned());
            }
            out.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The text both proxies get: `dst` moved, Debian's conf.d include pointed at the catalog's copy.
fn for_both(text: &str, dir: &Path) -> String {
    move_into_loopback(text).replace("/etc/squid/conf.d/", &format!("{}/conf.d/", dir.display()))
}

/// Squid's copy: the test's own port, files and hosts; the auth helper on the test's htpasswd;
/// the parent at the lab's parent proxy; TLS interception removed (Debian's Squid is built with
/// GnuTLS, which has no ssl-bump).
fn for_squid(
    text: &str,
    d: &Path,
    port: u16,
    hosts: &Path,
    pw: &Path,
    parent: Option<u16>,
) -> String {
    let mut conf = squid::basics(d, port, hosts);
    let helper = squid::basic_ncsa_auth().expect("basic_ncsa_auth");
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        let skip = matches!(
            *first,
            "http_port"
                | "pid_filename"
                | "cache_log"
                | "access_log"
                | "coredump_dir"
                | "cache_dir"
                | "hosts_file"
                | "dns_nameservers"
                | "ssl_bump"
                | "sslcrtd_program"
                | "sslcrtd_children"
                | "sslproxy_cert_error"
        ) || (*first == "acl"
            && words
                .get(2)
                .is_some_and(|t| *t == "at_step" || *t == "ssl::server_name"));
        if skip || first.starts_with('#') {
            continue;
        }
        if *first == "auth_param" && words.get(2) == Some(&"program") {
            conf.push_str(&format!(
                "auth_param {} program {helper} {}\n",
                words[1],
                pw.display()
            ));
        } else if *first == "cache_peer" {
            let parent = parent.expect("a lab parent for cache_peer");
            conf.push_str(&format!(
                "cache_peer 127.0.0.1 parent {parent} 0 no-query default\n"
            ));
        } else {
            conf.push_str(line);
            conf.push('\n');
        }
    }
    conf
}

/// Names to try for one dstdomain value: in and just out of it.
fn names_for(domain: &str) -> Vec<String> {
    match domain.strip_prefix('.') {
        Some(bare) => vec![bare.to_owned(), format!("www.{bare}"), format!("x{bare}")],
        None => vec![domain.to_owned(), format!("sub.{domain}")],
    }
}

/// A small deterministic generator (xorshift), so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The figures of one file.
struct FileResult {
    file: String,
    sent: usize,
    statuses: BTreeMap<String, usize>,
    differences: Vec<String>,
}

/// Run one file through both proxies. `mutate` breaks the lab's copy on purpose (its first
/// `http_access` line dropped), to show the comparison notices a wrong import.
async fn differential(
    bin: &Path,
    dir: &Path,
    file: &str,
    index: usize,
    mutate: bool,
) -> FileResult {
    let original = std::fs::read_to_string(dir.join(format!("{file}.conf"))).unwrap();
    let text = for_both(&original, dir);
    let imported = importer::import_named(&text, file, dir, file)
        .unwrap_or_else(|e| panic!("{file}: import failed: {e}"));
    let mut expanded = egresslab::scenario::load_str(&format!("{file}.toml"), &imported.scenario)
        .unwrap_or_else(|e| panic!("{file}: the imported scenario does not load: {e}"));
    let proxy_name = imported.proxy.clone();
    let plan = &mut expanded.plan;
    plan.endpoints.clear();
    for proxy in &mut plan.proxies {
        if let (true, Some(access)) = (mutate, &mut proxy.access) {
            access.http_access.remove(0);
        }
        if let Some(auth) = &mut proxy.auth {
            *auth = ProxyAuthPlan {
                users: USERS
                    .iter()
                    .map(|(u, p)| ((*u).into(), (*p).into()))
                    .collect(),
                ..auth.clone()
            };
        }
    }
    let access = plan
        .proxies
        .iter()
        .find(|p| p.name == proxy_name)
        .and_then(|p| p.access.clone())
        .expect("the imported proxy has access lists");

    // Hosts: every name the ACLs give, in and out; extra names; the addresses of dst ACLs.
    let mut names: Vec<String> = Vec::new();
    let mut literal_targets: Vec<Ipv4Addr> = Vec::new();
    for acl in &access.acls {
        match &acl.kind {
            AclKind::DstDomain { domains, .. } | AclKind::ServerName(domains) => {
                names.extend(domains.iter().flat_map(|d| names_for(d)));
            }
            AclKind::Dst(ranges) => literal_targets.extend(ranges.iter().filter_map(first_v4)),
            _ => {}
        }
    }
    names.extend(extra_hosts(file).iter().map(|h| (*h).to_owned()));
    names.sort();
    names.dedup();
    let octet = 100 + index as u8;
    let third = (std::process::id() % 250) as u8;
    let mut addresses: Vec<(String, Ipv4Addr)> = names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                n.to_ascii_lowercase(),
                Ipv4Addr::new(127, octet, third, k as u8 + 1),
            )
        })
        .collect();
    for ip in &literal_targets {
        let [a, b, c, e] = ip.octets();
        addresses.push((format!("ip-{a}-{b}-{c}-{e}.lab.test"), *ip));
    }
    addresses.dedup_by(|a, b| a.0 == b.0);

    let mut origins = Vec::new();
    let mut builder = LabBuilder::from_plan(expanded.plan.clone());
    for (name, ip) in &addresses {
        for port in PORTS.iter().chain([DOWN_PORT].iter()) {
            let address = SocketAddr::new(IpAddr::V4(*ip), *port);
            if *port != DOWN_PORT {
                origins.push(origin(address).await);
            }
            builder = builder.passthrough(name.clone(), Some(*port), address);
        }
    }
    let lab: Lab = builder.start().await.unwrap();
    let lab_proxy = lab.proxy(&proxy_name).unwrap().address();
    let parent_port = lab.proxy("parent").map(|p| p.address().port());

    let real = squid::start_with(bin, |d, port| {
        let hosts = d.join("hosts");
        let lines: Vec<String> = addresses
            .iter()
            .map(|(n, ip)| format!("{ip} {n}"))
            .collect();
        std::fs::write(&hosts, lines.join("\n") + "\n").unwrap();
        let hashed: Vec<String> = USERS
            .iter()
            .map(|(u, p)| format!("{u}:{}", squid::apr1(p)))
            .collect();
        let refs: Vec<&str> = hashed.iter().map(String::as_str).collect();
        let pw = squid::htpasswd(d, &refs);
        for_squid(&text, d, port, &hosts, &pw, parent_port)
    });
    let squid_proxy: SocketAddr = ([127, 0, 0, 1], real.port).into();

    // The sequence: every host by CONNECT with every kind of credentials and by GET without and
    // with; every IP literal; then random combinations up to PER_FILE.
    let mut targets: Vec<String> = names.clone();
    targets.extend(addresses.iter().map(|(_, ip)| ip.to_string()).take(3));
    targets.extend(literal_targets.iter().map(Ipv4Addr::to_string));
    let creds = [
        Creds::None,
        Creds::Good(0),
        Creds::Good(1),
        Creds::Wrong(0),
        Creds::Ntlm,
    ];
    let methods = ["CONNECT", "GET", "POST", "PUT", "DELETE", "CONNECT", "GET"];
    let ports: Vec<u16> = PORTS.iter().copied().chain([DOWN_PORT]).collect();
    let mut requests = Vec::new();
    for host in &targets {
        for c in creds {
            requests.push(Req {
                method: "CONNECT",
                host: host.clone(),
                port: 443,
                creds: c,
                source: SOURCES[0],
            });
        }
        for c in [Creds::None, Creds::Good(0)] {
            requests.push(Req {
                method: "GET",
                host: host.clone(),
                port: 80,
                creds: c,
                source: SOURCES[0],
            });
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ index as u64);
    while requests.len() < PER_FILE {
        requests.push(Req {
            method: methods[rng.below(methods.len())],
            host: targets[rng.below(targets.len())].clone(),
            port: ports[rng.below(ports.len())],
            creds: creds[rng.below(creds.len())],
            source: SOURCES[[0, 0, 1, 2][rng.below(4)]],
        });
    }

    let outcomes: Vec<(Outcome, Outcome)> = futures_util::stream::iter(requests.iter())
        .map(|req| async move { (send(squid_proxy, req).await, send(lab_proxy, req).await) })
        // One at a time: Squid answers concurrent requests of one user with the result of the
        // first helper lookup, whatever password each carries (a race, not a policy).
        .buffered(1)
        .collect()
        .await;
    let mut differences = Vec::new();
    let mut statuses = BTreeMap::new();
    for (req, (from_squid, from_lab)) in requests.iter().zip(&outcomes) {
        let key = match from_squid {
            Outcome::Answer {
                status,
                squid_error,
                ..
            } => {
                format!("{status} {}", squid_error.as_deref().unwrap_or("-"))
            }
            other => format!("{other:?}"),
        };
        *statuses.entry(key).or_insert(0) += 1;
        if from_squid != from_lab {
            differences.push(format!(
                "{}: squid {from_squid:?}, lab {from_lab:?}",
                req.describe()
            ));
        }
    }
    if !differences.is_empty() && !mutate {
        eprintln!("{file}: squid cache.log:\n{}", real.cache_log());
    }
    drop(real);
    lab.shutdown().await;
    for o in origins {
        o.abort();
    }
    FileResult {
        file: file.to_owned(),
        sent: requests.len(),
        statuses,
        differences,
    }
}

fn first_v4(range: &IpRange) -> Option<Ipv4Addr> {
    match range.first {
        IpAddr::V4(v4) if v4.octets()[0] == 127 && range.first != range.last => {
            Some(Ipv4Addr::from(u32::from(v4) + 1))
        }
        IpAddr::V4(v4)
            if v4.octets()[0] == 127 && !v4.is_unspecified() && v4 != Ipv4Addr::LOCALHOST =>
        {
            Some(v4)
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_squid_confs_answer_like_real_squid() {
    let Some(bin) = squid::binary() else {
        eprintln!("\n\n!!!!! SKIPPED: squid is not installed (./test.sh installs it) !!!!!\n");
        return;
    };
    if squid::basic_ncsa_auth().is_none() {
        eprintln!("\n\n!!!!! SKIPPED: squid's basic_ncsa_auth helper is missing !!!!!\n");
        return;
    }
    // Origins listen on the real ports (443, 80, 21 ...) of loopback addresses of their own.
    if std::net::TcpListener::bind("127.99.0.1:443").is_err() {
        eprintln!("\n\n!!!!! SKIPPED: cannot listen on port 443 of 127.99.0.1 (needs root or CAP_NET_BIND_SERVICE) !!!!!\n");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/squid-conf");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".conf")
                .map(str::to_owned)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "at least 6 squid.conf files expected: {files:?}"
    );
    let mut report = String::new();
    let mut all = Vec::new();
    let mut total = 0;
    for (index, file) in files.iter().enumerate() {
        let result = differential(&bin, &dir, file, index, false).await;
        total += result.sent;
        report.push_str(&format!(
            "{:28} sent {:4} differences {:3}  squid answers {:?}\n",
            result.file,
            result.sent,
            result.differences.len(),
            result.statuses
        ));
        assert!(result.sent >= 200, "{file}: only {} requests", result.sent);
        assert!(
            result.statuses.len() >= 2,
            "{file}: Squid gave one kind of answer only, the file tests nothing: {:?}",
            result.statuses
        );
        all.extend(result.differences.iter().map(|d| format!("{file}: {d}")));
    }
    println!("{report}total sent {total}, differences {}", all.len());
    // The control: the same comparison with the lab's first http_access line dropped must see
    // differences, or it could not have seen any above.
    let broken = differential(&bin, &dir, "corporate-allowlist-basic", files.len(), true).await;
    println!(
        "control (corporate-allowlist-basic, first http_access line dropped in the lab): sent {}, differences {}",
        broken.sent,
        broken.differences.len()
    );
    assert!(
        !broken.differences.is_empty(),
        "a wrong import went unnoticed: {:?}",
        broken.statuses
    );
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert!(
        all.is_empty(),
        "undocumented differences ({}):\n{}\n\n{report}",
        distinct.len(),
        all.iter().take(60).cloned().collect::<Vec<_>>().join("\n")
    );
}
