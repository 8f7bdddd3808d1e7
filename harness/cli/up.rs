//! `egresslab up`: start one scenario's lab and keep it running until Ctrl-C.

use std::process::ExitCode;

/// Arguments of `egresslab up`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab up`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab up` is not built yet")
}
