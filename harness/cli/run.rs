//! `egresslab run`: start each scenario's lab, run the checks, and compare with the scenario's expectations.

use std::process::ExitCode;

/// Arguments of `egresslab run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab run`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab run` is not built yet")
}
