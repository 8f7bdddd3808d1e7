//! `egresslab run`: start each scenario's lab, run the checks, and compare with the scenario's expectations.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use egresslab::scenario::partition::Partition;
use egresslab::scenario::runner::{run_scenario_recorded, Outcome, Recording};
use egresslab::scenario::{find, Catalog, ExecExpectation, Expanded};
use futures_util::StreamExt;

use super::format::Format;

/// Arguments of `egresslab run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, folders or catalog ids; none runs the whole built-in catalog.
    pub scenarios: Vec<String>,
    /// Only scenarios carrying this tag.
    #[arg(long)]
    pub filter: Option<String>,
    /// Output format: a table (text), one JSON document, or JUnit XML.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Run this command (with `sh -c`) inside each scenario and judge it against `[[expect.exec]]`.
    #[arg(long)]
    pub exec: Option<String>,
    /// What `--exec` must do where no `[[expect.exec]]` names its client (nor `client = "*"`):
    /// `exit=N`. Without it such a command runs once and is reported "not judged".
    #[arg(long, value_name = "exit=N", requires = "exec", value_parser = egresslab::scenario::exec::parse_default)]
    pub exec_expect: Option<egresslab::scenario::ExecExpectation>,
    /// Time-out of one `--exec` run, in seconds.
    #[arg(long, default_value_t = 30)]
    pub exec_timeout: u64,
    /// Scenarios run at once (default: CPUs × 2).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (by a stable hash of the scenario id); `egresslab merge` joins the shards'
    /// JSON or JUnit outputs.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<Partition>,
    /// Write each scenario's timeline to DIR/ID.jsonl (read it with `egresslab timeline`).
    #[arg(long, value_name = "DIR")]
    pub timeline: Option<PathBuf>,
    /// Write each scenario's HTTP exchanges to DIR/ID.har (HAR 1.2, for browser devtools and HAR
    /// tools; credentials masked).
    #[arg(long, value_name = "DIR")]
    pub har: Option<PathBuf>,
    /// Packet capture (a folder: one SCENARIO.pcapng per scenario) and TLS key log.
    #[command(flatten)]
    pub capture: super::capture::CaptureArgs,
    /// The lab CA: the persisted folder (default) or a throw-away one per lab.
    #[command(flatten)]
    pub ca: super::ca::LabCa,
    /// Also write one self-contained HTML report here (inline CSS and SVG, no script, opens from
    /// disk with no network): a summary bar, a row per scenario, each one's topology and evidence.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// Run `egresslab run`.
