//! `egresslab triage DIR`: read a customer folder, give one report (what each file says, the effective
//! proxy, the likely root cause with its evidence, the next steps) and write the scenario that
//! reproduces it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use egresslab::scenario::triage::{self, write};

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people.
    Text,
    /// One JSON document for tools.
    Json,
}

/// Arguments of `egresslab triage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The customer's folder (netsh output, .exe.config, TrustSettings.xml, event text, NPS log,
    /// ProfileXML, PAC, pasted errors, a store/ folder of certificates).
    pub dir: PathBuf,
    /// Write the scenario that reproduces the verdict here (run it with `egresslab run FILE`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Run `egresslab triage`: exit 0 with a report (and the scenario, with `--out`), 2 when the folder
/// cannot be read, 3 when `--out` was asked for but no scenario reproduces the verdict.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (folder, report) = match triage::analyse(&args.dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("egresslab triage: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut written = None;
    let mut status = ExitCode::SUCCESS;
    if let Some(out) = &args.out {
        let name = out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("triage")
            .to_string();
        match write::scenario(&name, &folder, &report.verdict) {
            Ok(text) => {
                std::fs::write(out, text)
                    .with_context(|| format!("writing the scenario to {}", out.display()))?;
                written = Some(out.display().to_string());
            }
            Err(e) => {
                eprintln!("egresslab triage: no scenario written: {e}");
                status = ExitCode::from(3);
            }
        }
    }
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&report)?;
            v["scenario"] = serde_json::json!(written);
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            print!("{}", triage::render(&report));
            if let Some(w) = &written {
                println!("\nscenario written: {w} (egresslab run {w})");
            }
        }
    }
    Ok(status)
}
