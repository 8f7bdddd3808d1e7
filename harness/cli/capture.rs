//! The capture options `up` and `run` share: `--capture`, `--keylog`, `--snaplen`, `--redact`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use egresslab::lab::{Capture, CaptureOptions};

/// What to capture of the lab's traffic (see docs/capture.md).
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureArgs {
    /// Write every connection and datagram of the lab as pcapng, with the TLS secrets embedded so
    /// Wireshark decrypts the file alone (for `run`: a folder, one SCENARIO.pcapng each).
    #[arg(long, value_name = "FILE.pcapng")]
    pub capture: Option<PathBuf>,
    /// Append the TLS secrets of every handshake the lab terminates or originates to this NSS key
    /// log file (as SSLKEYLOGFILE does for browsers and curl).
    #[arg(long, value_name = "FILE", env = "SSLKEYLOGFILE")]
    pub keylog: Option<PathBuf>,
    /// Keep only the first N payload bytes of each packet (for long runs).
    #[arg(long, value_name = "N", requires = "capture")]
    pub snaplen: Option<u32>,
    /// Mask credential header values (Authorization, Proxy-Authorization) in the capture.
    #[arg(long, requires = "capture")]
    pub redact: bool,
}

impl CaptureArgs {
    /// The options for one lab whose capture goes to `pcapng`.
    fn options(&self, pcapng: Option<PathBuf>) -> CaptureOptions {
        CaptureOptions {
            pcapng,
            keylog: self.keylog.clone(),
            snaplen: self.snaplen,
            redact: self.redact,
        }
    }

    /// The options of `up`: the capture is the file named.
    pub fn single(&self) -> CaptureOptions {
        self.options(self.capture.clone())
    }

    /// The options of `run` for scenario `id`: the capture is `DIR/ID.pcapng` (the folder is made
    /// by [`CaptureArgs::prepare_dir`]).
    pub fn for_scenario(&self, id: &str) -> CaptureOptions {
        self.options(
            self.capture
                .as_ref()
                .map(|dir| dir.join(format!("{id}.pcapng"))),
        )
    }

    /// Make `run`'s capture folder.
    pub fn prepare_dir(&self) -> anyhow::Result<()> {
        if let Some(dir) = &self.capture {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the capture folder {}", dir.display()))?;
        }
        Ok(())
    }
}

/// Say where the capture went and whether writing stopped early.
pub fn report(capture: &Capture, file: Option<&Path>) {
    let Some(file) = file else {
        return;
    };
    let status = capture.status();
    match status.failure {
        Some(failure) => eprintln!("{failure}"),
        None => eprintln!(
            "capture: {} packets, {} bytes in {}",
            status.packets,
            status.bytes,
            file.display()
        ),
    }
}
