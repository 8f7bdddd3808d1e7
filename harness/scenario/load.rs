//! Loading a scenario in fixed steps: parse (TOML with spans) → validate → expand.

use std::path::Path;

use super::error::{from_toml, ScenarioError};
use super::expand::{expand, Expanded};
use super::model::ScenarioFile;
use super::validate::validate;

/// Parse, validate and expand the scenario `text`; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<Expanded, ScenarioError> {
    let parsed: ScenarioFile =
        toml::from_str(text).map_err(|error| from_toml(file, text, &error))?;
    validate(file, text, &parsed)?;
    Ok(expand(file, parsed))
}

/// Read and load the scenario file at `path`.
pub fn load_file(path: &Path) -> Result<Expanded, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.to_owned(),
        source,
    })?;
    load_str(&path.display().to_string(), &text)
}
