//! The one output-format option of the report-writing subcommands (`check`, `inspect`, `run`,
//! `score`). A subcommand that cannot write a format refuses it when the arguments are parsed, so a
//! format that is accepted is one that is written.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text (colour when stdout is a terminal).
    Text,
    /// JSON.
    Json,
    /// JUnit XML.
    Junit,
}

/// A value parser for `--format` that accepts only `allowed`, for subcommands that write fewer formats.
pub fn only(allowed: &'static [Format]) -> impl TypedValueParser<Value = Format> {
    let values: Vec<_> = allowed
        .iter()
        .filter_map(|f| f.to_possible_value())
        .collect();
    PossibleValuesParser::new(values)
        .map(|name| Format::from_str(&name, false).unwrap_or(Format::Text))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Score {
        #[arg(long, value_parser = only(&[Format::Text, Format::Json]), default_value = "text")]
        format: Format,
    }

    #[test]
    fn a_restricted_format_option_refuses_what_it_cannot_write() {
        let parsed = |args: &[&str]| Score::try_parse_from(args).map(|s| s.format);
        assert_eq!(parsed(&["score"]).unwrap(), Format::Text);
        assert_eq!(
            parsed(&["score", "--format", "json"]).unwrap(),
            Format::Json
        );
        let refused = parsed(&["score", "--format", "junit"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("junit") && refused.contains("[possible values: text, json]"),
            "{refused}"
        );
    }
}
