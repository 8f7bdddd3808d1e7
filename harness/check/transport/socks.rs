//! SOCKS5 tunnels: the greeting, RFC 1929 username/password when the client has credentials, then
//! CONNECT with the name (`socks5h`) or an address the client resolved itself (`socks5`), and the
//! findings each answer means.
//!
//! When the client resolves names itself and one does not resolve, the checks ask the proxy once
//! more with the name: if the proxy reaches it, the diagnosis is that only the proxy's resolver
//! knows the name (use `socks5h`), not that the name does not exist.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dns::{self, Resolution};
use super::proxy::{connect_proxy, no_answer, OpenError, ProxyUrl};
use super::tcp::{self, BoxIo};
use crate::check::codes;
use crate::check::config::{ClientConfig, SocksResolve};
use crate::check::finding::{Evidence, Finding};
use crate::socks::{self, Address, Command, Reply, Request};

/// How a SOCKS5 exchange ended short of a tunnel.
#[derive(Debug)]
enum Refusal {
    /// The proxy chose no method (`X'FF'`): it wants one the client did not offer.
    NoMethod,
    /// The proxy chose a method the client did not offer.
    OddMethod(u8),
    /// The RFC 1929 answer refused the user name and password.
    AuthFailed,
    /// A reply other than success.
    Reply(Reply),
    /// The answer is not SOCKS5.
    NotSocks(String),
    /// The connection failed or closed mid-exchange.
    Closed(String),
}

impl From<std::io::Error> for Refusal {
    fn from(error: std::io::Error) -> Self {
        Refusal::Closed(error.to_string())
    }
}

/// Connect to the SOCKS5 `proxy` and open a tunnel to (host, port), resolving the name where
/// `resolve` says.
pub(crate) async fn tunnel(
    config: &ClientConfig,
    proxy: &ProxyUrl,
    resolve: SocksResolve,
    host: &str,
    port: u16,
) -> Result<(BoxIo, Vec<Finding>), OpenError> {
    let target = format!("{host}:{port}");
    let mut found = Vec::new();
    let address = match resolve {
        SocksResolve::Proxy => match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => Address::Ip(SocketAddr::new(ip, port)),
            Err(_) => Address::Domain(host.to_owned(), port),
        },
        SocksResolve::Client => match resolve_locally(config, host, port).await {
            Ok((address, findings)) => {
                found.extend(findings);
                Address::Ip(address)
            }
            Err(dns) => return Err(local_resolution_failed(config, proxy, host, port, dns).await),
        },
    };
    let io = connect_proxy(config, proxy).await?;
    let tried = tried(config, proxy, &address);
    let start = Instant::now();
    let exchange = tokio::time::timeout(config.io_timeout, exchange(io, config, &address)).await;
    let elapsed = start.elapsed();
    let refusal = match exchange {
        Ok(Ok(io)) => {
            let ev = Evidence::new(tried, "reply 0x00 succeeded", elapsed);
            found.push(
                Finding::new(
                    codes::PROXY_SOCKS_OK,
                    &target,
                    format!("SOCKS5 proxy {proxy} tunnels to {address}"),
                )
                .with_evidence(ev),
            );
            return Ok((io, found));
        }
        Ok(Err(refusal)) => refusal,
        Err(_) => {
            let summary = format!("SOCKS5 proxy {proxy} did not answer the request for {address}");
            return Err(no_answer(config, tried, elapsed, &target, summary));
        }
    };
    let ev = Evidence::new(tried, came_back(&refusal), elapsed);
    Err(OpenError::Findings(vec![classify(
        config, proxy, &target, &address, &refusal,
    )
    .with_evidence(ev)]))
}

/// The client's own resolution, as curl's `--socks5` does it: a `--connect-to` override (its
/// address and port are what is sent), else the resolver.
async fn resolve_locally(
    config: &ClientConfig,
    host: &str,
    port: u16,
) -> Result<(SocketAddr, Vec<Finding>), Finding> {
    if let Some(address) = tcp::connect_to_override(config, host, port) {
        return Ok((address, Vec::new()));
    }
    let (resolution, ev) = dns::resolve(config, host).await;
    let literal = host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok();
    let first = match &resolution {
        Resolution::Resolved(ips) => ips.first().copied(),
        _ => None,
    };
    match first {
        Some(ip) => {
            let found = if literal {
                Vec::new()
            } else {
                vec![dns::finding(host, &resolution, ev)]
            };
            Ok((SocketAddr::new(ip, port), found))
        }
        None => Err(dns::finding(host, &resolution, ev)),
    }
}

