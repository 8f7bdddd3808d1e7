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

/// How one JUnit `<testcase>` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JunitOutcome {
    /// Passed, nothing to add.
    Passed,
    /// Passed, with a note written to `<system-out>` (a warning, an info).
    Noted(String),
    /// Failed: `kind` is the failure's type attribute, `message` its summary, `detail` its text.
    Failed {
        /// The failure's `type` attribute (a diagnosis code, `scenario` …).
        kind: String,
        /// One-line summary.
        message: String,
        /// Evidence and steps, one per line.
        detail: String,
    },
}

/// One `<testcase>` of a JUnit document: the one JUnit writer behind `egresslab check`, `inspect` and
/// `run` (findings and scenario outcomes become cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitCase {
    /// The `classname` attribute (the suite, or `scenario`).
    pub classname: String,
    /// The `name` attribute.
    pub name: String,
    /// How long the case took.
    pub time: std::time::Duration,
    /// How it ended.
    pub outcome: JunitOutcome,
}

impl JunitCase {
    /// The case for one finding: errors fail, warnings and infos pass with their summary as output.
    pub fn of_finding(f: &Finding, classname: &str) -> JunitCase {
        let detail: String = f
            .evidence
            .iter()
            .map(|e| format!("{} -> {}\n", e.what_tried, e.what_came_back))
            .collect::<String>()
            + &f.steps.join("\n");
        JunitCase {
            classname: classname.to_string(),
            name: format!("{} {}", f.code, f.target),
            time: f.evidence.iter().map(|e| e.elapsed).sum(),
            outcome: match f.severity {
                Severity::Error => JunitOutcome::Failed {
                    kind: f.code.to_string(),
                    message: f.summary.clone(),
                    detail,
                },
                Severity::Warning | Severity::Info => JunitOutcome::Noted(f.summary.clone()),
                Severity::Ok => JunitOutcome::Passed,
            },
        }
    }
}

/// A JUnit XML document with one test suite named `suite` that took `time`.
pub fn junit_document(suite: &str, time: std::time::Duration, cases: &[JunitCase]) -> String {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, JunitOutcome::Failed { .. }))
        .count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        xml_escape(suite),
        cases.len(),
        time.as_secs_f64()
    );
    for c in cases {
        let _ = writeln!(
            s,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            xml_escape(&c.classname),
            xml_escape(&c.name),
            c.time.as_secs_f64()
        );
        match &c.outcome {
            JunitOutcome::Failed {
                kind,
                message,
                detail,
            } => {
                let _ = writeln!(
                    s,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    xml_escape(kind),
                    xml_escape(message),
                    xml_escape(detail)
                );
            }
            JunitOutcome::Noted(note) => {
                let _ = writeln!(s, "      <system-out>{}</system-out>", xml_escape(note));
            }
            JunitOutcome::Passed => {}
        }
        s.push_str("    </testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// The report as a JUnit XML document with one test suite named `suite`.
pub fn junit(report: &Report, suite: &str) -> String {
    let cases: Vec<JunitCase> = report
        .findings
        .iter()
        .map(|f| JunitCase::of_finding(f, suite))
        .collect();
    junit_document(suite, report.elapsed, &cases)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::codes;
    use crate::check::finding::Evidence;

    #[test]
    fn junit_fails_errors_notes_warnings_and_escapes() {
        let report = Report {
            findings: vec![
                Finding::new(codes::NET_TCP_OPEN, "a:443", "a:443 is open"),
                Finding::new(codes::NET_TCP_REFUSED, "b:443", "b <refused> & \"gone\"")
                    .with_evidence(Evidence::new(
                        "TCP connect b:443",
                        "refused",
                        Duration::from_millis(1500),
                    )),
                Finding::new(codes::PROXY_AUTH_REQUIRED, "c:443", "auth")
                    .with_severity(Severity::Warning),
            ],
            elapsed: Duration::from_millis(2000),
        };
        let xml = junit(&report, "egresslab check");
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"),
            "{xml}"
        );
        assert!(xml.contains("<testsuite name=\"egresslab check\" tests=\"3\" failures=\"1\" errors=\"0\" time=\"2.000\">"), "{xml}");
        assert!(xml.contains("<testcase classname=\"egresslab check\" name=\"net.tcp.refused b:443\" time=\"1.500\">"), "{xml}");
        assert!(xml.contains("<failure type=\"net.tcp.refused\" message=\"b &lt;refused&gt; &amp; &quot;gone&quot;\">TCP connect b:443 -&gt; refused\n"), "{xml}");
        assert!(xml.contains("<system-out>auth</system-out>"), "{xml}");
        assert_eq!(
            xml.matches("<testcase ").count(),
            xml.matches("</testcase>").count()
        );
        assert!(xml.ends_with("  </testsuite>\n</testsuites>\n"));
    }
}
