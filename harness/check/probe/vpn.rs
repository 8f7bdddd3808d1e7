//! Always On VPN checks: IKE on UDP 500/4500, the server certificate as an SSTP server presents it on
//! TLS 443, and the machine certificate for IKE.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::check::artifacts::store;
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding};
use crate::check::transport::dns::{self, Resolution};
use crate::check::transport::route::Route;
use crate::check::transport::tls::{self, HsOutcome};
use crate::check::verify::certinfo::{self, EKU_CLIENT_AUTH, EKU_SERVER_AUTH};
use crate::check::verify::chain::{self, Verdict};
use crate::check::verify::connect;

/// A 28-byte IKEv2 header opening an IKE_SA_INIT (exchange type 34, initiator flag 0x08), no payloads.
pub fn ike_sa_init_header(initiator_spi: u64) -> [u8; 28] {
    let mut h = [0u8; 28];
    h[..8].copy_from_slice(&initiator_spi.to_be_bytes());
    h[16] = 0; // next payload: none
    h[17] = 0x20; // version 2.0
    h[18] = 34; // IKE_SA_INIT
    h[19] = 0x08; // initiator
    h[24..28].copy_from_slice(&28u32.to_be_bytes());
    h
}

/// What one UDP port did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IkeAnswer {
    /// Something came back.
    Answered,
    /// Nothing within the time-out.
    Silent,
    /// ICMP port unreachable.
    Refused,
}

async fn ike_port(addr: SocketAddr, port_used: u16, timeout: Duration) -> (IkeAnswer, Evidence) {
    let start = Instant::now();
    let mut packet = Vec::with_capacity(32);
    if port_used == 4500 {
        packet.extend_from_slice(&[0, 0, 0, 0]); // non-ESP marker
    }
    let spi = (start.elapsed().as_nanos() as u64) | 0x0100_0000_0000_0001;
    packet.extend_from_slice(&ike_sa_init_header(spi));
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let tried = format!("IKE_SA_INIT to UDP {addr} (port {port_used})");
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            return (
                IkeAnswer::Silent,
                Evidence::new(
                    tried,
                    format!("cannot open a UDP socket: {e}"),
                    start.elapsed(),
                ),
            )
        }
    };
    if let Err(e) = socket.connect(addr).await {
        return (
            IkeAnswer::Refused,
            Evidence::new(tried, e.to_string(), start.elapsed()),
        );
    }
    if let Err(e) = socket.send(&packet).await {
        return (
            IkeAnswer::Refused,
            Evidence::new(tried, e.to_string(), start.elapsed()),
        );
    }
    let mut buf = [0u8; 2048];
    match tokio::time::timeout(timeout, socket.recv(&mut buf)).await {
        Ok(Ok(n)) => (
            IkeAnswer::Answered,
            Evidence::new(tried, format!("{n} bytes answered"), start.elapsed()),
        ),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
            IkeAnswer::Refused,
            Evidence::new(tried, format!("ICMP unreachable: {e}"), start.elapsed()),
        ),
        Ok(Err(e)) => (
            IkeAnswer::Silent,
            Evidence::new(tried, e.to_string(), start.elapsed()),
        ),
        Err(_) => (
            IkeAnswer::Silent,
            Evidence::new(
                tried,
                format!("no answer within {timeout:?}"),
                start.elapsed(),
            ),
        ),
    }
}

/// How many IKE_SA_INIT a client sends on one port before it gives up, as IKE initiators
/// retransmit: a lossy path answers one of them, a blocking one none.
pub const IKE_ATTEMPTS: u32 = 4;

/// What one port did over its attempts.
struct PortResult {
    port: u16,
    answer: IkeAnswer,
    /// IKE_SA_INIT sent (up to [`IKE_ATTEMPTS`]; fewer once one is answered or refused).
    sent: u32,
    evidence: Vec<Evidence>,
}

/// IKE_SA_INIT to `addr` until one is answered or refused, at most [`IKE_ATTEMPTS`] times.
async fn ike_attempts(addr: SocketAddr, port: u16, timeout: Duration) -> PortResult {
    let mut evidence = Vec::new();
    let mut sent = 0;
    let mut answer = IkeAnswer::Silent;
    while sent < IKE_ATTEMPTS && answer == IkeAnswer::Silent {
        sent += 1;
        let (got, mut ev) = ike_port(addr, port, timeout).await;
        ev.what_tried = format!("{} (attempt {sent} of {IKE_ATTEMPTS})", ev.what_tried);
        evidence.push(ev);
        answer = got;
    }
    PortResult {
        port,
        answer,
        sent,
        evidence,
    }
}

