//! The `egresslab` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    if only_prints(&args.command) {
        stop_quietly_on_a_closed_pipe();
    }
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Commands that read files and print, and run no lab: they may stop at the first closed-pipe
/// write (`egresslab explain --list | head`), as `cat` does.
fn only_prints(command: &cli::Command) -> bool {
    use cli::Command;
    matches!(
        command,
        Command::List(_)
            | Command::Explain(_)
            | Command::Inspect(_)
            | Command::Certs(_)
            | Command::Timeline(_)
            | Command::Generate(_)
            | Command::Triage(_)
            | Command::Merge(_)
            | Command::Import(_)
    )
}

/// Give SIGPIPE back its default action, so a write to a closed pipe ends the process at once and
/// silently instead of a "Broken pipe" panic. Only for commands without sockets: a lab's relays
/// write to sockets whose peer may have gone (splice(2) would then raise SIGPIPE), so commands that
/// run a lab keep Rust's default of ignoring it and treat EPIPE as an error they handle.
fn stop_quietly_on_a_closed_pipe() {
    // SAFETY: signal(2) with a valid signal number and SIG_DFL; called before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
