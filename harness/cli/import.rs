//! `egresslab import`: a squid.conf (and optionally a PAC file) in, a scenario out, with every
//! directive the lab does not model listed by file and line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use egresslab::scenario::import::{pac, squid};

/// Arguments of `egresslab import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The squid.conf to import (`include` lines are followed).
    pub squid_conf: PathBuf,
    /// A PAC file (wpad.dat) to serve as written on WPAD and to give the client.
    #[arg(long)]
    pub pac: Option<PathBuf>,
    /// Where to write the scenario (TOML); `-` writes it to standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// The scenario's name (default: the squid.conf file name without its extension).
    #[arg(long)]
    pub name: Option<String>,
}

/// Run `egresslab import`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.squid_conf)
        .with_context(|| format!("{}: cannot read the squid.conf", args.squid_conf.display()))?;
    let base = args
        .squid_conf
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .squid_conf
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("imported-squid")
            .to_owned(),
    };
    let imported =
        squid::import_named(&text, &args.squid_conf.display().to_string(), &base, &name)?;
    let mut scenario = imported.scenario.clone();
    if let Some(path) = &args.pac {
        let script = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the PAC file", path.display()))?;
        scenario = pac::add_pac(&scenario, &script, &path.display().to_string())?;
    }
    // What was written must load: an import the scenario format refuses is a bug, said here.
    egresslab::scenario::load_str(&args.out.display().to_string(), &scenario)
        .context("the imported scenario does not load (please report this squid.conf)")?;
    if args.out.as_os_str() == "-" {
        print!("{scenario}");
    } else {
        std::fs::write(&args.out, &scenario)
            .with_context(|| format!("{}: cannot write the scenario", args.out.display()))?;
        eprintln!(
            "wrote {} (proxy {:?}{})",
            args.out.display(),
            imported.proxy,
            imported
                .parent
                .as_ref()
                .map(|(h, p)| format!(", parent {h}:{p} as proxy \"parent\""))
                .unwrap_or_default()
        );
    }
    if imported.ignored.is_empty() {
        eprintln!("every directive is modelled");
    } else {
        eprintln!("ignored ({} not modelled):", imported.ignored.len());
        eprint!("{}", squid::ignored_report(&imported.ignored));
    }
    Ok(ExitCode::SUCCESS)
}
