//! `egresslab triage DIR`: from what a customer sends (a folder of files) to a verdict and a lab that
//! reproduces it. Each file's kind is told ([`read`]), each is read by the artifact readers, the
//! effective proxy is worked out ([`proxy`]), the error texts are explained, one root cause is chosen with
//! its evidence ([`verdict`]), and a scenario that reproduces it is written ([`write`]).

pub mod proxy;
pub mod read;
pub mod verdict;
pub mod write;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use proxy::EffectiveProxy;
pub use read::{FileKind, FileReport, Folder};
pub use verdict::Verdict;

/// Why a folder could not be triaged at all (a file that cannot be read is a line of the report, not this).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TriageError {
    /// The folder cannot be listed.
    #[error("cannot list the folder {path}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The folder holds no file.
    #[error("{path} holds no file to triage")]
    Empty {
        /// The folder.
        path: PathBuf,
    },
    /// The verdict has no reproduction (no scenario can be written for it).
    #[error("no scenario reproduces the verdict {code}: {why}")]
    NotReproducible {
        /// The verdict's code.
        code: String,
        /// Why.
        why: String,
    },
}

/// The whole triage of one folder: per file, the effective proxy, the verdict and the next steps.
#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    /// The folder.
    pub folder: String,
    /// What each file is and says.
    pub files: Vec<FileReport>,
    /// The proxy the connector really uses, and which setting decided.
    pub effective_proxy: EffectiveProxy,
    /// The likely root cause with its evidence.
    pub verdict: Verdict,
    /// What to do next, in order.
    pub next_steps: Vec<String>,
}

/// Triage a customer folder.
///
/// ```
/// let t = egresslab::scenario::triage::triage(std::path::Path::new("scenarios/triage/netsh-override/folder"))?;
/// assert_eq!(t.verdict.code, "config.netsh_overrides");
/// assert_eq!(t.effective_proxy.proxy.as_deref(), Some("http://proxy-b.contoso.example:3128"));
/// # Ok::<(), egresslab::scenario::triage::TriageError>(())
/// ```
pub fn triage(dir: &Path) -> Result<Triage, TriageError> {
    analyse(dir).map(|(_, t)| t)
}

/// Triage a folder and keep what was read (for [`write::scenario`]).
pub fn analyse(dir: &Path) -> Result<(Folder, Triage), TriageError> {
    let folder = read::read_folder(dir)?;
    let effective_proxy = proxy::effective(&folder);
    let verdict = verdict::decide(&folder, &effective_proxy);
    let next_steps = verdict::next_steps(&folder, &verdict);
    let t = Triage {
        folder: dir.display().to_string(),
        files: folder.reports.clone(),
        effective_proxy,
        verdict,
        next_steps,
    };
    Ok((folder, t))
}

/// The report as text: what each file says, the effective proxy, the root cause with its evidence, the
/// next steps.
pub fn render(t: &Triage) -> String {
    let mut out = format!("triage of {}\n\nfiles:\n", t.folder);
    for f in &t.files {
        out.push_str(&format!("  {} — {}\n", f.file, f.kind));
        for line in &f.says {
            out.push_str(&format!("      {line}\n"));
        }
    }
    let p = &t.effective_proxy;
    out.push_str(&format!(
        "\neffective proxy: {} (decided by {})\n",
        p.proxy.as_deref().unwrap_or("DIRECT (no proxy)"),
        p.decided_by
    ));
    for why in &p.why {
        out.push_str(&format!("  {why}\n"));
    }
    out.push_str(&format!(
        "\nlikely root cause: {} — {}\n",
        t.verdict.code, t.verdict.summary
    ));
    for e in &t.verdict.evidence {
        out.push_str(&format!("  evidence: {e}\n"));
    }
    for o in &t.verdict.also_seen {
        out.push_str(&format!("  also seen: {o}\n"));
    }
    out.push_str("\nnext steps:\n");
    for (i, s) in t.next_steps.iter().enumerate() {
        out.push_str(&format!("  {}. {s}\n", i + 1));
    }
    out
}
