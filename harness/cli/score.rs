//! `egresslab score`: generate scenarios from a seed, let the built-in checks or an external program
//! diagnose each, and print a confusion matrix by diagnosis code, the accuracy and the replay files of
//! every miss.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use egresslab::scenario::generate::score::{json, EXEC_TIMEOUT};
use egresslab::scenario::generate::{
    generate, render, run_cases, shrink, CaseResult, GenOptions, Judge, Scorecard,
};

use super::format::{self, Format};

/// Arguments of `egresslab score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The diagnoser to score: run with `sh -c` inside each scenario's lab, it prints diagnosis codes on
    /// stdout (see docs/generated-scenarios.md). Without it the built-in checks are scored.
    #[arg(long)]
    pub exec: Option<String>,
    /// Time-out of one `--exec` run, in seconds.
    #[arg(long, default_value_t = EXEC_TIMEOUT.as_secs())]
    pub exec_timeout: u64,
    /// How many scenarios.
    #[arg(long, default_value_t = 100)]
    pub cases: usize,
    /// The seed; the same seed always gives the same scenarios.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_parser = format::only(&[Format::Text, Format::Json]), default_value = "text")]
    pub format: Format,
    /// Where the replay files of misses go (default: a new temporary folder, kept and printed).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scenarios run at once (default: CPUs × 2).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Shrink up to this many misses to a minimal topology (written as `ID-min.toml`).
    #[arg(long, default_value_t = 5)]
    pub shrink: usize,
    /// Also generate paths and causes the built-in checks do not yet get right.
    #[arg(long)]
    pub experimental: bool,
    /// Largest number of decoys in one scenario.
    #[arg(long, default_value_t = 4)]
    pub max_decoys: usize,
    /// Also write the scorecard as one self-contained HTML file here (no script, no network): the
    /// confusion matrix as a heat map, recall per cause, the misses.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// Run `egresslab score`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = GenOptions {
        experimental: args.experimental,
        max_decoys: args.max_decoys,
    };
    let mut cases = generate(args.seed, args.cases, options)?;
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("egresslab-score-")
            .tempdir()
            .context("creating a folder for the replay files")?
            .keep(),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let judge = match &args.exec {
        Some(command) => Judge::Exec {
            command,
            timeout: Duration::from_secs(args.exec_timeout),
        },
        None => Judge::Builtin,
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() * 2));
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(cases.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |r: &CaseResult| {
        if let Some(bar) = &bar {
            bar.set_message(r.id.clone());
            bar.inc(1);
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let started = Instant::now();
    let results = runtime.block_on(run_cases(&cases, judge, jobs, &progress));
    let elapsed = started.elapsed();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let card = Scorecard::new(&results);
    let mut replays = Vec::new();
    let mut shrunk = Vec::new();
    for miss in &card.misses {
        let Some(generated) = cases.iter_mut().find(|g| g.id == miss.id) else {
            continue;
        };
        let path = out.join(format!("{}.toml", generated.id));
        std::fs::write(&path, generated.text())
            .with_context(|| format!("writing {}", path.display()))?;
        replays.push(path.display().to_string());
        if shrunk.len() < args.shrink {
            let (case, result) = runtime.block_on(shrink(generated, judge, 48));
            if !result.correct {
                let id = format!("{}-min", generated.id);
                let path = out.join(format!("{id}.toml"));
                let text = render(&case, &id, &format!("{}, shrunk", generated.origin()));
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                shrunk.push(path.display().to_string());
            }
        }
    }
    let judge_name = args
        .exec
        .clone()
        .unwrap_or_else(|| "built-in checks".to_owned());
    if let Some(path) = &args.report {
        let html = egresslab::web::report::score_html(&card, &judge_name, args.seed, elapsed);
        std::fs::write(path, html)
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    match args.format {
        // Refused when the arguments are parsed (`format::only`); kept for a caller that builds Args.
        Format::Junit => anyhow::bail!("egresslab score writes text or json, not junit"),
        Format::Json => {
            let extra = serde_json::json!({
                "seed": args.seed, "judge": judge_name, "elapsed_ms": elapsed.as_millis() as u64,
                "out": out.display().to_string(), "replays": replays, "shrunk": shrunk,
            });
            println!("{}", json(&card, extra));
        }
        Format::Text => {
            println!("{}", card.matrix_text());
            for miss in &card.misses {
                let got = if miss.verdict.is_empty() {
                    miss.error.clone().unwrap_or_else(|| "healthy".to_owned())
                } else {
                    miss.verdict.join(", ")
                };
                println!("MISS {}  truth {}  got {}", miss.id, miss.truth, got);
            }
            println!(
                "\n{}: {}/{} correct ({:.1} %), {} exact, seed {}, {} scenarios in {:.1} s",
                judge_name,
                card.correct,
                card.cases,
                card.accuracy * 100.0,
                card.exact,
                args.seed,
                card.cases,
                elapsed.as_secs_f64()
            );
            if !replays.is_empty() {
                println!(
                    "replay files of the {} misses in {} (egresslab run FILE){}",
                    replays.len(),
                    out.display(),
                    if shrunk.is_empty() {
                        String::new()
                    } else {
                        format!("; {} shrunk to *-min.toml", shrunk.len())
                    }
                );
            }
        }
    }
    Ok(if card.misses.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
