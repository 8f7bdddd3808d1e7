//! UDP responders: an IKEv2 responder that answers IKE_SA_INIT, or a silent sink (UDP dropped).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::context::Serving;
use super::control::draw::touches;
use super::control::{Stream, Toxic, ToxicKind};
use super::live::Gate;
use super::plan::{UdpBehaviour, UdpPlan};
use super::timeline::EventKind;

const IKE_HEADER_LEN: usize = 28;
const IKE_SA_INIT: u8 = 34;
const IKE_VERSION_2: u8 = 0x20;
const FLAG_RESPONSE: u8 = 0x20;
/// NAT-T port 4500 prefixes IKE messages with four zero bytes (the non-ESP marker).
const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Serve one UDP responder until the lab shuts down. Its gate's toxics act per datagram:
/// `packet_loss` drops the share `toxicity` of datagrams (upstream: requests, downstream: replies),
/// `latency` delays the reply; a gate turned off drops everything, as a stopped service behind a
/// firewall that drops would.
pub(crate) async fn serve(socket: UdpSocket, plan: UdpPlan, gate: Arc<Gate>, serving: Serving) {
    let source = format!("udp:{}", plan.name);
    let mut buffer = vec![0u8; 65536];
    let toxics = gate.watch_toxics();
    let mut number: u64 = 0;
    let local = socket.local_addr().unwrap_or(gate.address);
    loop {
        let received = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let Ok((n, peer)) = received else { continue };
        number += 1;
        let toxics = toxics.borrow().clone();
        let fate = Fate::of(&toxics, gate.seed(), &gate.name, number);
        let reply = match plan.behaviour {
            UdpBehaviour::IkeResponder if gate.enabled() && !fate.drop_request => {
                ike_reply(&buffer[..n])
            }
            _ => None,
        };
        let unanswered_because = if !gate.enabled() {
            Some("the responder is turned off through the control API".to_owned())
        } else if fate.drop_request {
            Some("packet_loss dropped the request".to_owned())
        } else if fate.drop_reply {
            Some("packet_loss dropped the reply".to_owned())
        } else if matches!(plan.behaviour, UdpBehaviour::Silent) {
            Some(
                "silent responder: datagrams to this port are dropped, as by a firewall".to_owned(),
            )
        } else if reply.is_none() {
            Some("not an IKE_SA_INIT request the responder answers".to_owned())
        } else {
            None
        };
        if serving.capture.is_recording() {
            let why = match (&reply, fate.drop_request || fate.drop_reply) {
                (Some(_), false) => "answered",
                (_, true) => "dropped by a packet_loss toxic",
                (None, false) => "never answered (a silent responder, as a firewall that drops)",
            };
            let comment = format!("udp responder {} ({:?}): {why}", plan.name, plan.behaviour);
            serving
                .capture
                .datagram(peer, local, &buffer[..n], Some(&comment));
        }
        let answered = match reply {
            Some(_) if fate.drop_reply => false,
            Some(reply) => {
                if fate.delay_ms > 0 {
                    // Bounded by MAX_TOXIC_MILLIS; replies of one responder keep their order.
                    tokio::select! {
                        () = serving.shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(fate.delay_ms)) => {}
                    }
                }
                serving.capture.datagram(local, peer, &reply, None);
                socket.send_to(&reply, peer).await.is_ok()
            }
            None => false,
        };
        // Each datagram and its reply is an exchange with its own id.
        let id = Some(serving.timeline.new_connection());
        serving.timeline.record_on(
            &source,
            id,
            EventKind::Datagram {
                peer,
                bytes: n,
                answered,
                unanswered_because: unanswered_because.filter(|_| !answered),
            },
        );
        if fate.drop_request || fate.drop_reply {
            serving.timeline.record_on(
                &source,
                id,
                EventKind::Note {
                    message: format!(
                        "packet_loss dropped the {} of datagram {number} from {peer}",
                        if fate.drop_request {
                            "request"
                        } else {
                            "reply"
                        }
                    ),
                },
            );
        }
    }
}

