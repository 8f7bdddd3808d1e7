//! `egresslab list`: list the built-in scenario catalog.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use egresslab::scenario::Catalog;

/// Arguments of `egresslab list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only scenarios carrying this tag (or in this field).
    #[arg(long)]
    pub filter: Option<String>,
    /// Print JSON lines (id, field, path, tags, summary, seed) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `egresslab list`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = render(&args)?;
    // A closed pipe (`egresslab list | head`) is the reader's choice, not an error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn render(args: &Args) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rows = Vec::new();
    for entry in Catalog::entries() {
        let scenario = entry.load()?;
        if let Some(tag) = &args.filter {
            if !scenario.tags.iter().any(|t| t == tag) && entry.field() != tag {
                continue;
            }
        }
        rows.push((entry, scenario));
    }
    if args.json {
        for (entry, scenario) in &rows {
            let line = serde_json::json!({
                "id": entry.id(),
                "field": entry.field(),
                "path": format!("scenarios/{}", entry.path),
                "tags": scenario.tags,
                "summary": scenario.summary,
                "seed": scenario.seed,
            });
            writeln!(out, "{line}")?;
        }
        return Ok(out);
    }
    let id_width = rows
        .iter()
        .map(|(e, _)| e.id().len())
        .max()
        .unwrap_or(2)
        .max(2);
    let field_width = rows
        .iter()
        .map(|(e, _)| e.field().len())
        .max()
        .unwrap_or(5)
        .max(5);
    let tag_texts: Vec<String> = rows.iter().map(|(_, s)| s.tags.join(",")).collect();
    let tag_width = tag_texts.iter().map(String::len).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "{:id_width$}  {:field_width$}  {:tag_width$}  SUMMARY",
        "ID", "FIELD", "TAGS"
    )?;
    for ((entry, scenario), tags) in rows.iter().zip(&tag_texts) {
        writeln!(
            out,
            "{:id_width$}  {:field_width$}  {tags:tag_width$}  {}",
            entry.id(),
            entry.field(),
            scenario.summary
        )?;
    }
    writeln!(out, "{} scenarios", rows.len())?;
    Ok(out)
}
