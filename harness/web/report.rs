//! `egresslab run --report FILE.html`: one self-contained HTML file of a run (inline CSS and SVG,
//! no script, nothing fetched), a summary bar, a row per scenario (expected, got, time, pass or
//! fail) and, per scenario, its topology picture and each finding with its evidence. And
//! `egresslab score --report FILE.html`: the confusion matrix as a heat map.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

/// Text made safe inside HTML (and SVG) text and attribute values: the check reports' XML escape.
pub(super) use crate::check::report::xml_escape as escape;
use crate::scenario::generate::Scorecard;
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
.heat td{text-align:center;min-width:1.6rem}summary{cursor:pointer;font-weight:bold}h3{font-size:1rem}code{font-size:12px}a{color:#0040a0}";

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
    let mut out = head(&format!("egresslab run: {passed}/{} passed", rows.len()));
    let _ = write!(
        out,
        "<h1>egresslab run: {passed} of {} passed</h1><p>{} scenarios in {:.1} s; {failed} failed.</p>",
        rows.len(),
        rows.len(),
        total.as_secs_f64()
    );
    bar(&mut out, (passed, "passed"), (failed, "failed"));
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
    out.push_str(FOOT);
    out
}

const FOOT: &str = "</main></body></html>\n";

/// The document up to the start of its content: title, inline style, `<main>`.
fn head(title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head><body><main>",
        escape(title)
    )
}

/// The summary bar: the good share in green, the bad one (if any) in red.
fn bar(out: &mut String, (good, good_word): (usize, &str), (bad, bad_word): (usize, &str)) {
    let all = good + bad;
    let share = |n: usize| {
        if all == 0 {
            0.0
        } else {
            100.0 * n as f64 / all as f64
        }
    };
    let _ = write!(
        out,
        "<div class=\"bar\" role=\"img\" aria-label=\"{good} {good_word}, {bad} {bad_word}\"><span class=\"p\" style=\"width:{:.1}%\">{good} {good_word}</span>{}</div>",
        share(good),
        if bad > 0 {
            format!("<span class=\"f\" style=\"width:{:.1}%\">{bad} {bad_word}</span>", share(bad))
        } else {
            String::new()
        }
    );
}

/// `egresslab score --report FILE.html`: the scorecard of `judge` as one self-contained page, the
/// confusion matrix (truth by verdict) as a heat map, each cell's shade its share of the truth's
/// cases, hits green and confusions red, then recall per truth and the misses.
pub fn score_html(card: &Scorecard, judge: &str, seed: u64, total: Duration) -> String {
    let labels = card.matrix_labels();
    let mut out = head(&format!(
        "egresslab score: {}/{} correct",
        card.correct, card.cases
    ));
    let _ = write!(
        out,
        "<h1>egresslab score: macro-F1 {:.3}, {} of {} correct ({:.1} %)</h1><p>{}, seed {seed}, {} exact, {} scenarios in {:.1} s.</p>",
        card.macro_f1,
        card.correct,
        card.cases,
        card.accuracy * 100.0,
        escape(judge),
        card.exact,
        card.cases,
        total.as_secs_f64()
    );
    bar(
        &mut out,
        (card.correct, "correct"),
        (card.cases - card.correct, "missed"),
    );
    out.push_str("<h2>Confusion matrix</h2><p>Rows are the true causes, columns the verdicts (numbered below); a cell's shade is its share of the row.</p><ol>");
    for label in &labels {
        let _ = write!(out, "<li><code>{}</code></li>", escape(label));
    }
    out.push_str("</ol><table class=\"heat\"><thead><tr><th scope=\"col\">truth \\ verdict</th>");
    for i in 1..=labels.len() {
        let _ = write!(out, "<th scope=\"col\">{i}</th>");
    }
    out.push_str("<th scope=\"col\">recall</th></tr></thead><tbody>");
    for (truth, row) in &card.matrix {
        let total: usize = row.values().sum();
        let hit = row.get(truth).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><code>{}</code></th>",
            escape(truth)
        );
        for label in &labels {
            match row.get(label) {
                Some(&n) => {
                    let share = n as f64 / total.max(1) as f64;
                    // Light enough at every share for dark text to keep its contrast.
                    let lightness = 92.0 - 42.0 * share;
                    let hue = if label == truth { 130 } else { 0 };
                    let _ = write!(
                        out,
                        "<td class=\"cell\" style=\"background:hsl({hue},65%,{lightness:.0}%)\" title=\"{} as {}: {n}\">{n}</td>",
                        escape(truth),
                        escape(label)
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        let _ = write!(out, "<td>{hit}/{total}</td></tr>");
    }
    out.push_str("</tbody></table>");
    if !card.misses.is_empty() {
        out.push_str("<h2>Misses</h2><table><thead><tr><th scope=\"col\">scenario</th><th scope=\"col\">truth</th><th scope=\"col\">got</th></tr></thead><tbody>");
        for miss in &card.misses {
            let got = if miss.verdict.is_empty() {
                miss.error.clone().unwrap_or_else(|| "healthy".to_owned())
            } else {
                miss.verdict.join(", ")
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&miss.id),
                escape(&miss.truth),
                escape(&got)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str(FOOT);
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
