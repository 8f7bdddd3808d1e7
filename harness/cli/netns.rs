//! `egresslab up --ports/--bind/--netns` and `egresslab exec`: the lab as a place on a network, and a
//! client network namespace (joined to the lab by a veth pair, with its own resolv.conf) to run
//! unmodified programs in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use egresslab::lab::{Addresses, DoorKind, Lab, NetworkInfo, NetworkOptions, PortMode};

/// Network placement flags of `egresslab up`.
#[derive(Debug, Clone, clap::Args)]
pub struct NetArgs {
    /// `well-known`: the scenario's ports (443, 80…), DNS on 53, proxies on 3128/8080 (needs root or
    /// CAP_NET_BIND_SERVICE; falls back to ephemeral and says so). `ephemeral`: ports the kernel
    /// picks. Either way each lab host gets its own address (a 127.x.y.0/24 block of its own).
    #[arg(long, value_name = "well-known|ephemeral")]
    pub ports: Option<PortMode>,
    /// Put the lab on these addresses (repeatable: the DNS server first, then proxies, then hosts) or
    /// allocate them from a prefix (`10.9.8.0/24`): for a VM or a second machine. Other machines can
    /// then reach the lab; it still relays only to what the scenario names.
    #[arg(long = "bind", value_name = "ADDR|PREFIX", conflicts_with = "netns")]
    pub bind: Vec<String>,
    /// Create a client network namespace NAME (default: the scenario id) joined to the lab by a veth
    /// pair, with /etc/netns/NAME/resolv.conf naming the lab's DNS server; removed when the lab
    /// stops. Run programs in it with `egresslab exec NAME -- CMD`. Needs root.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub netns: Option<String>,
}

/// A lab's network placement as the CLI set it up: the library options and, with `--netns`, the
/// namespace (removed on drop).
#[derive(Debug)]
pub struct Placed {
    /// What the lab is started with.
    pub options: NetworkOptions,
    /// The client namespace, if one was asked for.
    pub namespace: Option<Namespace>,
}

impl NetArgs {
    /// The placement the flags ask for, or `None` for the library default (127.0.0.1, ephemeral).
    pub fn prepare(&self, scenario_id: &str) -> anyhow::Result<Option<Placed>> {
        if let Some(name) = &self.netns {
            let name = if name.is_empty() { scenario_id } else { name };
            let namespace = Namespace::create(name)?;
            let options = NetworkOptions {
                ports: self.ports.unwrap_or(PortMode::WellKnown),
                addresses: Addresses::Prefix {
                    network: IpAddr::V4(namespace.lab_prefix),
                    len: 24,
                },
                v6_prefix: Some((namespace.lab_prefix_v6, 64)),
            };
            return Ok(Some(Placed {
                options,
                namespace: Some(namespace),
            }));
        }
        if self.bind.is_empty() && self.ports.is_none() {
            return Ok(None);
        }
        let addresses = parse_bind(&self.bind)?;
        warn_if_exposed(&addresses);
        Ok(Some(Placed {
            options: NetworkOptions {
                ports: self.ports.unwrap_or(PortMode::Ephemeral),
                addresses,
                v6_prefix: None,
            },
            namespace: None,
        }))
    }
}

/// Say loudly that the lab is reachable from elsewhere when an address is not loopback.
fn warn_if_exposed(addresses: &Addresses) {
    let exposed = match addresses {
        Addresses::List(list) => list.iter().any(|ip| !ip.is_loopback()),
        Addresses::Prefix { network, .. } => !network.is_loopback(),
        Addresses::LoopbackBlock => false,
    };
    if exposed {
        eprintln!(
            "WARNING: --bind puts this lab's DNS server, proxies and endpoints on a non-loopback \
             address: any machine that can reach it can use them (the proxies still relay only to \
             the scenario's own destinations)."
        );
        tracing::warn!("lab bound on non-loopback addresses (--bind)");
    }
}

/// `--bind` values: addresses, or one prefix.
fn parse_bind(values: &[String]) -> anyhow::Result<Addresses> {
    if values.is_empty() {
        return Ok(Addresses::LoopbackBlock);
    }
    let mut list = Vec::new();
    for value in values {
        if let Some((network, len)) = value.split_once('/') {
            anyhow::ensure!(
                values.len() == 1,
                "--bind {value}: a prefix must be the only --bind (got {} values)",
                values.len()
            );
            let network: IpAddr = network
                .parse()
                .with_context(|| format!("--bind {value}: `{network}` is not an IP address"))?;
            let len: u8 = len
                .parse()
                .with_context(|| format!("--bind {value}: `{len}` is not a prefix length"))?;
            return Ok(Addresses::Prefix { network, len });
        }
        list.push(value.parse::<IpAddr>().with_context(|| {
            format!("--bind {value}: expected an IP address (10.9.8.7) or a prefix (10.9.8.0/24)")
        })?);
    }
    Ok(Addresses::List(list))
}

