//! `egresslab up`: start one scenario's lab and keep it running until Ctrl-C (SIGINT) or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use egresslab::scenario::prepare::{
    curl_command, openssl_command, ready_json, target_url, ReadyFile,
};
use egresslab::scenario::Live;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Arguments of `egresslab up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario file or a catalog id.
    pub scenario: String,
    /// Write the ready file (JSON, see docs/exec-contract.md) here once everything listens.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Write the timeline here as JSON lines while the lab runs (read it with `egresslab timeline`).
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Write every HTTP exchange the lab sees here as an HTTP Archive (HAR 1.2), valid after each
    /// entry; credentials are masked.
    #[arg(long, value_name = "FILE.har")]
    pub har: Option<PathBuf>,
    /// Serve the Toxiproxy-compatible control API here (port 0 picks one; see docs/control.md).
    /// Any Toxiproxy client can then add links and toxics, e.g. `--control 127.0.0.1:8474`.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub control: Option<std::net::SocketAddr>,
    /// Allow --control on a non-loopback address: anyone who reaches it can change the lab.
    #[arg(long, requires = "control")]
    pub control_remote: bool,
    /// Serve the live web view here (port 0 picks one; see docs/web.md): the topology, the
    /// connections as they happen, fault toggles and downloads, e.g. `--web 127.0.0.1:0`.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub web: Option<std::net::SocketAddr>,
    /// Allow --web on a non-loopback address: anyone who reaches it sees the lab and can change it.
    #[arg(long, requires = "web")]
    pub web_remote: bool,
    /// The seed of the control API's toxicity and jitter draws, so that a run replays.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Packet capture and TLS key log.
    #[command(flatten)]
    pub capture: super::capture::CaptureArgs,
    /// Own addresses, well-known ports, interfaces, a client namespace.
    #[command(flatten)]
    pub net: super::netns::NetArgs,
    /// The lab CA: the persisted folder (default) or a throw-away one.
    #[command(flatten)]
    pub ca: super::ca::LabCa,
}

/// Run `egresslab up`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(up(args))
}

async fn up(args: Args) -> anyhow::Result<ExitCode> {
    // Checked before the lab starts, so a typo fails at once and prints nothing else.
    if let Some(path) = &args.ready_file {
        let folder = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        if let Some(folder) = folder.filter(|folder| !folder.is_dir()) {
            anyhow::bail!(
                "--ready-file {}: the folder {} does not exist (create it first)",
                path.display(),
                folder.display()
            );
        }
    }
    if let Some(address) = args
        .web
        .filter(|a| !a.ip().is_loopback() && !args.web_remote)
    {
        anyhow::bail!("{}", egresslab::web::WebError::NotLoopback { address });
    }
    let mut found = egresslab::scenario::find(&args.scenario)?;
    anyhow::ensure!(
        found.len() == 1,
        "`{}` names {} scenarios, expected one",
        args.scenario,
        found.len()
    );
    let mut scenario = found.remove(0);
    scenario.plan.ca_dir = args.ca.plan_dir()?;
    let net = args.net.prepare(&scenario.id)?;
    let options = net.as_ref().map(|net| net.options.clone());
    let live = Live::start_networked(scenario, args.capture.single(), options).await?;
    // Installed before anything is announced, so a signal sent once the ready file appears is caught.
    let mut stop = StopSignals::install()?;
    if let Some(path) = &args.timeline {
        live.lab()
            .timeline()
            .stream_to(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.har {
        live.lab()
            .timeline()
            .har_to(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let control = match args.control {
        Some(address) => {
            let options = egresslab::lab::control::ControlOptions {
                address,
                allow_remote: args.control_remote,
                seed: args.seed,
            };
            let control = live.lab().start_control(options)?;
            println!("control  http://{} (Toxiproxy API)", control.address());
            Some(control)
        }
        None => None,
    };
    let web = match args.web {
        Some(address) => {
            // The page's toggles need the control API; without --control it listens on a loopback
            // port of its own.
            let control = match &control {
                Some(control) => control.clone(),
                None => live
                    .lab()
                    .start_control(egresslab::lab::control::ControlOptions {
                        seed: args.seed,
                        ..Default::default()
                    })?,
            };
            let options = egresslab::web::WebOptions {
                address,
                allow_remote: args.web_remote,
            };
            let lab = egresslab::web::WebLab::from_live(
                &live,
                control,
                args.har.as_deref(),
                args.capture.capture.as_deref(),
            );
            let web = egresslab::web::Web::start(options, lab)?;
            println!("web      {}", web.url());
            Some(web)
        }
        None => None,
    };
    let url = target_url(live.scenario(), None);
    let env = live.env_for(url.as_deref(), args.ready_file.as_deref())?;
    print_lab(&live, &env, url.as_deref());
    if let Some(net) = &net {
        net.announce(live.lab())?;
    }
    if let Some(file) = &args.capture.capture {
        println!(
            "capture  {} (open it in Wireshark; see docs/capture.md)",
            file.display()
        );
        // IKE on the responders' ephemeral ports needs a Decode As; TLS, HTTP and DNS do not.
        let hints: Vec<String> = live
            .scenario()
            .plan
            .udp
            .iter()
            .filter_map(|udp| live.lab().udp(&udp.name))
            .map(|address| format!("-d udp.port=={},isakmp", address.port()))
            .collect();
        if !hints.is_empty() {
            println!("         tshark {}", hints.join(" "));
        }
    }
    let ready = match &args.ready_file {
        Some(path) => {
            let mut json = ready_json(live.scenario(), live.client(), live.lab(), &env);
            if let Some(control) = &control {
                json["control"] = serde_json::json!(control.address().to_string());
            }
            if let Some(web) = &web {
                json["web"] = serde_json::json!(web.url());
            }
            if let Some(net) = &net {
                json["network"] = net.json(live.lab());
            }
            Some(ReadyFile::write(path, &json)?)
        }
        None => None,
    };
    eprintln!("lab up; Ctrl-C stops it");
    let signal = stop.wait().await;
    eprintln!("stopping ({signal})");
    drop(web);
    let capture = live.lab().capture().clone();
    live.shutdown().await;
    super::capture::report(&capture, args.capture.capture.as_deref());
    drop(ready);
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) and SIGTERM: both stop the lab the same clean way.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("listening for {name}"))
        };
        Ok(StopSignals {
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Wait for either; returns its name.
    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

fn print_lab(live: &Live, env: &[(String, String)], url: Option<&str>) {
    let scenario = live.scenario();
    println!("scenario {}: {}", scenario.id, scenario.summary);
    for proxy in live.lab().proxies() {
        println!(
            "proxy    {:<12} {}{}",
            proxy.name(),
            proxy.url(),
            if proxy.is_down() { " (down)" } else { "" }
        );
    }
    for endpoint in &scenario.plan.endpoints {
        if let Some(handle) = live.lab().endpoint(&endpoint.name) {
            println!(
                "endpoint {:<12} {}:{} -> {}",
                endpoint.name,
                endpoint.hosts.join(","),
                endpoint.port,
                handle.address()
            );
        }
    }
    match live.lab().ca_dir() {
        Some(dir) => println!(
            "lab CA   {} (persisted in {}: trust it once, see `egresslab certs ca`)",
            live.lab().ca_bundle_path().display(),
            dir.display()
        ),
        None => println!(
            "lab CA   {} (ephemeral: removed when the lab stops)",
            live.lab().ca_bundle_path().display()
        ),
    }
    println!(
        "CA bundle (what the client trusts): {}",
        live.client().trust_bundle.display()
    );
    for (key, value) in env {
        println!("export {key}='{value}'");
    }
    if let Some(url) = url {
        println!("{}", curl_command(live.client(), url));
        if let Some(openssl) = openssl_command(live.client(), url) {
            println!("{openssl}");
        }
    }
}
