//! `egresslab merge`: join the outputs of sharded runs (`--partition K/N`) into the one report or score
//! an unsharded run would have given.
//!
//! Three kinds of input, told apart by their content: `egresslab score --format json` (an object with
//! `results`: the cases are put back in index order and the scorecard is tallied again from them, so it
//! is the unsharded score exactly), `egresslab run --format json` (an array whose items carry their
//! `position` in the whole selection: put back in that order) and `egresslab run --format junit`
//! (test cases joined into one suite, ordered by name). The shards must belong together: the same seed,
//! case count, decoy limit and judge, the same N, every K once, no case or scenario twice.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use egresslab::check::artifacts::xml;
use egresslab::check::report::{junit_document, JunitCase, JunitOutcome};
use egresslab::scenario::generate::{CaseResult, Scorecard};
use egresslab::scenario::partition::Partition;

use super::format::Format;
use super::score::{self, RunFiles, RunInfo};

/// Arguments of `egresslab merge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shards' outputs: all `egresslab score --format json`, all `egresslab run --format json`, or
    /// all `egresslab run --format junit` files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format (default: the inputs' own; a score can also be printed as text).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// One input file, read and told apart.
enum Shard {
    Score(serde_json::Value),
    Run(Vec<serde_json::Value>),
    Junit(xml::Element),
}

fn read(path: &Path) -> anyhow::Result<Shard> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.trim_start().starts_with('<') {
        let root =
            xml::parse(&text).with_context(|| format!("{}: not JUnit XML", path.display()))?;
        return Ok(Shard::Junit(root));
    }
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: neither JSON nor JUnit XML (expected the output of `egresslab score --format json` or `egresslab run --format json|junit`)",
            path.display()
        )
    })?;
    match value {
        serde_json::Value::Array(items) => Ok(Shard::Run(items)),
        serde_json::Value::Object(ref map) if map.contains_key("results") => {
            Ok(Shard::Score(value))
        }
        _ => bail!(
            "{}: JSON without `results` and not an array: not the output of `egresslab score --format json` or `egresslab run --format json`",
            path.display()
        ),
    }
}

/// Run `egresslab merge`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut scores = Vec::new();
    let mut runs = Vec::new();
    let mut junits = Vec::new();
    for path in &args.files {
        match read(path)? {
            Shard::Score(v) => scores.push((path.as_path(), v)),
            Shard::Run(v) => runs.push((path.as_path(), v)),
            Shard::Junit(v) => junits.push((path.as_path(), v)),
        }
    }
    let kinds = [!scores.is_empty(), !runs.is_empty(), !junits.is_empty()];
    ensure!(
        kinds.iter().filter(|k| **k).count() == 1,
        "the files mix score JSON, run JSON and JUnit XML: merge the shards of one run at a time"
    );
    if !scores.is_empty() {
        let format = args.format.unwrap_or(Format::Json);
        ensure!(
            format != Format::Junit,
            "a score is written as text or json, not junit"
        );
        merge_scores(&scores, format)
    } else if !runs.is_empty() {
        ensure!(
            matches!(args.format, None | Some(Format::Json)),
            "run JSON merges into JSON (merge the shards' --format junit files for JUnit)"
        );
        merge_runs(runs)
    } else {
        ensure!(
            matches!(args.format, None | Some(Format::Junit)),
            "JUnit merges into JUnit (merge the shards' --format json files for JSON)"
        );
        merge_junit(&junits)
    }
}

/// Check that `partitions` (one per file) are shards of one run, each once, and with `all`, every one
/// of the N.
fn check_shards(partitions: &[(&Path, Partition)], all: bool) -> anyhow::Result<()> {
    let Some((_, first)) = partitions.first() else {
        bail!("no shard to merge");
    };
    let n = first.count;
    let mut seen: Vec<Option<&Path>> = vec![None; n];
    for (path, p) in partitions {
        ensure!(
            p.count == n,
            "{}: shard {p}, but {} is a shard of {n}",
            path.display(),
            partitions[0].0.display()
        );
        if let Some(other) = seen[p.index - 1] {
            bail!(
                "{} and {} are both shard {p}",
                other.display(),
                path.display()
            );
        }
        seen[p.index - 1] = Some(path);
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| seen[k - 1].is_none())
        .map(|k| format!("{k}/{n}"))
        .collect();
    ensure!(
        !all || missing.is_empty(),
        "shard(s) missing: {}",
        missing.join(", ")
    );
    Ok(())
}