/// What the toxics do to one datagram and its reply.
#[derive(Debug, Default, PartialEq)]
struct Fate {
    drop_request: bool,
    drop_reply: bool,
    delay_ms: u64,
}

impl Fate {
    fn of(toxics: &[Toxic], seed: u64, gate: &str, number: u64) -> Fate {
        let mut fate = Fate::default();
        for toxic in toxics {
            if !touches(seed, gate, number, &toxic.name, toxic.toxicity) {
                continue;
            }
            match (&toxic.kind, toxic.stream) {
                (ToxicKind::PacketLoss, Stream::Upstream) => fate.drop_request = true,
                (ToxicKind::PacketLoss, Stream::Downstream) => fate.drop_reply = true,
                (ToxicKind::Latency { latency, .. }, _) => fate.delay_ms += latency,
                _ => {}
            }
        }
        fate
    }
}

/// The reply to an IKE_SA_INIT request (with or without the non-ESP marker), or `None`.
pub(crate) fn ike_reply(datagram: &[u8]) -> Option<Vec<u8>> {
    let (marker, message) = match datagram.strip_prefix(&NON_ESP_MARKER) {
        Some(rest) if rest.len() >= IKE_HEADER_LEN => (true, rest),
        _ => (false, datagram),
    };
    if message.len() < IKE_HEADER_LEN
        || message[17] != IKE_VERSION_2
        || message[18] != IKE_SA_INIT
        || message[19] & FLAG_RESPONSE != 0
    {
        return None;
    }
    let mut header = Vec::with_capacity(IKE_HEADER_LEN + 4);
    if marker {
        header.extend_from_slice(&NON_ESP_MARKER);
    }
    header.extend_from_slice(&message[..8]);
    header.extend_from_slice(&responder_spi());
    header.extend_from_slice(&[0, IKE_VERSION_2, IKE_SA_INIT, FLAG_RESPONSE]);
    header.extend_from_slice(&0u32.to_be_bytes());
    header.extend_from_slice(&(IKE_HEADER_LEN as u32).to_be_bytes());
    Some(header)
}

/// A random, non-zero responder SPI.
fn responder_spi() -> [u8; 8] {
    use std::hash::{BuildHasher, RandomState};
    let value = RandomState::new().hash_one(std::time::Instant::now()) | 1;
    value.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAG_INITIATOR: u8 = 0x08;

    fn init(spi: [u8; 8]) -> Vec<u8> {
        let mut message = spi.to_vec();
        message.extend([0; 8]);
        message.extend([33, IKE_VERSION_2, IKE_SA_INIT, FLAG_INITIATOR]);
        message.extend(0u32.to_be_bytes());
        message.extend(28u32.to_be_bytes());
        message
    }

    #[test]
    fn answers_ike_sa_init_with_a_response_header() {
        let reply = ike_reply(&init([1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
        assert_eq!(reply.len(), 28);
        assert_eq!(&reply[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_ne!(&reply[8..16], &[0; 8]);
        assert_eq!(&reply[16..20], &[0, 0x20, 34, 0x20]);
        assert_eq!(&reply[20..28], &[0, 0, 0, 0, 0, 0, 0, 28]);
        let mut natt = NON_ESP_MARKER.to_vec();
        natt.extend(init([9; 8]));
        let reply = ike_reply(&natt).unwrap();
        assert_eq!(&reply[..4], &NON_ESP_MARKER);
        assert_eq!(reply.len(), 32);
    }

    #[test]
    fn ignores_what_is_not_an_ike_sa_init_request() {
        assert!(ike_reply(b"hello").is_none());
        let mut informational = init([1; 8]);
        informational[18] = 37;
        assert!(ike_reply(&informational).is_none());
        let mut response = init([1; 8]);
        response[19] = FLAG_RESPONSE;
        assert!(ike_reply(&response).is_none());
    }
}