/// Probe IKE on UDP 500 and 4500 of `host` (`ports` maps a port to a real address, for labs). Each
/// port gets up to [`IKE_ATTEMPTS`] IKE_SA_INIT with a short time-out each: no answer to any is a
/// blocked port (error 809), an answer only after retries is a lossy path.
pub async fn probe_ike(
    config: &ClientConfig,
    host: &str,
    ports: &[(u16, SocketAddr)],
) -> Vec<Finding> {
    let target = format!("{host} UDP 500/4500");
    let mut resolved: Option<Vec<std::net::IpAddr>> = None;
    let mut addresses = Vec::new();
    for port in [500u16, 4500] {
        let addr = match ports.iter().find(|(p, _)| *p == port) {
            Some((_, a)) => *a,
            None => {
                if resolved.is_none() {
                    let (res, ev) = dns::resolve(config, host).await;
                    match res {
                        Resolution::Resolved(ips) => resolved = Some(ips),
                        _ => {
                            return vec![Finding::new(
                                codes::VPN_SERVER_UNREACHABLE,
                                &target,
                                format!("the VPN server name {host} does not resolve (error 800)"),
                            )
                            .with_evidence(ev)];
                        }
                    }
                }
                match resolved.as_ref().and_then(|r| r.first()) {
                    Some(ip) => SocketAddr::new(*ip, port),
                    None => continue,
                }
            }
        };
        addresses.push((port, addr));
    }
    let timeout = (config.connect_timeout / 2).max(Duration::from_millis(250));
    let results = futures_util::future::join_all(
        addresses
            .iter()
            .map(|(port, addr)| ike_attempts(*addr, *port, timeout)),
    )
    .await;
    let on = |wanted: IkeAnswer| -> Vec<String> {
        results
            .iter()
            .filter(|r| r.answer == wanted)
            .map(|r| r.port.to_string())
            .collect()
    };
    let (silent, refused) = (on(IkeAnswer::Silent), on(IkeAnswer::Refused));
    let sent: u32 = results.iter().map(|r| r.sent).sum();
    let lost: u32 = results
        .iter()
        .map(|r| match r.answer {
            IkeAnswer::Answered => r.sent - 1,
            _ => 0,
        })
        .sum();
    let f = if refused.len() == 2 {
        Finding::new(
            codes::VPN_SERVER_UNREACHABLE,
            &target,
            format!("nothing answers IKE at {host}: UDP 500 and 4500 are refused (error 800)"),
        )
    } else if !silent.is_empty() || !refused.is_empty() {
        let mut ports = silent.clone();
        ports.extend(refused.iter().cloned());
        Finding::new(
            codes::VPN_IKE_BLOCKED,
            &target,
            format!(
                "IKE gets no answer on UDP {} at {host} after {IKE_ATTEMPTS} attempts (error 809)",
                ports.join(" and ")
            ),
        )
    } else if lost > 0 {
        let per_port: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "UDP {} answered attempt {} of {IKE_ATTEMPTS}",
                    r.port, r.sent
                )
            })
            .collect();
        Finding::new(
            codes::VPN_IKE_LOSSY,
            &target,
            format!(
                "{host} answers IKE, but {lost} of {sent} IKE_SA_INIT went unanswered ({}): datagrams are lost on the path, the ports are not blocked",
                per_port.join(", ")
            ),
        )
    } else {
        Finding::new(
            codes::VPN_IKE_OK,
            &target,
            format!("{host} answers IKE on UDP 500 and 4500"),
        )
    };
    vec![f.with_all_evidence(results.into_iter().flat_map(|r| r.evidence))]
}

