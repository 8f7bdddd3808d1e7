//! `egresslab-load`: the load generator of the side-by-side comparison (benches/compare/run.sh).
//!
//! It serves the origins every proxy relays to (echo, sink, late reply, TLS), runs an egresslab lab
//! proxy in its own process, and drives bounded loads through any proxy or directly. Loopback only:
//! every address it connects to must be in 127.0.0.0/8 or ::1, and every load stops by itself.

mod client;
mod drive;
mod origins;
mod proxy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{ensure, Context};
use clap::{Parser, Subcommand};

/// Command line of `egresslab-load`.
#[derive(Debug, Parser)]
#[command(
    name = "egresslab-load",
    about = "Bounded loopback load for comparing proxies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a load goes: straight to an address, or through a proxy with CONNECT.
#[derive(Debug, Clone, clap::Args)]
pub struct Route {
    /// The proxy to CONNECT through; without it the load goes straight to `--to`.
    #[arg(long)]
    pub via: Option<SocketAddr>,
    /// The CONNECT authority (host:port) through a proxy, or the address to connect to directly.
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the echo, sink, late-reply and TLS origins on 127.0.0.1 and write their addresses.
    Origins(origins::Args),
    /// Run an egresslab lab with a plain and an intercepting proxy that relay to the origins.
    Lab(proxy::Args),
    /// One bulk stream of `--mib` MiB; prints MB/s.
    Bulk {
        #[command(flatten)]
        route: Route,
        /// MiB to send.
        #[arg(long, default_value_t = 2048)]
        mib: u64,
    },
    /// Tunnel set-ups (CONNECT, 200, 32-byte echo, close) for `--seconds`; prints set-ups/s, or
    /// with `--latency` "set-ups/s p50-µs p99-µs" (each set-up's time, connect to close).
    Setups {
        #[command(flatten)]
        route: Route,
        /// Set-ups in flight at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Also print the median and 99th percentile set-up time, microseconds.
        #[arg(long)]
        latency: bool,
        /// How long to run.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// Forwarded plain-HTTP requests (`GET http://TO/`) through the proxy `--via`, each worker on
    /// one kept-alive connection (reopened when the proxy closes it) for `--seconds`; prints
    /// requests/s.
    Forwarded {
        #[command(flatten)]
        route: Route,
        /// Connections in use at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// How long to run.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// TLS handshakes with an HTTP request through the route; prints handshakes/s.
    Handshakes {
        #[command(flatten)]
        route: Route,
        /// The SNI and name the served certificate must carry.
        #[arg(long)]
        sni: String,
        /// PEM file of the authority the client trusts.
        #[arg(long)]
        ca: PathBuf,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// How long to run.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// Hold `--count` idle tunnels and report the proxy process's memory (VmHWM, VmRSS) in KiB.
    Idle {
        #[command(flatten)]
        route: Route,
        /// Tunnels to hold.
        #[arg(long, default_value_t = 5000)]
        count: usize,
        /// The proxy's process id (its /proc/PID/status is read).
        #[arg(long)]
        pid: u32,
    },
    /// Half-close a tunnel after 32 bytes; prints `carried` when the late reply arrives, else `lost`.
    Halfclose {
        #[command(flatten)]
        route: Route,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("egresslab-load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Lab(args) = cli.command {
        // The proxy under test gets a multi-threaded runtime like `egresslab up`, unless asked
        // for one thread (`--threads 1`, a current-thread runtime, as Squid's one event loop).
        let runtime = if args.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Runtime::new()
        }
        .context("runtime")?;
        return runtime.block_on(proxy::run(args));
    }
    // Origins and clients run on one thread each, so the proxy under test keeps the other core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Origins(args) => origins::run(args).await,
            Command::Lab(_) => Ok(()),
            Command::Bulk { route, mib } => {
                check(&route)?;
                let rate = drive::bulk(&route, mib * 1024 * 1024).await?;
                println!("{rate:.0}");
                Ok(())
            }
            Command::Setups {
                route,
                concurrency,
                latency,
                seconds,
            } => {
                check(&route)?;
                let measured = drive::setups(&route, concurrency, seconds).await?;
                if latency {
                    println!(
                        "{:.0} {:.0} {:.0}",
                        measured.rate, measured.p50_us, measured.p99_us
                    );
                } else {
                    println!("{:.0}", measured.rate);
                }
                Ok(())
            }
            Command::Forwarded {
                route,
                concurrency,
                seconds,
            } => {
                check(&route)?;
                ensure!(
                    route.via.is_some(),
                    "forwarded requests need a proxy (--via)"
                );
                let rate = drive::forwarded(&route, concurrency, seconds).await?;
                println!("{rate:.0}");
                Ok(())
            }
            Command::Handshakes {
                route,
                sni,
                ca,
                concurrency,
                seconds,
            } => {
                check(&route)?;
                let rate = drive::handshakes(&route, &sni, &ca, concurrency, seconds).await?;
                println!("{rate:.0}");
                Ok(())
            }
            Command::Idle { route, count, pid } => {
                check(&route)?;
                let memory = drive::idle(&route, count, pid).await?;
                println!(
                    "{} {} {}",
                    memory.hwm_kib, memory.rss_before_kib, memory.rss_holding_kib
                );
                Ok(())
            }
            Command::Halfclose { route } => {
                check(&route)?;
                let carried = drive::halfclose(&route).await?;
                println!("{}", if carried { "carried" } else { "lost" });
                Ok(())
            }
        }
    })
}

/// Refuse any address outside loopback: this tool never sends traffic off the machine.
fn check(route: &Route) -> anyhow::Result<()> {
    let first = match route.via {
        Some(via) => via,
        None => route
            .to
            .parse::<SocketAddr>()
            .context("--to must be an address when no --via is given")?,
    };
    ensure!(
        first.ip().is_loopback(),
        "{first} is not a loopback address"
    );
    Ok(())
}