pub fn run(args: Args, verbose: u8) -> anyhow::Result<ExitCode> {
    let mut scenarios: Vec<Expanded> = if args.scenarios.is_empty() {
        Catalog::load_all()?
    } else {
        let mut all = Vec::new();
        for query in &args.scenarios {
            all.extend(find(query)?);
        }
        all
    };
    if let Some(tag) = &args.filter {
        scenarios.retain(|s| s.tags.iter().any(|t| t == tag));
    }
    anyhow::ensure!(!scenarios.is_empty(), "no scenario to run");
    let ca_dir = args.ca.plan_dir()?;
    for scenario in &mut scenarios {
        scenario.plan.ca_dir.clone_from(&ca_dir);
    }
    let partition = args.partition.unwrap_or(Partition::WHOLE);
    // Positions in the whole selection, so that `egresslab merge` restores the unsharded order.
    let (positions, scenarios): (Vec<usize>, Vec<Expanded>) = scenarios
        .into_iter()
        .enumerate()
        .filter(|(_, s)| partition.takes_id(&s.id))
        .unzip();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() * 2))
        .max(1);
    for dir in [&args.timeline, &args.har].into_iter().flatten() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    args.capture.prepare_dir()?;
    if let Some(path) = &args.report {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(folder) = folder.filter(|f| !f.is_dir()) {
            anyhow::bail!(
                "--report {}: the folder {} does not exist (create it first)",
                path.display(),
                folder.display()
            );
        }
    }
    let pictures: Vec<serde_json::Value> = match &args.report {
        Some(_) => scenarios
            .iter()
            .map(|s| egresslab::web::plan_json(s, None))
            .collect(),
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let started = Instant::now();
    let outcomes = runtime.block_on(run_all(
        scenarios,
        jobs,
        (
            args.exec.as_deref(),
            Duration::from_secs(args.exec_timeout),
            args.exec_expect.as_ref(),
        ),
        (args.timeline.as_deref(), args.har.as_deref()),
        &args.capture,
    ));
    let all_passed = outcomes.iter().all(Outcome::passed);
    if let Some(path) = &args.report {
        let rows: Vec<egresslab::web::report::Row<'_>> = outcomes
            .iter()
            .zip(pictures)
            .map(|(outcome, topology)| egresslab::web::report::Row { outcome, topology })
            .collect();
        std::fs::write(path, egresslab::web::report::html(&rows, started.elapsed()))
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    let text = match args.format {
        Format::Text => table(&outcomes, started.elapsed(), verbose > 0),
        Format::Json => json(&outcomes, &positions, partition) + "\n",
        Format::Junit => junit(&outcomes, started.elapsed()),
    };
    // A closed pipe (`egresslab run | head`) is the reader's choice; the exit status still tells.
    if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn run_all(
    scenarios: Vec<Expanded>,
    jobs: usize,
    (exec, timeout, fallback): (Option<&str>, Duration, Option<&ExecExpectation>),
    (timeline, har): (Option<&Path>, Option<&Path>),
    capture: &super::capture::CaptureArgs,
) -> Vec<Outcome> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(scenarios.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // The checks' futures are not Send, so scenarios run concurrently on this task, `jobs` at a time.
    let mut outcomes: Vec<(usize, Outcome)> =
        futures_util::stream::iter(scenarios.iter().enumerate())
            .map(|(index, scenario)| {
                let bar = bar.clone();
                async move {
                    let recording = Recording::in_folders(
                        &scenario.id,
                        timeline,
                        har,
                        capture.for_scenario(&scenario.id),
                    );
                    let outcome =
                        run_scenario_recorded(scenario, exec, timeout, fallback, &recording).await;
                    if let Some(bar) = bar {
                        bar.set_message(scenario.id.clone());
                        bar.inc(1);
                    }
                    (index, outcome)
                }
            })
            .buffer_unordered(jobs)
            .collect()
            .await;
    outcomes.sort_by_key(|(index, _)| *index);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outcomes
}

fn table(outcomes: &[Outcome], total: Duration, summaries: bool) -> String {
    let mut out = String::new();
    let got_text = |o: &Outcome| -> String {
        if o.got.is_empty() {
            "(no findings)".to_owned()
        } else {
            let codes: Vec<&str> = o.got.iter().map(|c| c.as_str()).collect();
            codes.join(", ")
        }
    };
    // Every column as wide as its longest cell, so long codes never push the others out of line.
    let width = |cells: &mut dyn Iterator<Item = usize>, header: &str| {
        cells.max().unwrap_or(0).max(header.len())
    };
    let w = width(&mut outcomes.iter().map(|o| o.id.len()), "SCENARIO");
    let ew = width(&mut outcomes.iter().map(|o| o.expected.len()), "EXPECTED");
    let gw = width(&mut outcomes.iter().map(|o| got_text(o).len()), "GOT");
    let _ = writeln!(
        out,
        "{:w$}  {:ew$}  {:gw$}  {:>7}  RESULT",
        "SCENARIO", "EXPECTED", "GOT", "TIME"
    );
    for o in outcomes {
        let verdict = match (o.passed(), o.notes.is_empty()) {
            (true, true) => "PASS",
            (true, false) => "PASS (exec not judged)",
            (false, _) => "FAIL",
        };
        let _ = writeln!(
            out,
            "{:w$}  {:ew$}  {:gw$}  {:>5}ms  {verdict}",
            o.id,
            o.expected,
            got_text(o),
            o.elapsed.as_millis()
        );
        for problem in &o.problems {
            let _ = writeln!(out, "{:w$}    - {problem}", "");
        }
        for note in &o.notes {
            let _ = writeln!(out, "{:w$}    · {note}", "");
        }
        if summaries {
            for finding in o.report.iter().flat_map(|r| r.findings.iter()) {
                if finding.severity > egresslab::check::Severity::Ok {
                    let _ = writeln!(
                        out,
                        "{:w$}    {} {}: {}",
                        "", finding.severity, finding.code, finding.summary
                    );
                }
            }
        }
    }
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let unjudged = outcomes.iter().filter(|o| !o.notes.is_empty()).count();
    let _ = write!(
        out,
        "{passed}/{} passed in {:.1} s",
        outcomes.len(),
        total.as_secs_f64()
    );
    if unjudged > 0 {
        let _ = write!(out, "; the --exec command was not judged in {unjudged}");
    }
    out.push('\n');
    out
}

fn json(outcomes: &[Outcome], positions: &[usize], partition: Partition) -> String {
    let list: Vec<serde_json::Value> = outcomes
        .iter()
        .zip(positions)
        .map(|(o, position)| {
            serde_json::json!({
                "scenario": o.id, "passed": o.passed(), "expected": o.expected, "got": o.got,
                "problems": problems(o), "notes": o.notes,
                "exec": exec_state(o), "elapsed_ms": o.elapsed.as_millis() as u64,
                "position": position, "partition": partition.to_string(),
                "report": serde_json::to_value(&o.report).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// Whether an `--exec` command was judged: `"not judged"` when nothing judged it, else null (no
/// command, or judged: its problems say how it did).
fn exec_state(outcome: &Outcome) -> serde_json::Value {
    if outcome.notes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!("not judged")
    }
}

fn problems(outcome: &Outcome) -> Vec<String> {
    outcome.problems.iter().map(ToString::to_string).collect()
}

fn junit(outcomes: &[Outcome], elapsed: Duration) -> String {
    use egresslab::check::report::{junit_document, JunitCase, JunitOutcome};
    let cases: Vec<JunitCase> = outcomes
        .iter()
        .map(|o| JunitCase {
            classname: "scenario".into(),
            name: o.id.clone(),
            time: o.elapsed,
            outcome: if o.passed() && o.notes.is_empty() {
                JunitOutcome::Passed
            } else if o.passed() {
                JunitOutcome::Noted(o.notes.join("\n"))
            } else {
                JunitOutcome::Failed {
                    kind: "scenario".into(),
                    message: problems(o).join("; "),
                    detail: problems(o).join("\n"),
                }
            },
        })
        .collect();
    junit_document("egresslab", elapsed, &cases)
}
