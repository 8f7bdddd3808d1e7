//! Command-line parsing and dispatch. Each subcommand lives in its own module.

pub mod ca;
pub mod capture;
pub mod certs;
pub mod check;
pub mod check_lab;
pub mod ctl;
pub mod explain;
pub mod format;
pub mod generate;
pub mod import;
pub mod inspect;
pub mod list;
pub mod merge;
pub mod netns;
pub mod run;
pub mod score;
pub mod timeline;
pub mod triage;
pub mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// egresslab: start a small fake network (endpoints, corporate proxies, firewalls, DNS/WPAD, UDP) from a
/// scenario file and run connectivity and certificate diagnostics against it, or against a real network.
#[derive(Debug, Parser)]
#[command(name = "egresslab", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). Logs go to standard error.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum Command {
    /// Start each scenario's lab, run the checks, and compare with the scenario's expectations.
    Run(run::Args),
    /// Start one scenario's lab and keep it running until Ctrl-C.
    Up(up::Args),
    /// Change a running lab through its control API (`up --control`), as toxiproxy-cli does.
    #[command(long_about = ctl::LONG_ABOUT, after_long_help = ctl::EXAMPLES)]
    Ctl(ctl::Args),
    /// Run the diagnostic checks against any network, lab or real.
    Check(check::Args),
    /// Read artifact files (service .exe.config, netsh output, TrustSettings.xml, NPS logs, VPN profile XML).
    Inspect(inspect::Args),
    /// Explain an error message or code and what to do about it.
    Explain(explain::Args),
    /// Mint, inspect and locate lab certificates.
    Certs(certs::Args),
    /// List the built-in scenario catalog.
    List(list::Args),
    /// Triage a customer folder: what each file says, the effective proxy, the likely root cause, the
    /// next steps, and (`--out`) the scenario that reproduces it.
    Triage(triage::Args),
    /// Score the built-in checks or a program on generated scenarios with a known root cause.
    Score(score::Args),
    /// Write generated scenarios (with their ground truth as expectations) to a folder.
    Generate(generate::Args),
    /// Join the JSON or JUnit outputs of sharded runs (`run`/`score --partition K/N`) into one.
    Merge(merge::Args),
    /// Read a timeline file back: one line per connection, or one connection's story (`--conn`).
    Timeline(timeline::Args),
    /// Run a program inside a lab's client network namespace (`up SCENARIO --netns [NAME]`).
    Exec(netns::ExecArgs),
    /// Turn a customer's squid.conf (and PAC file) into a scenario that reproduces that proxy.
    Import(import::Args),
}

/// Install the log subscriber: warnings by default, more with -v, or whatever `RUST_LOG` says.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "egresslab=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args, cli.verbose),
        Command::Up(args) => up::run(args),
        Command::Ctl(args) => ctl::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Check(args) => check::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Certs(args) => certs::run(args),
        Command::List(args) => list::run(args),
        Command::Triage(args) => triage::run(args),
        Command::Score(args) => score::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Import(args) => import::run(args),
        Command::Exec(args) => netns::exec(args),
    }
}
