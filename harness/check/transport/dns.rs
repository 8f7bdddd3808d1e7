//! Name resolution: the system resolver, or a given DNS server over UDP (query built and parsed here).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding};

/// The outcome of resolving one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Addresses found.
    Resolved(Vec<IpAddr>),
    /// The name does not exist (or has no address).
    NxDomain,
    /// No answer within the time-out.
    NoAnswer(String),
}

/// Resolve `host` the way the client would: a literal address as is, else the configured DNS server, else
/// the system resolver. Returns the outcome and the evidence.
pub async fn resolve(config: &ClientConfig, host: &str) -> (Resolution, Evidence) {
    let start = Instant::now();
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return (
            Resolution::Resolved(vec![ip]),
            Evidence::new(
                format!("resolve {host}"),
                "literal address",
                start.elapsed(),
            ),
        );
    }
    let timeout = config.io_timeout;
    let outcome = match config.dns_server {
        Some(server) => query_server(server, host, timeout).await,
        None => system(host, timeout).await,
    };
    let via = config
        .dns_server
        .map(|s| format!(" via {s}"))
        .unwrap_or_else(|| " via the system resolver".into());
    let came_back = match &outcome {
        Resolution::Resolved(a) => a
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        Resolution::NxDomain => "NXDOMAIN (no such name)".to_string(),
        Resolution::NoAnswer(why) => why.clone(),
    };
    (
        outcome,
        Evidence::new(format!("resolve {host}{via}"), came_back, start.elapsed()),
    )
}

/// The finding for a resolution outcome.
pub fn finding(host: &str, resolution: &Resolution, evidence: Evidence) -> Finding {
    let (code, summary) = match resolution {
        Resolution::Resolved(a) => (
            codes::NET_DNS_RESOLVED,
            format!("{host} resolves to {}", a.len()),
        ),
        Resolution::NxDomain => (
            codes::NET_DNS_NXDOMAIN,
            format!("{host} does not exist in DNS"),
        ),
        Resolution::NoAnswer(_) => (
            codes::NET_DNS_NO_ANSWER,
            format!("no DNS answer for {host}"),
        ),
    };
    Finding::new(code, host, summary).with_evidence(evidence)
}

async fn system(host: &str, timeout: Duration) -> Resolution {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, 0))).await {
        Err(_) => Resolution::NoAnswer(format!("no answer within {timeout:?}")),
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.dedup();
            if ips.is_empty() {
                Resolution::NxDomain
            } else {
                Resolution::Resolved(ips)
            }
        }
        // getaddrinfo does not tell NXDOMAIN from other failures portably; "not known" is the usual text.
        Ok(Err(e))
            if e.to_string().contains("failed to lookup")
                || e.kind() == std::io::ErrorKind::NotFound =>
        {
            Resolution::NxDomain
        }
        Ok(Err(e)) => Resolution::NoAnswer(e.to_string()),
    }
}

/// Build an A query for `host` (for the tests of this resolver and of the lab's DNS server).
#[cfg(test)]
pub fn build_query(host: &str, id: u16) -> Option<Vec<u8>> {
    build_query_for(host, id, RecordType::A)
}

/// Build a query of record type `kind` (A or AAAA) for `host`.
fn build_query_for(host: &str, id: u16, kind: RecordType) -> Option<Vec<u8>> {
    let name = Name::from_ascii(host).ok()?;
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    msg.add_query(Query::query(name, kind));
    msg.to_vec().ok()
}

/// Read the answer to one of this resolver's queries (matched by `id`).
pub fn parse_answer(bytes: &[u8], id: u16) -> Resolution {
    let msg = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(e) => return Resolution::NoAnswer(format!("malformed DNS answer: {e}")),
    };
    if msg.id() != id {
        return Resolution::NoAnswer("DNS answer with a foreign id".into());
    }
    match msg.response_code() {
        ResponseCode::NXDomain => return Resolution::NxDomain,
        ResponseCode::NoError => {}
        other => return Resolution::NoAnswer(format!("DNS server answered {other}")),
    }
    let ips: Vec<IpAddr> = msg
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    if ips.is_empty() {
        Resolution::NxDomain
    } else {
        Resolution::Resolved(ips)
    }
}

/// How long the AAAA question may take after the A one was answered (a server that ignores AAAA
/// must not stall every check).
const AAAA_WAIT: Duration = Duration::from_secs(1);

/// Ask `server` for the A and then the AAAA records of `host`: the addresses of both families, v4
/// first (a name with only an AAAA record resolves to its v6 address).
async fn query_server(server: SocketAddr, host: &str, timeout: Duration) -> Resolution {
    let id = (Instant::now().elapsed().subsec_nanos() as u16) ^ 0x5a5a ^ (host.len() as u16);
    let v4 = ask(server, host, id, RecordType::A, timeout).await;
    if matches!(v4, Resolution::NoAnswer(_)) {
        return v4;
    }
    let v6 = ask(
        server,
        host,
        id.wrapping_add(1),
        RecordType::AAAA,
        timeout.min(AAAA_WAIT),
    )
    .await;
    match (v4, v6) {
        (Resolution::Resolved(mut a), Resolution::Resolved(aaaa)) => {
            a.extend(aaaa);
            Resolution::Resolved(a)
        }
        (Resolution::NxDomain, Resolution::Resolved(aaaa)) => Resolution::Resolved(aaaa),
        (v4, _) => v4,
    }
}

/// One question of type `kind` to `server`, and its answer.
async fn ask(
    server: SocketAddr,
    host: &str,
    id: u16,
    kind: RecordType,
    timeout: Duration,
) -> Resolution {
    let Some(query) = build_query_for(host, id, kind) else {
        return Resolution::NxDomain;
    };
    let bind: SocketAddr = match (server.is_ipv4(), server.ip().is_loopback()) {
        (true, true) => ([127, 0, 0, 1], 0).into(),
        (true, false) => ([0, 0, 0, 0], 0).into(),
        (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return Resolution::NoAnswer(format!("cannot open a UDP socket: {e}")),
    };
    if let Err(e) = socket.send_to(&query, server).await {
        return Resolution::NoAnswer(format!("cannot send to {server}: {e}"));
    }
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    // Bounded: at most 8 datagrams are read looking for ours.
    for _ in 0..8 {
        match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
            Err(_) => {
                return Resolution::NoAnswer(format!("no answer from {server} within {timeout:?}"))
            }
            Ok(Err(e)) => return Resolution::NoAnswer(format!("{server}: {e}")),
            Ok(Ok((n, from))) if from == server => return parse_answer(&buf[..n], id),
            Ok(Ok(_)) => continue,
        }
    }
    Resolution::NoAnswer(format!("no answer from {server}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips_and_nxdomain_is_read() {
        let q = build_query("login.windows.net", 7).unwrap();
        let mut msg = Message::from_vec(&q).unwrap();
        assert_eq!(
            msg.queries()[0].name().to_ascii().trim_end_matches('.'),
            "login.windows.net"
        );
        msg.set_message_type(MessageType::Response)
            .set_response_code(ResponseCode::NXDomain);
        assert_eq!(
            parse_answer(&msg.to_vec().unwrap(), 7),
            Resolution::NxDomain
        );
        assert!(matches!(
            parse_answer(&msg.to_vec().unwrap(), 8),
            Resolution::NoAnswer(_)
        ));
    }
}
