//! The lab DNS server: answers the lab's names on loopback (UDP and TCP), NXDOMAIN for everything else.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::capture::Leg;
use super::context::Serving;
use super::timeline::EventKind;
use super::world::World;

const SOURCE: &str = "dns";
const TTL: u32 = 60;

/// Serve DNS over UDP until the lab shuts down.
pub(crate) async fn serve_udp(socket: UdpSocket, world: Arc<World>, serving: Serving) {
    let mut buffer = vec![0u8; 4096];
    let Ok(local) = socket.local_addr() else {
        return;
    };
    loop {
        let received = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let Ok((n, peer)) = received else { continue };
        serving
            .capture
            .datagram(peer, local, &buffer[..n], Some("the lab's DNS server"));
        if let Some(reply) = answer(&buffer[..n], &world, &serving, peer) {
            serving.capture.datagram(local, peer, &reply, None);
            if let Err(error) = socket.send_to(&reply, peer).await {
                tracing::debug!(%error, %peer, "dns reply failed");
            }
        }
    }
}

/// Serve DNS over TCP (two-byte length prefix) until the lab shuts down.
pub(crate) async fn serve_tcp(listener: TcpListener, world: Arc<World>, serving: Serving) {
    loop {
        let accepted = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let (world, inner, token) = (world.clone(), serving.clone(), serving.shutdown.clone());
        serving.tasks.spawn(async move {
            let reason = || "client to the lab's DNS server (TCP)".to_owned();
            let mut stream = inner.tapped(stream, Leg::Accepted, reason).await;
            let exchange = async {
                // A client may send several queries on one connection; a bounded number is plenty.
                for _ in 0..64 {
                    let len = usize::from(stream.read_u16().await?);
                    let mut query = vec![0u8; len];
                    stream.read_exact(&mut query).await?;
                    let Some(reply) = answer(&query, &world, &inner, peer) else {
                        break;
                    };
                    let reply_len = u16::try_from(reply.len()).unwrap_or(u16::MAX);
                    stream.write_u16(reply_len).await?;
                    stream.write_all(&reply).await?;
                }
                Ok::<(), std::io::Error>(())
            };
            tokio::select! {
                () = token.cancelled() => {}
                _ = exchange => {}
            }
        });
    }
}

/// The reply to one DNS message, or `None` when it is not a parseable query.
fn answer(query: &[u8], world: &World, serving: &Serving, peer: SocketAddr) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.message_type() != MessageType::Query {
        return None;
    }
    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(false);
    reply.add_queries(request.queries().to_vec());
    let Some(question) = request.queries().first() else {
        reply.set_response_code(ResponseCode::FormErr);
        return reply.to_vec().ok();
    };
    if request.op_code() != OpCode::Query {
        reply.set_response_code(ResponseCode::NotImp);
        return reply.to_vec().ok();
    }
    let name = question.name().to_ascii();
    let host = name.trim_end_matches('.');
    let addresses = world.addresses_of(host);
    let words = if addresses.is_empty() {
        reply.set_response_code(ResponseCode::NXDomain);
        "NXDOMAIN".to_owned()
    } else {
        let answered: Vec<(RData, IpAddr)> = addresses
            .iter()
            .filter_map(|ip| match (question.query_type(), *ip) {
                (RecordType::A | RecordType::ANY, IpAddr::V4(v4)) => Some((RData::A(A(v4)), *ip)),
                (RecordType::AAAA | RecordType::ANY, IpAddr::V6(v6)) => {
                    Some((RData::AAAA(AAAA(v6)), *ip))
                }
                _ => None,
            })
            .collect();
        if answered.is_empty() {
            format!("no {} record", question.query_type())
        } else {
            let words: Vec<String> = answered.iter().map(|(_, ip)| ip.to_string()).collect();
            for (rdata, _) in answered {
                reply.add_answer(Record::from_rdata(question.name().clone(), TTL, rdata));
            }
            words.join(" ")
        }
    };
    // Each query is an exchange of its own, with its own id (a DNS client may reuse its port).
    let id = serving.timeline.new_connection();
    serving.timeline.record_on(
        SOURCE,
        Some(id),
        EventKind::DnsQuery {
            name: host.to_owned(),
            answer: words,
            peer: Some(peer),
            qtype: Some(question.query_type().to_string()),
        },
    );
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5353);
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use std::net::SocketAddr;
    use std::str::FromStr;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    fn serving() -> Serving {
        Serving {
            timeline: super::super::timeline::Timeline::new(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            live: Default::default(),
            capture: Default::default(),
        }
    }

    fn ask(name: &str, kind: RecordType, world: &World, serving: &Serving) -> Message {
        let mut query = Message::new();
        query
            .set_id(7)
            .add_query(Query::query(Name::from_str(name).unwrap(), kind));
        let reply = answer(&query.to_vec().unwrap(), world, serving, PEER).unwrap();
        Message::from_vec(&reply).unwrap()
    }

    #[test]
    fn answers_lab_names_and_nxdomain() {
        let mut world = World::new(Some(SocketAddr::from(([127, 0, 0, 1], 9))));
        world.declare_name("*.lab.test");
        world.declare_nxdomain("gone.lab.test");
        world.add_host_address("own.lab.test", "127.0.3.4".parse().unwrap());
        let serving = serving();
        let reply = ask("a.lab.test.", RecordType::A, &world, &serving);
        assert_eq!(reply.id(), 7);
        assert_eq!(reply.response_code(), ResponseCode::NoError);
        assert_eq!(reply.answers()[0].data(), &RData::A(A::new(127, 0, 0, 1)));
        let own = ask("own.lab.test.", RecordType::A, &world, &serving);
        assert_eq!(own.answers()[0].data(), &RData::A(A::new(127, 0, 3, 4)));
        for name in ["gone.lab.test.", "example.org."] {
            let reply = ask(name, RecordType::A, &world, &serving);
            assert_eq!(reply.response_code(), ResponseCode::NXDomain, "{name}");
        }
        let aaaa = ask("a.lab.test.", RecordType::AAAA, &world, &serving);
        assert_eq!(aaaa.response_code(), ResponseCode::NoError);
        assert!(aaaa.answers().is_empty());
        assert_eq!(serving.timeline.events().len(), 5);
    }

    #[test]
    fn garbage_is_ignored() {
        let world = World::default();
        assert!(answer(b"\x00\x01garbage", &world, &serving(), PEER).is_none());
    }
}