/// A client network namespace joined to the lab by a veth pair. The lab's addresses are a /24
/// routed locally on the host (`ip route add local …/24 dev lo`), reached from the namespace through
/// the veth. Everything is removed on drop, also after a failed start.
#[derive(Debug)]
pub struct Namespace {
    /// The namespace's name (`ip netns exec NAME`).
    pub name: String,
    index: u8,
    /// The lab's /24 (`10.201.N.0`).
    pub lab_prefix: Ipv4Addr,
    /// The lab's v6 /64 (`fd65:676c:N::`).
    pub lab_prefix_v6: Ipv6Addr,
    /// The client's own address in the namespace.
    pub client: Ipv4Addr,
    created_netns: bool,
    created_link: bool,
    created_route: bool,
    created_route6: bool,
}

/// Run `ip ARGS…` (optionally inside a namespace), failing with its standard error.
fn ip(netns: Option<&str>, args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new("ip");
    if let Some(netns) = netns {
        command.args(["netns", "exec", netns, "ip"]);
    }
    let output = command
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl Namespace {
    /// Create namespace `name`, a veth pair into it and the lab's local route.
    pub fn create(name: &str) -> anyhow::Result<Namespace> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !name.starts_with('.');
        anyhow::ensure!(
            valid,
            "--netns {name:?}: expected a name of letters, digits, `-`, `_` or `.` (at most 64)"
        );
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        anyhow::ensure!(
            root,
            "--netns needs root: creating a network namespace and a veth pair is privileged"
        );
        anyhow::ensure!(
            !PathBuf::from("/run/netns").join(name).exists(),
            "--netns {name}: a namespace of that name exists already (`ip netns del {name}` if it is stale)"
        );
        let index = (0..=u8::MAX)
            .find(|n| {
                ip(
                    None,
                    &[
                        "link",
                        "add",
                        &host_if(*n),
                        "type",
                        "veth",
                        "peer",
                        "name",
                        &client_if(*n),
                    ],
                )
                .is_ok()
            })
            .context("no free veth name egl0h…egl255h")?;
        let mut namespace = Namespace {
            name: name.to_owned(),
            index,
            lab_prefix: Ipv4Addr::new(10, 201, index, 0),
            lab_prefix_v6: Ipv6Addr::new(0xfd65, 0x676c, u16::from(index), 0, 0, 0, 0, 0),
            client: Ipv4Addr::new(10, 200, index, 2),
            created_netns: false,
            created_link: true,
            created_route: false,
            created_route6: false,
        };
        namespace
            .wire()
            .with_context(|| format!("setting up namespace {name}"))?;
        Ok(namespace)
    }

    fn wire(&mut self) -> anyhow::Result<()> {
        let (host, client, n) = (host_if(self.index), client_if(self.index), self.index);
        ip(None, &["netns", "add", &self.name])?;
        self.created_netns = true;
        let ns = Some(self.name.as_str());
        ip(None, &["link", "set", &client, "netns", &self.name])?;
        ip(
            None,
            &["addr", "add", &format!("10.200.{n}.1/30"), "dev", &host],
        )?;
        ip(None, &["link", "set", &host, "up"])?;
        ip(
            ns,
            &[
                "addr",
                "add",
                &format!("{}/30", self.client),
                "dev",
                &client,
            ],
        )?;
        ip(ns, &["link", "set", &client, "up"])?;
        ip(ns, &["link", "set", "lo", "up"])?;
        ip(
            ns,
            &["route", "add", "default", "via", &format!("10.200.{n}.1")],
        )?;
        ip(
            None,
            &[
                "route",
                "add",
                "local",
                &format!("{}/24", self.lab_prefix),
                "dev",
                "lo",
            ],
        )?;
        self.created_route = true;
        // v6 beside v4: the link without duplicate-address detection (so it is usable at once),
        // and the lab's /64 routed locally on the host like the v4 /24.
        let link6 = |end: u8| format!("fd65:676c:ff:{n}::{end}");
        ip(
            None,
            &[
                "-6",
                "addr",
                "add",
                &format!("{}/64", link6(1)),
                "dev",
                &host,
                "nodad",
            ],
        )?;
        ip(
            ns,
            &[
                "-6",
                "addr",
                "add",
                &format!("{}/64", link6(2)),
                "dev",
                &client,
                "nodad",
            ],
        )?;
        ip(ns, &["-6", "route", "add", "default", "via", &link6(1)])?;
        let local6 = format!("{}/64", self.lab_prefix_v6);
        ip(None, &["-6", "route", "add", "local", &local6, "dev", "lo"])?;
        self.created_route6 = true;
        Ok(())
    }

    /// The folder `ip netns exec` reads the namespace's own /etc files from.
    fn etc(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name)
    }

    /// Give the namespace a resolv.conf naming the lab's DNS server (port 53: resolv.conf has none).
    pub fn write_resolv_conf(&self, dns: IpAddr) -> anyhow::Result<PathBuf> {
        let etc = self.etc();
        std::fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
        let path = etc.join("resolv.conf");
        let text = format!(
            "# written by egresslab for the lab's client namespace {}\nnameserver {dns}\noptions timeout:2 attempts:2\n",
            self.name
        );
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let mut undo: Vec<Vec<String>> = Vec::new();
        if self.created_route {
            undo.push(vec![
                "route".into(),
                "del".into(),
                "local".into(),
                format!("{}/24", self.lab_prefix),
                "dev".into(),
                "lo".into(),
            ]);
        }
        if self.created_route6 {
            let local6 = format!("{}/64", self.lab_prefix_v6);
            undo.push(
                ["-6", "route", "del", "local", &local6, "dev", "lo"]
                    .map(String::from)
                    .to_vec(),
            );
        }
        if self.created_link {
            undo.push(vec!["link".into(), "del".into(), host_if(self.index)]);
        }
        if self.created_netns {
            undo.push(vec!["netns".into(), "del".into(), self.name.clone()]);
        }
        for args in undo {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(error) = ip(None, &args) {
                eprintln!("cleaning up namespace {}: {error:#}", self.name);
            }
        }
        let etc = self.etc();
        if etc.exists() {
            if let Err(error) = std::fs::remove_dir_all(&etc) {
                eprintln!("removing {}: {error}", etc.display());
            }
        }
    }
}

