//! `egresslab generate`: write generated scenarios as files that `egresslab run DIR` replays.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use egresslab::scenario::generate::{generate, GenOptions};

/// Arguments of `egresslab generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many scenarios.
    #[arg(long, default_value_t = 100)]
    pub cases: usize,
    /// The seed; the same seed always gives the same scenarios.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Also generate paths and causes the built-in checks do not yet get right (PAC, interception,
    /// untrusted root).
    #[arg(long)]
    pub experimental: bool,
    /// Largest number of decoys in one scenario.
    #[arg(long, default_value_t = 4)]
    pub max_decoys: usize,
}

/// Run `egresslab generate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = GenOptions {
        experimental: args.experimental,
        max_decoys: args.max_decoys,
    };
    let cases = generate(args.seed, args.cases, options)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for generated in &cases {
        // Load before writing, so no file the loader would refuse is ever written.
        generated.load()?;
        let path = args.out.join(format!("{}.toml", generated.id));
        std::fs::write(&path, generated.text())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "wrote {} scenarios (seed {}) to {}",
        cases.len(),
        args.seed,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
