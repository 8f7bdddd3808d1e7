//! `egresslab-load lab`: an egresslab lab in its own process, a plain and an intercepting proxy
//! relaying to the origins of `egresslab-load origins` by passthrough routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use egresslab::lab::control::ControlOptions;
use egresslab::lab::{InterceptPlan, Lab, ProxyPlan};

use crate::origins::{wait_for_stop, TLS_HOST};

/// Arguments of `egresslab-load lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persisted lab CAs (the same folder the origins use).
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// The ready file `egresslab-load origins` wrote.
    #[arg(long)]
    pub origins: PathBuf,
    /// Written once the proxies listen: `PLAIN=`, `INSPECT=`, `UP_MS=` shell assignments.
    #[arg(long)]
    pub ready_file: PathBuf,
    /// Runtime threads: 1 runs the lab on one thread; anything else, tokio's default (one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Stop after this many seconds whatever happens.
    #[arg(long, default_value_t = 1800)]
    pub max_seconds: u64,
    /// Also start the control API on a loopback port (`CONTROL=` in the ready file), to measure
    /// what having it on costs the proxies.
    #[arg(long)]
    pub control: bool,
    /// Timeline events kept in memory (the lab's default when absent): what the timeline's share
    /// of the memory per tunnel is.
    #[arg(long)]
    pub timeline_capacity: Option<usize>,
}

/// The address assigned to `name` in a ready file of `NAME=address` lines.
fn address(file: &str, name: &str) -> anyhow::Result<SocketAddr> {
    file.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
        .with_context(|| format!("no {name}= in the origins file"))?
        .parse()
        .with_context(|| format!("{name} is not an address"))
}

/// Start the lab, write the ready file, serve until stopped.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let origins = std::fs::read_to_string(&args.origins).context("reading the origins file")?;
    let started = Instant::now();
    let mut builder = Lab::builder();
    if let Some(events) = args.timeline_capacity {
        builder = builder.timeline_capacity(events);
    }
    let lab = builder
        .ca_dir(&args.ca_dir)
        .passthrough("echo.egresslab.test", None, address(&origins, "ECHO")?)
        .passthrough("sink.egresslab.test", None, address(&origins, "SINK")?)
        .passthrough("late.egresslab.test", None, address(&origins, "LATE")?)
        .passthrough(TLS_HOST, None, address(&origins, "TLS")?)
        .passthrough("http.egresslab.test", None, address(&origins, "HTTP")?)
        .proxy(ProxyPlan::new("plain"))
        .proxy(ProxyPlan {
            intercept: Some(InterceptPlan {
                passthrough: Vec::new(),
            }),
            ..ProxyPlan::new("inspect")
        })
        .start()
        .await
        .context("starting the lab")?;
    let up = started.elapsed();
    let address_of = |name: &str| lab.proxy(name).map(|proxy| proxy.address());
    let mut ready = format!(
        "PLAIN={}\nINSPECT={}\nUP_MS={:.1}\n",
        address_of("plain").context("no plain proxy")?,
        address_of("inspect").context("no inspect proxy")?,
        up.as_secs_f64() * 1000.0
    );
    let control = if args.control {
        let control = lab
            .start_control(ControlOptions::default())
            .context("starting the control API")?;
        ready.push_str(&format!("CONTROL={}\n", control.address()));
        Some(control)
    } else {
        None
    };
    std::fs::write(&args.ready_file, ready).context("writing the ready file")?;
    wait_for_stop(Duration::from_secs(args.max_seconds)).await;
    drop(control);
    lab.shutdown().await;
    Ok(())
}
