//! `egresslab run --report FILE.html`: one self-contained HTML file of a run (inline CSS and SVG,
//! no script, nothing fetched), a summary bar, a row per scenario (expected, got, time, pass or
//! fail) and, per scenario, its topology picture and each finding with its evidence.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

/// Text made safe inside HTML (and SVG) text and attribute values: the check reports' XML escape.
pub(super) use crate::check::report::xml_escape as escape;
use crate::scenario::Outcome;

/// One scenario of the report: its outcome and its topology ([`super::plan_json`]).
#[derive(Debug)]
pub struct Row<'a> {
    /// What the run found.
    pub outcome: &'a Outcome,
    /// The scenario's topology.
    pub topology: Value,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem;color:#1b1b1b;background:#fff}\
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#eee}td:nth-child(4){white-space:nowrap}.pass{color:#0a5c1f;font-weight:bold}.fail{color:#8a0010;font-weight:bold}\
.bar{display:flex;height:22px;border:1px solid #555;margin:.5rem 0}.bar span{display:block;color:#fff;padding:0 6px;line-height:22px}\
.bar .p{background:#1e7a34}.bar .f{background:#a3001b}details{margin:.4rem 0;border:1px solid #ccc;padding:.3rem .6rem}\
summary{cursor:pointer;font-weight:bold}h3{font-size:1rem}code{font-size:12px}a{color:#0040a0}";

fn got(outcome: &Outcome) -> String {
    if outcome.got.is_empty() {
        "(no findings)".to_owned()
    } else {
        outcome
            .got
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The report of `rows`, run in `total`.
pub fn html(rows: &[Row<'_>], total: Duration) -> String {
    let passed = rows.iter().filter(|r| r.outcome.passed()).count();
    let failed = rows.len() - passed;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>egresslab run: {passed}/{} passed</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head><body><main>\
         <h1>egresslab run: {passed} of {} passed</h1><p>{} scenarios in {:.1} s; {failed} failed.</p>",
        rows.len(),
        rows.len(),
        rows.len(),
        total.as_secs_f64()
    );
    let share = |n: usize| {
        if rows.is_empty() {
            0.0
        } else {
            100.0 * n as f64 / rows.len() as f64
        }
    };
    let _ = write!(
        out,
        "<div class=\"bar\" role=\"img\" aria-label=\"{passed} passed, {failed} failed\"><span class=\"p\" style=\"width:{:.1}%\">{passed} passed</span>{}</div>",
        share(passed),
        if failed > 0 {
            format!("<span class=\"f\" style=\"width:{:.1}%\">{failed} failed</span>", share(failed))
        } else {
            String::new()
        }
    );
    out.push_str("<h2>Scenarios</h2><table><thead><tr><th scope=\"col\">scenario</th><th scope=\"col\">expected</th><th scope=\"col\">got</th><th scope=\"col\">time</th><th scope=\"col\">result</th></tr></thead><tbody>");
    for row in rows {
        let o = row.outcome;
        let (class, word) = if o.passed() {
            ("pass", "PASS")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            out,
            "<tr class=\"scenario\"><td><a href=\"#s-{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{} ms</td><td class=\"{class}\">{word}</td></tr>",
            escape(&o.expected),
            escape(&got(o)),
            o.elapsed.as_millis(),
            id = escape(&o.id),
        );
    }
    out.push_str("</tbody></table><h2>Each scenario</h2>");
    for row in rows {
        scenario(&mut out, row);
    }
    out.push_str("</main></body></html>\n");
    out
}

fn scenario(out: &mut String, row: &Row<'_>) {
    let o = row.outcome;
    let word = if o.passed() { "PASS" } else { "FAIL" };
    let _ = write!(
        out,
        "<details id=\"s-{id}\"><summary>{id}: {word}</summary><p>{}</p>{}",
        escape(
            row.topology["scenario"]["summary"]
                .as_str()
                .unwrap_or_default()
        ),
        super::svg::topology(&row.topology),
        id = escape(&o.id),
    );
    if !o.problems.is_empty() {
        out.push_str("<p>Problems:</p><ul>");
        for problem in &o.problems {
            let _ = write!(out, "<li>{}</li>", escape(&problem.to_string()));
        }
        out.push_str("</ul>");
    }
    let findings = o
        .report
        .as_ref()
        .map(|r| r.findings.as_slice())
        .unwrap_or_default();
    if findings.is_empty() {
        out.push_str("<p>No findings.</p>");
    }
    for finding in findings {
        let _ = write!(
            out,
            "<h3><code>{}</code> ({:?}): {}</h3><p>target {}</p><table><thead><tr><th scope=\"col\">tried</th><th scope=\"col\">came back</th><th scope=\"col\">ms</th></tr></thead><tbody>",
            escape(finding.code.as_str()),
            finding.severity,
            escape(&finding.summary),
            escape(&finding.target),
        );
        for evidence in &finding.evidence {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&evidence.what_tried),
                escape(&evidence.what_came_back),
                evidence.elapsed.as_millis()
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</details>");
}
