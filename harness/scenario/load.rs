//! Loading a scenario in fixed steps: parse (TOML with spans) → validate (scenario-wide names) →
//! expand (each part checked and its names resolved to types). After loading, no name is a string
//! waiting to be parsed.

use std::path::Path;

use super::error::{from_toml, ScenarioError};
use super::expand::{expand, Expanded};
use super::model::ScenarioFile;

/// Parse, validate and expand the scenario `text`; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<Expanded, ScenarioError> {
    let parsed: ScenarioFile =
        toml::from_str(text).map_err(|error| from_toml(file, text, &error))?;
    expand(file, text, &parsed)
}

/// Read and load the scenario file at `path`.
pub fn load_file(path: &Path) -> Result<Expanded, ScenarioError> {
    let text = egresslab_certs::fs::read_regular_text(path, egresslab_certs::fs::MAX_INPUT_FILE)
        .map_err(|source| ScenarioError::Read {
            file: path.to_owned(),
            source,
        })?;
    load_str(&path.display().to_string(), &text)
}