/// The client could not resolve `host`: its DNS finding, and — when the proxy, asked with the
/// name, does reach it — the finding that only the proxy resolves the name.
async fn local_resolution_failed(
    config: &ClientConfig,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    dns: Finding,
) -> OpenError {
    let target = format!("{host}:{port}");
    let address = Address::Domain(host.to_owned(), port);
    let start = Instant::now();
    let asked = async {
        let io = connect_proxy(config, proxy).await.ok()?;
        tokio::time::timeout(config.io_timeout, exchange(io, config, &address))
            .await
            .ok()
    };
    let proxy_side = match asked.await {
        Some(Ok(mut io)) => {
            let _ = io.shutdown().await;
            Some(Evidence::new(
                format!(
                    "{} (the proxy resolving, as socks5h)",
                    tried(config, proxy, &address)
                ),
                "reply 0x00 succeeded",
                start.elapsed(),
            ))
        }
        _ => None,
    };
    let Some(ev) = proxy_side else {
        return OpenError::Findings(vec![dns]);
    };
    let evidence = dns.evidence.clone();
    let hint = Finding::new(
        codes::PROXY_SOCKS_LOCAL_DNS_FAILED,
        &target,
        format!(
            "{host} does not resolve at the client, but SOCKS5 proxy {proxy} resolves and reaches it: the client resolves names itself (socks5://, curl --socks5); let the proxy resolve them (socks5h://, curl --socks5-hostname)"
        ),
    )
    .with_all_evidence(evidence)
    .with_evidence(ev);
    OpenError::Findings(vec![dns, hint])
}

/// What was tried, in words (never the password).
fn tried(config: &ClientConfig, proxy: &ProxyUrl, address: &Address) -> String {
    let auth = match &config.proxy_credentials {
        Some((user, _)) => format!(" (username/password as {user})"),
        None => String::new(),
    };
    format!(
        "SOCKS5 CONNECT {address} ({}) via {proxy}{auth}",
        address.kind()
    )
}

fn came_back(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NoMethod => "method X'FF': no acceptable methods".to_owned(),
        Refusal::OddMethod(method) => format!(
            "method {} that the client did not offer",
            socks::method_name(*method)
        ),
        Refusal::AuthFailed => "username/password status: failure".to_owned(),
        Refusal::Reply(reply) => format!("reply {reply}"),
        Refusal::NotSocks(why) => format!("not SOCKS5: {why}"),
        Refusal::Closed(why) => format!("closed: {why}"),
    }
}

/// The finding for an exchange that ended short of a tunnel.
fn classify(
    config: &ClientConfig,
    proxy: &ProxyUrl,
    target: &str,
    address: &Address,
    refusal: &Refusal,
) -> Finding {
    let (code, summary) = match refusal {
        Refusal::NoMethod if config.proxy_credentials.is_none() => (
            codes::PROXY_SOCKS_AUTH_REQUIRED,
            format!("SOCKS5 proxy {proxy} accepts none of the client's methods (it offered no-auth only): it requires username/password"),
        ),
        Refusal::NoMethod | Refusal::OddMethod(_) => (
            codes::PROXY_REFUSED_OTHER,
            format!("SOCKS5 proxy {proxy} accepts none of the methods the client offered"),
        ),
        Refusal::AuthFailed => (
            codes::PROXY_SOCKS_AUTH_FAILED,
            format!("SOCKS5 proxy {proxy} refused the user name and password (RFC 1929): wrong password or unknown user"),
        ),
        Refusal::Reply(Reply::NotAllowed) => (
            codes::PROXY_SOCKS_DENIED,
            format!("SOCKS5 proxy {proxy} does not allow {address} (reply 0x02, connection not allowed by ruleset)"),
        ),
        Refusal::Reply(
            reply @ (Reply::GeneralFailure
            | Reply::NetworkUnreachable
            | Reply::HostUnreachable
            | Reply::ConnectionRefused),
        ) => (
            codes::PROXY_BAD_GATEWAY,
            format!("SOCKS5 proxy {proxy} answered {reply} for {address}: the proxy, not your network, failed to reach {target}"),
        ),
        Refusal::Reply(Reply::TtlExpired) => (
            codes::PROXY_GATEWAY_TIMEOUT,
            format!("SOCKS5 proxy {proxy} timed out reaching {address} (reply 0x06, TTL expired)"),
        ),
        Refusal::Reply(reply) => (
            codes::PROXY_REFUSED_OTHER,
            format!("SOCKS5 proxy {proxy} answered {reply} for {address}"),
        ),
        Refusal::NotSocks(_) => (
            codes::PROXY_GARBAGE,
            format!("SOCKS5 proxy {proxy} answered with something that is not SOCKS5"),
        ),
        Refusal::Closed(_) => (
            codes::PROXY_CLOSED,
            format!("SOCKS5 proxy {proxy} closed the connection before the tunnel to {address} was open"),
        ),
    };
    Finding::new(code, target, summary)
}

