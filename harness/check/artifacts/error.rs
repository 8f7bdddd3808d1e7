//! The readers' error: a file that cannot be read, or content malformed at a line and column.

use std::path::PathBuf;

/// Why an artifact could not be read. Malformed content names the place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not text in an encoding Windows writes (UTF-8, UTF-16 with or without a BOM).
    #[error("{message}")]
    Encoding {
        /// What is wrong, with the byte offset.
        message: String,
    },
    /// No reader recognised the file.
    #[error("cannot tell what kind of file this is; tried {}", tried.join(", "))]
    UnknownKind {
        /// The kinds tried, in order, each with what it looks for.
        tried: Vec<String>,
    },
    /// The content is malformed at a place.
    #[error("line {line}, column {column}: {message}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// 1-based (line, column) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text.as_bytes()[..offset.min(text.len())];
    let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
    let col = upto.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, col)
}

/// A malformed-content error at a byte offset.
pub fn malformed(text: &str, offset: usize, message: impl Into<String>) -> ArtifactError {
    let (line, column) = line_col(text, offset);
    ArtifactError::Malformed {
        line,
        column,
        message: message.into(),
    }
}
