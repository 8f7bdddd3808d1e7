//! `egresslab timeline FILE`: a timeline file (from `up --timeline` or `run --timeline`) read back
//! as one line per connection, or one connection's whole story.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use egresslab::lab::stories::{Stories, Summary};
use egresslab::lab::ConnId;

use super::format::{self, Format};

/// Arguments of `egresslab timeline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The timeline file (JSON lines, one event each).
    pub file: PathBuf,
    /// Print this connection's whole story: its events and those of every leg the lab opened for
    /// it, in order.
    #[arg(long, value_name = "ID")]
    pub conn: Option<ConnId>,
    /// Output format.
    #[arg(long, value_parser = format::only(&[Format::Text, Format::Json]), default_value = "text")]
    pub format: Format,
}

/// Run `egresslab timeline`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading the timeline {}", args.file.display()))?;
    let stories = Stories::read(&text);
    for bad in &stories.bad_lines {
        eprintln!("{}: {bad} (skipped)", args.file.display());
    }
    let out = match args.conn {
        Some(id) => {
            let story = stories.story(id);
            anyhow::ensure!(
                !story.is_empty(),
                "{}: no event belongs to connection {id} (`egresslab timeline {}` lists them)",
                args.file.display(),
                args.file.display()
            );
            match args.format {
                Format::Json => story.iter().map(|e| e.to_string() + "\n").collect(),
                _ => story_text(&story),
            }
        }
        None => {
            let summaries = stories.summaries();
            match args.format {
                Format::Json => summaries_json(&summaries),
                _ => table(&summaries),
            }
        }
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn table(summaries: &[Summary]) -> String {
    let mut out = format!(
        "{:>5}  {:<27}  {:<21}  {:<40}  {:>9}  {:>9}  {:>9}  {}  {}\n",
        "conn", "time", "client", "path", "up B", "down B", "ms", "verdict", "| close"
    );
    for s in summaries {
        let _ = writeln!(
            out,
            "{:>5}  {:<27}  {:<21}  {:<40}  {:>9}  {:>9}  {:>9.1}  {}  | {}",
            s.id,
            s.time,
            s.client,
            s.path,
            s.bytes_up,
            s.bytes_down,
            s.duration_ms,
            s.verdict,
            s.close
        );
    }
    let _ = writeln!(out, "{} connections", summaries.len());
    out
}

fn summaries_json(summaries: &[Summary]) -> String {
    let rows: Vec<serde_json::Value> = summaries
        .iter()
        .map(|s| {
            serde_json::json!({
                "conn": s.id, "time": s.time, "client": s.client, "path": s.path,
                "verdict": s.verdict, "bytes_up": s.bytes_up, "bytes_down": s.bytes_down,
                "duration_ms": s.duration_ms, "close": s.close,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string() + "\n"
}

/// One event a line: time, connection, source, kind, and the other fields as `key=value`.
fn story_text(story: &[&serde_json::Value]) -> String {
    const SHOWN: [&str; 7] = ["v", "seq", "at_ms", "time", "source", "conn", "event"];
    let mut out = String::new();
    for event in story {
        let mut fields = String::new();
        if let Some(object) = event.as_object() {
            for (key, value) in object.iter().filter(|(k, _)| !SHOWN.contains(&k.as_str())) {
                let value = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let _ = write!(fields, " {key}={value}");
            }
        }
        let _ = writeln!(
            out,
            "{:>10.3} ms  {}  conn {:<4} {:<18} {:<15}{fields}",
            event["at_ms"].as_f64().unwrap_or_default(),
            event["time"].as_str().unwrap_or("-"),
            event["conn"]
                .as_u64()
                .map_or("-".to_owned(), |c| c.to_string()),
            event["source"].as_str().unwrap_or("-"),
            event["event"].as_str().unwrap_or("-"),
        );
    }
    out
}
