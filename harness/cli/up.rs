//! `egresslab up`: start one scenario's lab and keep it running until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use egresslab::lab::Lab;
use egresslab::scenario::prepare::{curl_command, exec_env, prepare, ready_json, target_url};

/// Arguments of `egresslab up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario file or a catalog id.
    pub scenario: String,
    /// Write the ready file (JSON, see docs/exec-contract.md) here once everything listens.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Write the timeline here as JSON lines while the lab runs.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
}

/// Run `egresslab up`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(up(args))
}

async fn up(args: Args) -> anyhow::Result<ExitCode> {
    let mut found = egresslab::scenario::find(&args.scenario)?;
    anyhow::ensure!(
        found.len() == 1,
        "`{}` names {} scenarios, expected one",
        args.scenario,
        found.len()
    );
    let scenario = found.remove(0);
    let lab = Lab::start(scenario.plan.clone())
        .await
        .context("starting the lab")?;
    if let Some(path) = &args.timeline {
        lab.timeline()
            .stream_to(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let prepared = prepare(&lab, &scenario)?;
    let url = target_url(&scenario, None);
    let env = exec_env(
        &scenario,
        &prepared,
        &lab,
        url.as_deref(),
        args.ready_file.as_deref(),
    );
    let ready = ready_json(&scenario, &prepared, &lab, &env);

    println!("scenario {}: {}", scenario.id, scenario.summary);
    for proxy in lab.proxies() {
        println!(
            "proxy    {:<12} {}{}",
            proxy.name(),
            proxy.url(),
            if proxy.is_down() { " (down)" } else { "" }
        );
    }
    for endpoint in &scenario.plan.endpoints {
        if let Some(handle) = lab.endpoint(&endpoint.name) {
            println!(
                "endpoint {:<12} {}:{} -> {}",
                endpoint.name,
                endpoint.hosts.join(","),
                endpoint.port,
                handle.address()
            );
        }
    }
    println!(
        "CA bundle (what the client trusts): {}",
        prepared.trust_bundle.display()
    );
    for (key, value) in &env {
        println!("export {key}='{value}'");
    }
    if let Some(url) = &url {
        println!("{}", curl_command(&prepared, url));
    }
    if let Some(path) = &args.ready_file {
        let text = serde_json::to_string_pretty(&ready)?;
        let partial = path.with_extension("partial");
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("lab up; Ctrl-C stops it");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping");
    lab.shutdown().await;
    if let Some(path) = &args.ready_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(ExitCode::SUCCESS)
}
