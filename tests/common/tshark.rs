//! Reading a capture with tshark, the real Wireshark engine: fields of the packets a display filter
//! keeps.

use std::path::Path;
use std::process::Command;

/// Fail loudly when tshark is missing (./test.sh installs it), never pass silently.
pub fn require() {
    let found = Command::new("tshark").arg("-v").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "tshark is not installed: ./test.sh installs it (Debian package tshark); these tests cannot run without it"
    );
}

/// `tshark -r FILE [extra] -Y FILTER -T fields -e F...`: one row per packet, one column per field
/// (several values of one field joined by commas, as tshark prints them).
pub fn fields(file: &Path, extra: &[String], filter: &str, names: &[&str]) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command.arg("-r").arg(file).args(extra).args([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=|",
    ]);
    for name in names {
        command.args(["-e", name]);
    }
    let output = command.output().expect("running tshark");
    assert!(
        output.status.success(),
        "tshark -Y {filter} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split('|').map(str::to_owned).collect())
        .collect()
}

/// The whole text of `tshark -r FILE [extra] ARGS...`.
pub fn run(file: &Path, extra: &[String], args: &[&str]) -> String {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(extra)
        .args(args)
        .output()
        .expect("running tshark");
    assert!(
        output.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every packet of the file, one summary line each, for a failure message.
pub fn summary(file: &Path, extra: &[String]) -> String {
    run(file, extra, &[])
}