fn host_if(index: u8) -> String {
    format!("egl{index}h")
}

fn client_if(index: u8) -> String {
    format!("egl{index}c")
}

impl Placed {
    /// After the lab started: write the namespace's resolv.conf, print where everything is and the
    /// fall-back if there was one.
    pub fn announce(&self, lab: &Lab) -> anyhow::Result<()> {
        let Some(info) = lab.network() else {
            return Ok(());
        };
        if let Some(why) = &info.fallback {
            eprintln!("WARNING: {why}");
        }
        println!("ports    {}", info.ports);
        if let Some(dns) = info.dns {
            println!("dns      {dns}");
        }
        for host in &info.hosts {
            let doors: Vec<String> = host
                .doors
                .iter()
                .map(|door| format!("{}→{} ({})", door.port, door.address, kind_word(door.kind)))
                .collect();
            println!(
                "host     {:<32} {} {}",
                host.pattern,
                host.ip,
                doors.join(", ")
            );
        }
        if let Some(namespace) = &self.namespace {
            let dns = info
                .dns
                .map(|dns| dns.ip())
                .context("--netns: the scenario runs no lab DNS server ([names] dns = true)")?;
            let path = namespace.write_resolv_conf(dns)?;
            println!(
                "netns    {} (client {}; {}); run programs with: egresslab exec {} -- CMD",
                namespace.name,
                namespace.client,
                path.display(),
                namespace.name
            );
        }
        Ok(())
    }

    /// The ready file's `network` object.
    pub fn json(&self, lab: &Lab) -> serde_json::Value {
        lab.network()
            .map(|info| network_json(info, self.namespace.as_ref()))
            .unwrap_or(serde_json::Value::Null)
    }
}

fn kind_word(kind: DoorKind) -> &'static str {
    match kind {
        DoorKind::Forward(_) => "open",
        DoorKind::Drop => "drop",
        DoorKind::Refuse => "refused",
    }
}

/// Where each part of a networked lab is, as JSON.
fn network_json(info: &NetworkInfo, namespace: Option<&Namespace>) -> serde_json::Value {
    let hosts: Vec<serde_json::Value> = info
        .hosts
        .iter()
        .map(|host| {
            let doors: Vec<serde_json::Value> = host
                .doors
                .iter()
                .map(|door| {
                    serde_json::json!({
                        "port": door.port,
                        "address": door.address.to_string(),
                        "kind": kind_word(door.kind),
                    })
                })
                .collect();
            serde_json::json!({"pattern": host.pattern, "address": host.ip.to_string(), "doors": doors})
        })
        .collect();
    let proxies: serde_json::Map<String, serde_json::Value> = info
        .proxies
        .iter()
        .map(|(name, address)| (name.clone(), serde_json::json!(address.to_string())))
        .collect();
    serde_json::json!({
        "ports": info.ports.to_string(),
        "fallback": info.fallback,
        "dns": info.dns.map(|dns| dns.to_string()),
        "proxies": proxies,
        "hosts": hosts,
        "netns": namespace.map(|ns| serde_json::json!({
            "name": ns.name,
            "client": ns.client.to_string(),
            "lab_prefix": format!("{}/24", ns.lab_prefix),
            "lab_prefix_v6": format!("{}/64", ns.lab_prefix_v6),
        })),
    })
}

/// Arguments of `egresslab exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The client namespace (`up SCENARIO --netns [NAME]`; the default name is the scenario id).
    pub name: String,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Run `egresslab exec`: the program inside the lab's client namespace, its exit status passed on.
pub fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let marker = PathBuf::from("/run/netns").join(&args.name);
    anyhow::ensure!(
        marker.exists(),
        "no network namespace `{}`: start a lab with `egresslab up SCENARIO --netns {}` first",
        args.name,
        args.name
    );
    let status = Command::new("ip")
        .args(["netns", "exec", &args.name])
        .args(&args.command)
        .status()
        .context("running `ip netns exec`")?;
    let code = status.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
