//! Scenario errors: every one names the file, line and column, what is wrong and what was expected.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// A place in a scenario file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as given by the caller (a path or a catalog path).
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte offset `offset` in `text`.
    pub fn at(file: &str, text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let mut line = 1;
        let mut line_start = 0;
        for (index, byte) in text.as_bytes().iter().enumerate().take(offset) {
            if *byte == b'\n' {
                line += 1;
                line_start = index + 1;
            }
        }
        let column = text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count())
            + 1;
        Location {
            file: file.to_owned(),
            line,
            column,
        }
    }

    /// The location of the start of `span` in `text`.
    pub fn of(file: &str, text: &str, span: &Range<usize>) -> Location {
        Location::at(file, text, span.start)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a scenario could not be loaded or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read the scenario file")]
    Read {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not parse, or does not fit the scenario format (wrong type, unknown key, missing key).
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// The parser's message, on one line (it says what was expected).
        message: String,
    },
    /// A value parses but is not acceptable.
    #[error("{at}: {what}, expected {expected}")]
    Invalid {
        /// Where.
        at: Location,
        /// What is wrong.
        what: String,
        /// What was expected.
        expected: String,
    },
    /// A reference to something the scenario or the lab does not define.
    #[error("{at}: unknown {kind} `{name}`, expected {expected}")]
    UnknownReference {
        /// Where.
        at: Location,
        /// What kind of thing (proxy, endpoint, certificate profile, CA role, ...).
        kind: &'static str,
        /// The name given.
        name: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Two things of one kind share a name.
    #[error("{at}: duplicate {kind} name `{name}`, expected unique names (first defined at line {first_line})")]
    Duplicate {
        /// Where the second one is.
        at: Location,
        /// What kind of thing.
        kind: &'static str,
        /// The name.
        name: String,
        /// The line of the first definition.
        first_line: usize,
    },
    /// Two scenario files of one folder have the same id.
    #[error(
        "{second}: duplicate scenario id `{id}`, also the id of {first}; expected one file per id"
    )]
    DuplicateScenario {
        /// The id.
        id: String,
        /// The file that had it first.
        first: String,
        /// The file that has it again.
        second: String,
    },
    /// Several files of a folder are bad; each error is listed.
    #[error("{} scenario files are bad:\n{}", errors.len(), errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Several {
        /// One error per bad file (or duplicate id).
        errors: Vec<ScenarioError>,
    },
    /// No scenario of that id or path.
    #[error(
        "no scenario `{query}`, expected a file, a folder, or a catalog id (see `egresslab list`)"
    )]
    NotFound {
        /// What was asked for.
        query: String,
    },
}

impl ScenarioError {
    /// Where the error is, when it is in a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ScenarioError::Syntax { at, .. }
            | ScenarioError::Invalid { at, .. }
            | ScenarioError::UnknownReference { at, .. }
            | ScenarioError::Duplicate { at, .. } => Some(at),
            _ => None,
        }
    }
}

/// Convert a `toml` deserialisation error into a located [`ScenarioError`].
pub(crate) fn from_toml(file: &str, text: &str, error: &toml::de::Error) -> ScenarioError {
    let offset = error.span().map_or(0, |span| span.start);
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
        .replace("expected u16", "expected an integer from 0 to 65535")
        .replace("expected u64", "expected a non-negative integer");
    let message = match message.strip_prefix("missing field ") {
        Some(field) => format!("missing key {field}, expected it to be set"),
        None => message,
    };
    ScenarioError::Syntax {
        at: Location::at(file, text, offset),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a\nbc\n\u{e9}d";
        assert_eq!(Location::at("f", text, 0).to_string(), "f:1:1");
        assert_eq!(Location::at("f", text, 3).to_string(), "f:2:2");
        assert_eq!(Location::at("f", text, 5).to_string(), "f:3:1");
        // The é is two bytes but one column.
        assert_eq!(Location::at("f", text, 7).to_string(), "f:3:2");
        assert_eq!(Location::at("f", text, 999).to_string(), "f:3:3");
    }
}
