//! Which lab CA folder a command uses: one decision for `certs`, `up` and `run`, so that the root
//! `egresslab certs ca` tells the user to trust is the root every lab serves under.

use std::path::PathBuf;

use anyhow::Context;

/// `--ca-dir DIR` (env `EGRESSLAB_CA_DIR`): the persisted lab CA folder.
#[derive(Debug, Clone, clap::Args)]
pub struct CaDir {
    /// Directory of the lab CAs. Created on first use; keys are written owner-only (0600).
    /// Default: $XDG_DATA_HOME/egresslab/ca, else ~/.local/share/egresslab/ca.
    #[arg(long, env = "EGRESSLAB_CA_DIR", value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
}

impl CaDir {
    /// The folder: `--ca-dir`, else `EGRESSLAB_CA_DIR`, else the data directory under HOME.
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = self.ca_dir.as_ref().filter(|d| !d.as_os_str().is_empty()) {
            return Ok(dir.clone());
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })
            .context(
                "cannot find a data directory for the lab CA: set --ca-dir, EGRESSLAB_CA_DIR or HOME \
                 (or pass --ephemeral-ca where the command takes it)",
            )?;
        Ok(data.join("egresslab").join("ca"))
    }
}

/// The lab CA of a command that starts labs (`up`, `run`): the persisted folder, or a throw-away
/// CA when asked.
#[derive(Debug, Clone, clap::Args)]
pub struct LabCa {
    /// The persisted CA folder (what `egresslab certs ca` shows).
    #[command(flatten)]
    pub dir: CaDir,
    /// Mint a throw-away CA for this lab only, kept in the lab's folder and removed at exit,
    /// instead of the persisted one (a client must then trust the printed CA file anew). Wins over
    /// --ca-dir and EGRESSLAB_CA_DIR.
    #[arg(long)]
    pub ephemeral_ca: bool,
}

impl LabCa {
    /// The folder to put in the lab plan (`LabPlan::ca_dir`): `None` for `--ephemeral-ca`.
    /// The folder is created (owner-only) by the first lab that opens it.
    pub fn plan_dir(&self) -> anyhow::Result<Option<PathBuf>> {
        if self.ephemeral_ca {
            return Ok(None);
        }
        self.dir.resolve().map(Some)
    }
}
