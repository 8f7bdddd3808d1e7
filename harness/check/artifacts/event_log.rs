//! Connector event-log messages: each block of text (separated by blank lines) is matched against the
//! exact strings of seed 002's error table; anything else is "not recognised", never a guess.

use crate::check::codes;
use crate::check::finding::{Code, Finding};
use crate::check::taxonomy;

/// The text blocks of an event dump (blank-line separated), trimmed, non-empty.
pub fn blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The diagnosis code for one message (event.unrecognised when none matches exactly).
pub fn classify(message: &str) -> Code {
    match taxonomy::match_event(message) {
        Some(d) => codes::ALL
            .iter()
            .copied()
            .find(|c| c.0 == d.code)
            .unwrap_or(codes::EVENT_UNRECOGNISED),
        None => codes::EVENT_UNRECOGNISED,
    }
}

/// One finding per message.
pub fn findings(target: &str, text: &str) -> Vec<Finding> {
    blocks(text)
        .into_iter()
        .map(|b| {
            let code = classify(&b);
            let first: String = b.chars().take(120).collect();
            let summary = if code == codes::EVENT_UNRECOGNISED {
                format!("not recognised: {first}")
            } else {
                format!("recognised: {first}")
            };
            Finding::new(code, target, summary)
        })
        .collect()
}
