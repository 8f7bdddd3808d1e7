//! `egresslab explain`: explain an error message or code and what to do about it.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use egresslab::check::taxonomy::{self, paste, Diagnosis};

/// At most this much of standard input is read (a pasted error or a log excerpt, not a whole disk).
const MAX_STDIN: u64 = 1 << 20;

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
    /// An error message (or a piece of one), an error code (809, 0x800B0109, AADSTS50059, 407 …), a curl or
    /// openssl error line, or a diagnosis code; `-` reads the text from standard input.
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
    let query = if args.text.len() == 1 && args.text[0] == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_STDIN)
            .read_to_string(&mut text)
            .context("reading the text to explain from standard input (UTF-8 expected)")?;
        text
    } else {
        args.text.join(" ")
    };
    let found = paste::candidates(&query);
    if found.is_empty() {
        println!(
            "event.unrecognised — not recognised: {:?} matches no known message, code or error number \
             (a fragment needs at least {} characters, a CJK character counting two, and at least {} words); \
             no guess is made.",
            query.trim(),
            paste::MIN_FRAGMENT_WEIGHT,
            paste::MIN_FRAGMENT_WORDS
        );
        return Ok(ExitCode::from(1));
    }
    if found.len() > 1 {
        println!("{} candidates fit; the best first:\n", found.len());
    }
    for (i, c) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        show(c.diagnosis);
        for why in &c.why {
            println!("  matched: {why}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