/// The exchange on an open connection to the proxy: the stream once the reply said succeeded.
async fn exchange(
    mut io: BoxIo,
    config: &ClientConfig,
    address: &Address,
) -> Result<BoxIo, Refusal> {
    let methods: &[u8] = if config.proxy_credentials.is_some() {
        &[socks::METHOD_NO_AUTH, socks::METHOD_USERPASS]
    } else {
        &[socks::METHOD_NO_AUTH]
    };
    io.write_all(&socks::greeting(methods)).await?;
    let mut two = [0u8; 2];
    io.read_exact(&mut two).await?;
    let chosen = decoded(socks::decode_choice(&two))?;
    match chosen {
        socks::NO_ACCEPTABLE_METHODS => return Err(Refusal::NoMethod),
        method if !methods.contains(&method) => return Err(Refusal::OddMethod(method)),
        _ => {}
    }
    if let (socks::METHOD_USERPASS, Some((user, password))) = (chosen, &config.proxy_credentials) {
        let message =
            socks::userpass(user, password).map_err(|e| Refusal::Closed(e.to_string()))?;
        io.write_all(&message).await?;
        io.read_exact(&mut two).await?;
        if !decoded(socks::decode_userpass_status(&two))? {
            return Err(Refusal::AuthFailed);
        }
    }
    let request = Request {
        command: Command::Connect,
        address: address.clone(),
    };
    let message = socks::request(&request).map_err(|e| Refusal::Closed(e.to_string()))?;
    io.write_all(&message).await?;
    io.flush().await?;
    let reply = read_reply(&mut io).await?;
    let (reply, _bound) = decoded(socks::decode_reply(&reply))?;
    match reply {
        Reply::Succeeded => Ok(io),
        other => Err(Refusal::Reply(other)),
    }
}

/// Read exactly one reply (its length follows from its address type), so nothing the origin
/// sends after it is taken from the tunnel.
async fn read_reply(io: &mut BoxIo) -> Result<Vec<u8>, Refusal> {
    let mut reply = vec![0u8; 5];
    io.read_exact(&mut reply).await?;
    let rest = match reply[3] {
        1 => 4 - 1 + 2,
        4 => 16 - 1 + 2,
        3 => usize::from(reply[4]) + 2,
        other => {
            return Err(Refusal::NotSocks(format!(
                "address type {other} in the reply"
            )))
        }
    };
    let mut tail = vec![0u8; rest];
    io.read_exact(&mut tail).await?;
    reply.extend_from_slice(&tail);
    Ok(reply)
}

/// A complete message's value; an incomplete one cannot happen after an exact read.
fn decoded<T>(decoded: socks::Decoded<T>) -> Result<T, Refusal> {
    match decoded {
        Ok(Some((value, _))) => Ok(value),
        Ok(None) => Err(Refusal::NotSocks("a short message".to_owned())),
        Err(error) => Err(Refusal::NotSocks(error.to_string())),
    }
}
