//! Starting the `egresslab` binary from a test, never with the real HOME's lab CA folder.

use std::process::{Command, Output};

/// The lab CA folder every test run of the binary shares: under Cargo's target folder, so the suite
/// exercises the persisted CA (and concurrent first use of it) without touching `~/.local/share`.
pub const TEST_CA_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca");

/// The binary with `EGRESSLAB_CA_DIR` set to [`TEST_CA_DIR`]; a test that wants its own folder
/// passes `--ca-dir` or sets the variable again.
pub fn egresslab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_egresslab"));
    command.env("EGRESSLAB_CA_DIR", TEST_CA_DIR);
    command
}

/// Exit status, standard output and standard error of a finished command, for assertion messages.
pub fn described(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