/// Fetch the VPN server's certificate over TLS 443 (as an SSTP server presents it) and judge it the way
/// the VPN client does: EKU, expiry, name, root — each reported on its own.
pub async fn probe_server_cert(config: &ClientConfig, host: &str) -> Vec<Finding> {
    let target = format!("{host}:443");
    let io = match connect::open(config, &Route::Direct, host, 443).await {
        Ok((io, _)) => io,
        Err(f) => {
            let mut v = vec![Finding::new(
                codes::VPN_SERVER_UNREACHABLE,
                &target,
                format!("the VPN server {host} cannot be reached on 443 (error 800)"),
            )
            .with_all_evidence(f.iter().flat_map(|x| x.evidence.clone()))];
            v.extend(f);
            return v;
        }
    };
    let hs = tls::handshake(config, io, host, config.tls_versions, false).await;
    let ev = Evidence::new(
        format!("TLS handshake with {target}"),
        tls::describe(&hs.outcome),
        hs.elapsed,
    );
    let Some(leaf) = hs.chain.first().and_then(|c| certinfo::facts(c)) else {
        let why = if hs.outcome == HsOutcome::Ok {
            "no certificate".to_string()
        } else {
            tls::describe(&hs.outcome)
        };
        return vec![Finding::new(
            codes::VPN_SERVER_UNREACHABLE,
            &target,
            format!("the VPN server {host} presented no certificate: {why}"),
        )
        .with_evidence(ev)];
    };
    let mut out = Vec::new();
    if !leaf.allows(EKU_SERVER_AUTH) {
        out.push(Finding::new(
            codes::VPN_SERVER_CERT_NO_SERVER_AUTH,
            &target,
            format!("the certificate of {host} lacks Server Authentication (0x80070040 / 13801)"),
        ));
    }
    let now = certinfo::now_secs();
    if now > leaf.not_after {
        out.push(Finding::new(
            codes::VPN_SERVER_CERT_EXPIRED,
            &target,
            format!(
                "the certificate of {host} expired on {} (13801)",
                certinfo::rfc3339(leaf.not_after)
            ),
        ));
    }
    let verdict = chain::verify(chain::Trust::of(config), host, &hs.chain, &[]);
    if let Verdict::NameMismatch(names) = &verdict {
        out.push(Finding::new(
            codes::VPN_SERVER_CERT_NAME_MISMATCH,
            &target,
            format!(
                "the profile names the server {host} but its certificate is for {} (13801)",
                names.join(", ")
            ),
        ));
    } else if !leaf.dns_names.is_empty() && !name_matches(host, &leaf.dns_names) {
        out.push(Finding::new(
            codes::VPN_SERVER_CERT_NAME_MISMATCH,
            &target,
            format!(
                "the profile names the server {host} but its certificate is for {} (13801)",
                leaf.dns_names.join(", ")
            ),
        ));
    }
    let root_problem = matches!(
        verdict,
        Verdict::UntrustedRoot | Verdict::SelfSigned | Verdict::Incomplete
    ) || (matches!(verdict, Verdict::Expired | Verdict::NoServerAuth)
        && !chains_to_trust(config, &hs.chain));
    if root_problem {
        out.push(Finding::new(codes::VPN_SERVER_CERT_UNTRUSTED_ROOT, &target, format!("the client has no trusted root for the certificate of {host} (issuer {}; 0x800B0109)", leaf.issuer)));
    }
    if out.is_empty() {
        out.push(Finding::new(codes::VPN_SERVER_CERT_OK, &target, format!("the certificate of {host} is valid, has Server Authentication, matches the name and chains to a trusted root")));
    }
    out.into_iter()
        .map(|f| f.with_evidence(ev.clone()))
        .collect()
}

fn name_matches(host: &str, names: &[String]) -> bool {
    names.iter().any(|n| {
        n.eq_ignore_ascii_case(host)
            || n.strip_prefix("*.").is_some_and(|rest| {
                host.split_once('.')
                    .is_some_and(|(_, h)| h.eq_ignore_ascii_case(rest))
            })
    })
}

fn chains_to_trust(
    config: &ClientConfig,
    chain: &[rustls::pki_types::CertificateDer<'static>],
) -> bool {
    let subjects: Vec<String> = config
        .trust
        .iter()
        .filter_map(|c| certinfo::facts(c))
        .map(|f| f.subject)
        .collect();
    chain
        .iter()
        .filter_map(|c| certinfo::facts(c))
        .any(|f| subjects.contains(&f.issuer) || subjects.contains(&f.subject))
}

/// Whether a folder holds a valid certificate with Client Authentication (13806 otherwise).
pub fn probe_machine_cert(dir: &Path) -> Vec<Finding> {
    let target = dir.display().to_string();
    let start = Instant::now();
    let certs = match store::load_dir(dir, None) {
        Ok(c) => c,
        Err(e) => {
            return vec![Finding::new(
                codes::VPN_MACHINE_CERT_MISSING,
                &target,
                format!("the certificate folder cannot be read: {e} (13806)"),
            )]
        }
    };
    let now = certinfo::now_secs();
    let good = certs.iter().find(|c| {
        c.facts.allows(EKU_CLIENT_AUTH)
            && c.facts.has_eku_extension
            && c.facts.valid_at(now)
            && !c.facts.self_issued
    });
    let ev = Evidence::new(
        format!("read certificates in {target}"),
        format!("{} certificates", certs.len()),
        start.elapsed(),
    );
    match good {
        Some(c) => vec![Finding::new(
            codes::VPN_MACHINE_CERT_OK,
            &target,
            format!(
                "machine certificate {} ({}) has Client Authentication and is valid",
                c.facts.subject, c.facts.thumbprint_sha1
            ),
        )
        .with_evidence(ev)],
        None => vec![Finding::new(
            codes::VPN_MACHINE_CERT_MISSING,
            &target,
            format!(
                "no valid certificate with Client Authentication among {} in {target} (13806)",
                certs.len()
            ),
        )
        .with_evidence(ev)],
    }
}
