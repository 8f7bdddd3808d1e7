//! `egresslab ctl`: change a running lab through its control API, with toxiproxy-cli's commands and
//! flags, so what works with one works with the other.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use egresslab::lab::control::client::{
    ClientError, ControlClient, LinkInfo, NewToxic, ToxicChange, ToxicInfo,
};
use egresslab::lab::control::Stream;
use serde_json::{Map, Value};

/// The long help of `egresslab ctl` (set on its `Command` variant, whose doc comment would win).
pub const LONG_ABOUT: &str = "\
Change a running lab through its control API (the Toxiproxy-compatible API of `egresslab up
--control`), with toxiproxy-cli's commands and flags. A link (Toxiproxy's \"proxy\") is a TCP relay
from a loopback port to a lab name (an endpoint or proxy name such as `site`, or an endpoint
`host:port`) or a loopback address; toxics on it slow, cut, hold or reset what flows through.

The API's address comes from --host, else TOXIPROXY_URL, else http://127.0.0.1:8474 (toxiproxy-cli's
default port). Exits 0 on success and 2 on any error, with the API's own message.";

/// The examples after the long help of `egresslab ctl`.
pub const EXAMPLES: &str = "\
Examples:
  egresslab up tls-healthy --control 127.0.0.1:8474 &      # a lab with its control API
  egresslab ctl create site-slow --listen 127.0.0.1:0 --upstream site
  egresslab ctl list                                        # with the real port 0 picked
  egresslab ctl toxic add site-slow -t latency -a latency=300 -a jitter=50
  egresslab ctl toxic add site-slow -t limit_data --upstream -n cut --toxicity 0.5 -a bytes=2000
  egresslab ctl inspect site-slow
  egresslab ctl toxic update site-slow -n latency_downstream -a latency=1000
  egresslab ctl toggle site-slow                            # disabled: its port refuses
  egresslab ctl toxic remove site-slow -n cut
  egresslab ctl delete site-slow
  TOXIPROXY_URL=http://127.0.0.1:9000 egresslab ctl list    # another lab

Toxics (attributes in Toxiproxy's units): latency (latency, jitter: ms), bandwidth (rate: KB/s),
slow_close (delay: ms), timeout (timeout: ms), reset_peer (timeout: ms), slicer (average_size,
size_variation: bytes; delay: µs), limit_data (bytes), noop. See docs/control.md.";

/// Arguments of `egresslab ctl`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The control API: the `control` address `egresslab up --control` printed.
    #[arg(
        long,
        global = true,
        env = "TOXIPROXY_URL",
        default_value = "http://127.0.0.1:8474",
        value_name = "URL"
    )]
    pub host: String,
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The subcommands of `egresslab ctl`, toxiproxy-cli's (with its aliases).
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// List every link: name, listen address, upstream, enabled or disabled, number of toxics.
    #[command(visible_aliases = ["l", "li", "ls"])]
    List,
    /// Show one link and its toxics, one line each.
    #[command(visible_aliases = ["i", "ins"])]
    Inspect {
        /// The link's name.
        #[arg(value_name = "PROXY")]
        name: String,
    },
    /// Create a link.
    #[command(visible_aliases = ["c", "new"])]
    Create {
        /// The new link's name.
        #[arg(value_name = "PROXY")]
        name: String,
        /// Where it listens: a loopback address; port 0 picks a free one.
        #[arg(short, long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        listen: String,
        /// Where it relays to: a lab name (`site`, `corp`), an endpoint `host:port` or a loopback
        /// address.
        #[arg(short, long, value_name = "UPSTREAM")]
        upstream: String,
    },
    /// Disable an enabled link (its port then refuses connections) or enable a disabled one.
    #[command(visible_alias = "tog")]
    Toggle {
        /// The link's name.
        #[arg(value_name = "PROXY")]
        name: String,
    },
    /// Delete a link and its toxics; its port is freed.
    #[command(visible_alias = "d")]
    Delete {
        /// The link's name.
        #[arg(value_name = "PROXY")]
        name: String,
    },
    /// Add, update or remove a toxic on a link.
    #[command(visible_alias = "t", subcommand)]
    Toxic(ToxicCommand),
}

/// `egresslab ctl toxic ...`.
#[derive(Debug, Subcommand)]
pub enum ToxicCommand {
    /// Add a toxic (downstream unless --upstream).
    #[command(visible_alias = "a")]
    Add {
        /// The link's name.
        #[arg(value_name = "PROXY")]
        name: String,
        /// The toxic's type: latency, bandwidth, slow_close, timeout, reset_peer, slicer,
        /// limit_data or noop.
        #[arg(short = 't', long = "type", value_name = "TYPE")]
        kind: String,
        /// Its name; the server names it TYPE_STREAM when none is given.
        #[arg(short = 'n', long = "toxicName", value_name = "NAME")]
        toxic_name: Option<String>,
        /// Act on the client-to-upstream direction.
        #[arg(short, long, conflicts_with = "downstream")]
        upstream: bool,
        /// Act on the upstream-to-client direction (the default).
        #[arg(short, long)]
        downstream: bool,
        /// The chance, per connection, that it acts: 0 to 1 (the server's default is 1).
        #[arg(long, visible_alias = "tox", value_parser = toxicity, value_name = "FLOAT")]
        toxicity: Option<f64>,
        /// An attribute, KEY=VALUE; repeat for each.
        #[arg(short, long = "attribute", value_parser = attribute, value_name = "KEY=VALUE")]
        attributes: Vec<(String, Value)>,
    },
    /// Change a toxic's toxicity or attributes; attributes not named keep their values.
    #[command(visible_alias = "u")]
    Update {
        /// The link's name.
        #[arg(value_name = "PROXY")]
        name: String,
        /// The toxic's name.
        #[arg(short = 'n', long = "toxicName", value_name = "NAME")]
        toxic_name: String,
        /// A new chance per connection, 0 to 1; kept when not given.
        #[arg(long, visible_alias = "tox", value_parser = toxicity, value_name = "FLOAT")]
        toxicity: Option<f64>,
        /// An attribute to set, KEY=VALUE; repeat for each.
        #[arg(short, long = "attribute", value_parser = attribute, value_name = "KEY=VALUE")]
        attributes: Vec<(String, Value)>,
    },
    /// Remove a toxic.
    #[command(visible_aliases = ["r", "delete", "d"])]
    Remove {
        /// The link's name.
        #[arg(value_name = "PROXY")]
        name: String,
        /// The toxic's name.
        #[arg(short = 'n', long = "toxicName", value_name = "NAME")]
        toxic_name: String,
    },
}

/// Run `egresslab ctl`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = ControlClient::new(&args.host)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let out = runtime.block_on(perform(&client, args.command))?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Carry out one command; the text to print.
async fn perform(client: &ControlClient, command: CtlCommand) -> anyhow::Result<String> {
    let explain = |doing: String| move |error: ClientError| explained(client, doing, error);
    match command {
        CtlCommand::List => {
            let links = client
                .links()
                .await
                .map_err(explain("cannot list the links".into()))?;
            Ok(list_text(&links, std::io::stdout().is_terminal()))
        }
        CtlCommand::Inspect { name } => {
            let link = client
                .link(&name)
                .await
                .map_err(explain(format!("cannot read link `{name}`")))?;
            Ok(inspect_text(&link))
        }
        CtlCommand::Create {
            name,
            listen,
            upstream,
        } => {
            let link = client
                .create(&name, &listen, &upstream)
                .await
                .map_err(explain(format!("cannot create link `{name}`")))?;
            Ok(format!(
                "Created new proxy {} listening on {} (upstream {})\n",
                link.name, link.listen, link.upstream
            ))
        }
        CtlCommand::Toggle { name } => {
            let doing = format!("cannot toggle link `{name}`");
            let link = client.link(&name).await.map_err(explain(doing.clone()))?;
            let link = client
                .set_enabled(&name, !link.enabled)
                .await
                .map_err(explain(doing))?;
            Ok(format!(
                "Proxy {} is now {}\n",
                link.name,
                enabled_word(&link)
            ))
        }
        CtlCommand::Delete { name } => {
            client
                .delete(&name)
                .await
                .map_err(explain(format!("cannot delete link `{name}`")))?;
            Ok(format!("Deleted proxy {name}\n"))
        }
        CtlCommand::Toxic(command) => toxic(client, command).await,
    }
}

async fn toxic(client: &ControlClient, command: ToxicCommand) -> anyhow::Result<String> {
    let explain = |doing: String| move |error: ClientError| explained(client, doing, error);
    match command {
        ToxicCommand::Add {
            name,
            kind,
            toxic_name,
            upstream,
            downstream: _,
            toxicity,
            attributes,
        } => {
            let new = NewToxic {
                name: toxic_name,
                kind,
                stream: if upstream {
                    Stream::Upstream
                } else {
                    Stream::Downstream
                },
                toxicity,
                attributes: Map::from_iter(attributes),
            };
            let added = client
                .add_toxic(&name, &new)
                .await
                .map_err(explain(format!("cannot add a toxic to link `{name}`")))?;
            Ok(format!(
                "Added {} {} toxic '{}' on proxy '{name}'\n",
                added.stream.word(),
                added.kind,
                added.name
            ))
        }
        ToxicCommand::Update {
            name,
            toxic_name,
            toxicity,
            attributes,
        } => {
            let change = ToxicChange {
                toxicity,
                attributes: Map::from_iter(attributes),
            };
            let updated = client
                .update_toxic(&name, &toxic_name, &change)
                .await
                .map_err(explain(format!(
                    "cannot update toxic `{toxic_name}` of link `{name}`"
                )))?;
            Ok(format!(
                "Updated toxic '{}' on proxy '{name}'\n",
                updated.name
            ))
        }
        ToxicCommand::Remove { name, toxic_name } => {
            client
                .remove_toxic(&name, &toxic_name)
                .await
                .map_err(explain(format!(
                    "cannot remove toxic `{toxic_name}` of link `{name}`"
                )))?;
            Ok(format!("Removed toxic '{toxic_name}' on proxy '{name}'\n"))
        }
    }
}

/// The error as one message: what was being done and why it failed, and, for a refused connection,
/// a second line saying what to start.
fn explained(client: &ControlClient, doing: String, error: ClientError) -> anyhow::Error {
    let refused = matches!(
        &error,
        ClientError::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused
    );
    let error = anyhow::Error::new(error).context(doing);
    if !refused {
        return error;
    }
    // Flattened into one text only here, at the command line's edge, so the hint comes last.
    anyhow::anyhow!(
        "{error:#}\nhint: nothing listens at {address}. Start a lab with its control API there \
         (`egresslab up SCENARIO --control {address}`), or point --host or TOXIPROXY_URL at the \
         address `egresslab up` printed",
        address = client.address()
    )
}

fn enabled_word(link: &LinkInfo) -> &'static str {
    if link.enabled {
        "enabled"
    } else {
        "disabled"
    }
}

/// toxiproxy-cli's list: one tab-separated line per link, with a header on a terminal.
fn list_text(links: &[LinkInfo], terminal: bool) -> String {
    let mut out = String::new();
    if terminal {
        out.push_str("Name\tListen\tUpstream\tEnabled\tToxics\n");
        if links.is_empty() {
            out.push_str("no proxies (create one with `egresslab ctl create`)\n");
        }
    }
    for link in links {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            link.name,
            link.listen,
            link.upstream,
            enabled_word(link),
            link.toxics.len()
        ));
    }
    out
}

/// The link on one line, then each toxic on one line in toxiproxy-cli's words.
fn inspect_text(link: &LinkInfo) -> String {
    let mut out = format!(
        "Name: {}\tListen: {}\tUpstream: {}\tEnabled: {}\n",
        link.name,
        link.listen,
        link.upstream,
        enabled_word(link)
    );
    for toxic in &link.toxics {
        out.push_str(&toxic_line(toxic));
    }
    out
}

fn toxic_line(toxic: &ToxicInfo) -> String {
    let mut attributes: Vec<_> = toxic.attributes.iter().collect();
    attributes.sort_by(|a, b| a.0.cmp(b.0));
    let attributes: String = attributes
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => format!("\t{key}={text}"),
            other => format!("\t{key}={other}"),
        })
        .collect();
    format!(
        "{}\ttype={}\tstream={}\ttoxicity={:.2}\tattributes=[{attributes}\t]\n",
        toxic.name,
        toxic.kind,
        toxic.stream.word(),
        toxic.toxicity
    )
}

/// `--toxicity`: a number from 0 to 1, as toxiproxy-cli checks it.
fn toxicity(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("`{text}` is not a number from 0 to 1")),
    }
}

/// `--attribute KEY=VALUE`: a whole number stays whole (the API's attributes are integers), another
/// number is a number, anything else a string. toxiproxy-cli skips a pair without `=`; here it is an
/// error.
fn attribute(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    let value = if let Ok(whole) = value.parse::<u64>() {
        Value::from(whole)
    } else if let Ok(whole) = value.parse::<i64>() {
        Value::from(whole)
    } else if let Some(number) = value
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        Value::Number(number)
    } else {
        Value::from(value)
    };
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(toxics: Vec<ToxicInfo>) -> LinkInfo {
        LinkInfo {
            name: "site-slow".into(),
            listen: "127.0.0.1:40001".into(),
            upstream: "site".into(),
            enabled: true,
            toxics,
        }
    }

    fn latency() -> ToxicInfo {
        ToxicInfo {
            name: "latency_downstream".into(),
            kind: "latency".into(),
            stream: Stream::Downstream,
            toxicity: 0.5,
            attributes: Map::from_iter([
                ("latency".to_owned(), Value::from(300)),
                ("jitter".to_owned(), Value::from(50)),
            ]),
        }
    }

    #[test]
    fn attributes_keep_whole_numbers_whole() {
        assert_eq!(attribute("latency=300").unwrap().1, Value::from(300));
        assert_eq!(attribute("offset=-5").unwrap().1, Value::from(-5));
        assert_eq!(attribute("ratio=0.25").unwrap().1, Value::from(0.25));
        assert_eq!(attribute("mode=fast").unwrap().1, Value::from("fast"));
        assert_eq!(
            attribute("k=a=b").unwrap(),
            ("k".into(), Value::from("a=b"))
        );
        assert!(attribute("latency").unwrap_err().contains("KEY=VALUE"));
        assert!(attribute("=5").is_err());
    }

    #[test]
    fn toxicity_is_a_chance() {
        assert_eq!(toxicity("0.5"), Ok(0.5));
        assert_eq!(toxicity("1"), Ok(1.0));
        assert!(toxicity("1.5").is_err());
        assert!(toxicity("-0.1").is_err());
        assert!(toxicity("NaN").is_err());
        assert!(toxicity("half").is_err());
    }

    #[test]
    fn list_lines_are_toxiproxy_cli_lines() {
        let links = [link(vec![latency()])];
        assert_eq!(
            list_text(&links, false),
            "site-slow\t127.0.0.1:40001\tsite\tenabled\t1\n"
        );
        assert!(list_text(&links, true).starts_with("Name\tListen"));
        assert!(list_text(&[], true).contains("no proxies"));
        assert_eq!(list_text(&[], false), "");
    }

    #[test]
    fn inspect_shows_the_link_then_each_toxic_with_sorted_attributes() {
        assert_eq!(
            inspect_text(&link(vec![latency()])),
            "Name: site-slow\tListen: 127.0.0.1:40001\tUpstream: site\tEnabled: enabled\n\
             latency_downstream\ttype=latency\tstream=downstream\ttoxicity=0.50\t\
             attributes=[\tjitter=50\tlatency=300\t]\n"
        );
    }
}
