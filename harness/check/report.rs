//! Rendering a report: human text (colour optional), JSON, JUnit XML. The scenario runner reuses the
//! JSON and JUnit writers.

use std::fmt::Write as _;

use super::finding::{Finding, Report, Severity};

/// Human-readable text; `colour` adds ANSI colours (only when stdout is a terminal).
pub fn text(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let (tag, c) = match f.severity {
            Severity::Ok => ("ok", "32"),
            Severity::Info => ("info", "36"),
            Severity::Warning => ("warn", "33"),
            Severity::Error => ("FAIL", "31"),
        };
        let tag = if colour {
            format!("\x1b[{c}m{tag:>4}\x1b[0m")
        } else {
            format!("{tag:>4}")
        };
        let _ = writeln!(out, "{tag} {} — {}", f.code, f.summary);
        if f.severity >= Severity::Warning {
            for e in &f.evidence {
                let _ = writeln!(
                    out,
                    "       tried: {} → {} ({:.0?})",
                    e.what_tried, e.what_came_back, e.elapsed
                );
            }
            for s in &f.steps {
                let _ = writeln!(out, "       step: {s}");
            }
            if !f.source.is_empty() {
                let _ = writeln!(out, "       source: {}", f.source);
            }
        }
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let _ = writeln!(
        out,
        "{} findings, {errors} errors, {warnings} warnings in {:.2?}",
        report.findings.len(),
        report.elapsed
    );
    out
}

/// The report as pretty JSON.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise report: {e}\"}}"))
}

/// Escape text for XML attributes and content.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => o.push(c),
        }
    }
    o
}

/// One `<testcase>` element for a finding (errors fail, warnings pass with system-out).
pub fn junit_case(f: &Finding, classname: &str) -> String {
    let name = xml_escape(&format!("{} {}", f.code, f.target));
    let mut s = format!(
        "    <testcase classname=\"{}\" name=\"{name}\" time=\"{:.3}\">\n",
        xml_escape(classname),
        f.evidence
            .iter()
            .map(|e| e.elapsed.as_secs_f64())
            .sum::<f64>()
    );
    let detail: String = f
        .evidence
        .iter()
        .map(|e| format!("{} -> {}\n", e.what_tried, e.what_came_back))
        .collect::<String>()
        + &f.steps.join("\n");
    match f.severity {
        Severity::Error => s.push_str(&format!(
            "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
            f.code,
            xml_escape(&f.summary),
            xml_escape(&detail)
        )),
        Severity::Warning | Severity::Info => s.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            xml_escape(&f.summary)
        )),
        Severity::Ok => {}
    }
    s.push_str("    </testcase>\n");
    s
}

/// The report as a JUnit XML document with one test suite named `suite`.
pub fn junit(report: &Report, suite: &str) -> String {
    let failures = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    s.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">\n",
        xml_escape(suite),
        report.findings.len(),
        report.elapsed.as_secs_f64()
    ));
    for f in &report.findings {
        s.push_str(&junit_case(f, suite));
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}