fn merge_scores(shards: &[(&Path, serde_json::Value)], format: Format) -> anyhow::Result<ExitCode> {
    let mut infos = Vec::new();
    let mut files = RunFiles::default();
    let mut results: Vec<CaseResult> = Vec::new();
    for (path, value) in shards {
        let info: RunInfo = serde_json::from_value(value.clone())
            .with_context(|| format!("{}: the score's run fields", path.display()))?;
        let shard_files: RunFiles = serde_json::from_value(value.clone())
            .with_context(|| format!("{}: the score's file fields", path.display()))?;
        let shard_results: Vec<CaseResult> = serde_json::from_value(value["results"].clone())
            .with_context(|| format!("{}: `results`", path.display()))?;
        if let Some(r) = shard_results
            .iter()
            .find(|r| !info.partition.takes_case(r.index))
        {
            bail!(
                "{}: case {} is not in shard {}",
                path.display(),
                r.id,
                info.partition
            );
        }
        files.elapsed_ms = files.elapsed_ms.max(shard_files.elapsed_ms);
        files.out.extend(shard_files.out);
        files.replays.extend(shard_files.replays);
        files.shrunk.extend(shard_files.shrunk);
        results.extend(shard_results);
        infos.push((*path, info));
    }
    let (first_path, first) = &infos[0];
    for (path, info) in &infos {
        let same = |a: &RunInfo, b: &RunInfo| {
            a.seed == b.seed
                && a.total_cases == b.total_cases
                && a.max_decoys == b.max_decoys
                && a.judge == b.judge
        };
        ensure!(
            same(info, first),
            "{} (seed {}, {} cases, max decoys {}, judge {:?}) and {} (seed {}, {} cases, max decoys {}, judge {:?}) are not shards of one run",
            first_path.display(), first.seed, first.total_cases, first.max_decoys, first.judge,
            path.display(), info.seed, info.total_cases, info.max_decoys, info.judge
        );
    }
    let partitions: Vec<(&Path, Partition)> =
        infos.iter().map(|(p, i)| (*p, i.partition)).collect();
    check_shards(&partitions, true)?;
    results.sort_by_key(|r| r.index);
    if let Some(pair) = results.windows(2).find(|w| w[0].index == w[1].index) {
        bail!("case {} is in two shards", pair[0].id);
    }
    ensure!(
        results.len() == first.total_cases,
        "the shards hold {} cases, the run has {}",
        results.len(),
        first.total_cases
    );
    let card = Scorecard::new(&results);
    let info = RunInfo {
        partition: Partition::WHOLE,
        ..first.clone()
    };
    score::print(&card, &results, &info, &files, format)?;
    Ok(score::exit_code(&card))
}

fn merge_runs(shards: Vec<(&Path, Vec<serde_json::Value>)>) -> anyhow::Result<ExitCode> {
    let mut partitions = Vec::new();
    let mut items: Vec<(u64, serde_json::Value)> = Vec::new();
    for (path, list) in shards {
        let mut partition = None;
        for (i, mut item) in list.into_iter().enumerate() {
            let place = || format!("{}: item {i}", path.display());
            let position = item["position"].as_u64().with_context(|| {
                format!("{}: no `position` (a run before --partition?)", place())
            })?;
            let p: Partition = item["partition"]
                .as_str()
                .with_context(|| format!("{}: no `partition`", place()))?
                .parse()
                .with_context(place)?;
            ensure!(
                partition.is_none_or(|q| q == p),
                "{}: shard {p} in a file of another shard",
                place()
            );
            partition = Some(p);
            item["partition"] = serde_json::Value::String(Partition::WHOLE.to_string());
            items.push((position, item));
        }
        // An empty shard (more shards than scenarios) says nothing about which shard it is.
        if let Some(p) = partition {
            partitions.push((path, p));
        }
    }
    if !partitions.is_empty() {
        // Missing shards show as gaps in the positions below.
        check_shards(&partitions, false)?;
    }
    items.sort_by_key(|(position, _)| *position);
    for (i, (position, item)) in items.iter().enumerate() {
        ensure!(
            *position == i as u64,
            "scenario {} is at position {position} but only {i} came before it: a shard is missing or given twice",
            item["scenario"]
        );
    }
    let all_passed = items.iter().all(|(_, item)| item["passed"] == true);
    let list: Vec<serde_json::Value> = items.into_iter().map(|(_, item)| item).collect();
    println!("{}", serde_json::Value::Array(list));
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn junit_case(path: &Path, case: &xml::Element) -> anyhow::Result<JunitCase> {
    let attr = |name: &str| {
        case.attr(name).map(str::to_owned).with_context(|| {
            format!(
                "{}: a <testcase> at byte {} has no {name}",
                path.display(),
                case.offset
            )
        })
    };
    let seconds: f64 = attr("time")?.parse().with_context(|| {
        format!(
            "{}: <testcase> at byte {}: time is not a number",
            path.display(),
            case.offset
        )
    })?;
    let outcome = if let Some(failure) = case.child("failure") {
        JunitOutcome::Failed {
            kind: failure.attr("type").unwrap_or_default().to_owned(),
            message: failure.attr("message").unwrap_or_default().to_owned(),
            detail: failure.text.clone(),
        }
    } else if let Some(out) = case.child("system-out") {
        JunitOutcome::Noted(out.text.clone())
    } else {
        JunitOutcome::Passed
    };
    Ok(JunitCase {
        classname: attr("classname")?,
        name: attr("name")?,
        time: Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default(),
        outcome,
    })
}

fn merge_junit(shards: &[(&Path, xml::Element)]) -> anyhow::Result<ExitCode> {
    let mut cases = Vec::new();
    let mut suite = None;
    let mut time = Duration::ZERO;
    for (path, root) in shards {
        for s in root
            .find_all("testsuite")
            .into_iter()
            .chain((root.name == "testsuite").then_some(root))
        {
            suite.get_or_insert_with(|| s.attr("name").unwrap_or("egresslab").to_owned());
            let seconds: f64 = s.attr("time").and_then(|t| t.parse().ok()).unwrap_or(0.0);
            time = time.max(Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default());
            for case in s.find_all("testcase") {
                cases.push(junit_case(path, case)?);
            }
        }
    }
    cases.sort_by(|a, b| (&a.name, &a.classname).cmp(&(&b.name, &b.classname)));
    if let Some(pair) = cases
        .windows(2)
        .find(|w| w[0].name == w[1].name && w[0].classname == w[1].classname)
    {
        bail!("test case {} is in two shards", pair[0].name);
    }
    let failed = cases
        .iter()
        .any(|c| matches!(c.outcome, JunitOutcome::Failed { .. }));
    print!(
        "{}",
        junit_document(suite.as_deref().unwrap_or("egresslab"), time, &cases)
    );
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
