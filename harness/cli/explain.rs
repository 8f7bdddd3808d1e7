//! `egresslab explain`: explain an error message or code and what to do about it.

use std::process::ExitCode;

/// Arguments of `egresslab explain`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab explain`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab explain` is not built yet")
}
