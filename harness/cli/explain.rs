//! `egresslab explain`: explain an error message or code and what to do about it.

use std::process::ExitCode;

use egresslab::check::taxonomy::{self, Diagnosis};

/// Output format of `--list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One line per code.
    Text,
    /// The docs/diagnoses.md page.
    Markdown,
}

/// Arguments of `egresslab explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An error message, an error code (809, 0x800B0109, AADSTS50059, 407 …) or a diagnosis code.
    #[arg(required_unless_present = "list")]
    pub text: Vec<String>,
    /// List every diagnosis code.
    #[arg(long)]
    pub list: bool,
    /// Format of `--list`.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

fn show(d: &Diagnosis) {
    println!("{} ({}) — {}", d.code, d.severity, d.title);
    println!("  {}", d.meaning);
    for s in &d.steps {
        println!("  step: {s}");
    }
    println!("  source: {}", d.source);
}

/// Run `egresslab explain`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list {
        match args.format {
            ListFormat::Markdown => print!("{}", taxonomy::markdown()),
            ListFormat::Text => {
                for d in &taxonomy::taxonomy().entries {
                    println!("{:<48} {:<8} {}", d.code, d.severity.to_string(), d.title);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let query = args.text.join(" ");
    let found = taxonomy::explain(&query);
    if found.is_empty() {
        println!("event.unrecognised — not recognised: {query:?} matches no known message or code exactly; no guess is made.");
        return Ok(ExitCode::from(1));
    }
    for (i, d) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        show(d);
    }
    Ok(ExitCode::SUCCESS)
}
