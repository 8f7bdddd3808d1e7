//! `--exec CMD`: run an external command inside a scenario's lab environment and judge it against
//! `[[expect.exec]]`. The contract is documented in docs/exec-contract.md.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::expand::ExecExpectation;

/// What the command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Exit status; `None` when killed by a signal or the time-out.
    pub exit_code: Option<i32>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Whether the time-out killed it.
    pub timed_out: bool,
}

/// The `client` of an `[[expect.exec]]` that judges any command no other entry names.
pub const ANY_CLIENT: &str = "*";

/// A default expectation from the command line (`--exec-expect exit=N`), for any client.
///
/// ```
/// let expect = egresslab::scenario::exec::parse_default("exit=7").unwrap();
/// assert_eq!(expect.exit_code, Some(7));
/// assert!(egresslab::scenario::exec::parse_default("exit=seven").is_err());
/// ```
pub fn parse_default(text: &str) -> Result<ExecExpectation, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected KEY=VALUE, e.g. exit=0"))?;
    match key.trim() {
        "exit" => {
            let code = value.trim().parse::<i32>().map_err(|_| {
                format!("`{text}`: the exit status must be a whole number, e.g. exit=7")
            })?;
            Ok(ExecExpectation {
                client: ANY_CLIENT.to_owned(),
                exit_code: Some(code),
                ..ExecExpectation::default()
            })
        }
        other => Err(format!("`{text}`: unknown key `{other}`, expected exit=N")),
    }
}

/// The client an `--exec` command stands for: its first word's file name (`/usr/bin/curl -s` → `curl`).
pub fn client_of(command: &str) -> String {
    let first = command.split_whitespace().next().unwrap_or_default();
    first.rsplit('/').next().unwrap_or(first).to_owned()
}

/// Run `command` with `sh -c` and these environment variables, killing it after `timeout`.
pub async fn run_command(
    command: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<ExecResult> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        if let Some(s) = stdout.as_mut() {
            s.read_to_end(&mut out).await?;
        }
        if let Some(s) = stderr.as_mut() {
            s.read_to_end(&mut err).await?;
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok(result) => {
            let (status, out, err) = result?;
            Ok(ExecResult {
                exit_code: status.code(),
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
                timed_out: false,
            })
        }
        Err(_) => Ok(ExecResult {
            exit_code: None,
            stdout: String::new(),
            stderr: String::new(),
            timed_out: true,
        }),
    }
}

/// Every way `result` differs from `expect`; empty means it holds.
pub fn judge(expect: &ExecExpectation, result: &ExecResult) -> Vec<String> {
    let mut problems = Vec::new();
    if result.timed_out {
        problems.push("the command timed out".to_owned());
    }
    if let Some(code) = expect.exit_code {
        if result.exit_code != Some(code) {
            problems.push(format!(
                "exit code: expected {code}, got {}",
                result
                    .exit_code
                    .map_or("none".to_owned(), |c| c.to_string())
            ));
        }
    }
    for (stream, text, wanted) in [
        ("stdout", &result.stdout, &expect.stdout_contains),
        ("stderr", &result.stderr, &expect.stderr_contains),
    ] {
        for needle in wanted {
            if !text.contains(needle.as_str()) {
                problems.push(format!(
                    "{stream}: expected to contain {needle:?}, got {:?}",
                    shorten(text)
                ));
            }
        }
    }
    for (stream, text, pattern) in [
        ("stdout", &result.stdout, &expect.stdout_matches),
        ("stderr", &result.stderr, &expect.stderr_matches),
    ] {
        if let Some(pattern) = pattern {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(text) => {}
                Ok(_) => problems.push(format!(
                    "{stream}: expected to match /{pattern}/, got {:?}",
                    shorten(text)
                )),
                Err(error) => problems.push(format!("{stream}: bad pattern /{pattern}/: {error}")),
            }
        }
    }
    problems
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_first_word() {
        assert_eq!(client_of("/usr/bin/curl -sS $EGRESSLAB_URL"), "curl");
        assert_eq!(client_of("openssl s_client"), "openssl");
        assert_eq!(client_of(""), "");
    }

    #[test]
    fn judging_lists_every_difference() {
        let expect = ExecExpectation {
            client: "curl".into(),
            exit_code: Some(60),
            stderr_contains: vec!["certificate".into()],
            stdout_matches: Some("^2\\d\\d$".into()),
            ..ExecExpectation::default()
        };
        let good = ExecResult {
            exit_code: Some(60),
            stdout: "200".into(),
            stderr: "SSL certificate problem".into(),
            timed_out: false,
        };
        assert!(judge(&expect, &good).is_empty());
        let bad = ExecResult {
            exit_code: Some(0),
            stdout: "500".into(),
            stderr: String::new(),
            timed_out: false,
        };
        let problems = judge(&expect, &bad);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("exit code: expected 60, got 0"));
    }

    #[tokio::test]
    async fn commands_see_the_environment_and_time_out() {
        let env = vec![("EGRESSLAB_SCENARIO".to_owned(), "tls-expired".to_owned())];
        let result = run_command(
            "echo $EGRESSLAB_SCENARIO; echo oops >&2; exit 3",
            &env,
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert_eq!(
            (
                result.exit_code,
                result.stdout.as_str(),
                result.stderr.as_str()
            ),
            (Some(3), "tls-expired\n", "oops\n")
        );
        let slow = run_command("sleep 5", &[], Duration::from_millis(100))
            .await
            .expect("runs");
        assert!(slow.timed_out);
    }
}
