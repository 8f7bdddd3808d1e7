//! `egresslab certs`: mint, inspect and locate lab certificates.

use std::process::ExitCode;

/// Arguments of `egresslab certs`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab certs`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab certs` is not built yet")
}
