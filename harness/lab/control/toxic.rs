//! Toxics: Toxiproxy's names, attributes, defaults and JSON shape, checked before they reach a link.
//!
//! The JSON is Toxiproxy's own (`name`, `type`, `stream`, `toxicity`, `attributes`), so a body any
//! Toxiproxy client sends means the same here. Unlike Toxiproxy, which ignores what it does not know,
//! an unknown field, a wrong type or an out-of-range value is refused with a 400 that says which.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;

/// The longest time an attribute may name (latency, jitter, time-outs, delays): one hour, as for
/// the scenario file's time-outs. A larger value would only hang whoever waits for it.
pub const MAX_TOXIC_MILLIS: u64 = 3_600_000;

/// Which way through a link a toxic acts: `upstream` is client to upstream, `downstream` (the
/// default, as in Toxiproxy) is upstream to client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// From the client towards the upstream.
    Upstream,
    /// From the upstream back to the client.
    Downstream,
}

impl Stream {
    fn parse(word: &str) -> Result<Stream, ApiError> {
        match word {
            "upstream" => Ok(Stream::Upstream),
            "downstream" => Ok(Stream::Downstream),
            _ => Err(ApiError::invalid_stream()),
        }
    }

    /// The word Toxiproxy uses.
    pub fn word(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// What a toxic does, with its attributes in Toxiproxy's units.
#[derive(Debug, Clone, PartialEq)]
pub enum ToxicKind {
    /// Passes data unchanged.
    Noop,
    /// Delays each chunk by `latency` ms, plus or minus up to `jitter` ms.
    Latency {
        /// Milliseconds added to each chunk.
        latency: u64,
        /// Up to this many milliseconds more or less, drawn per chunk.
        jitter: u64,
    },
    /// Limits the rate to `rate` KB/s (1 KB = 1000 bytes); 0 lets data through unlimited.
    Bandwidth {
        /// Kilobytes per second.
        rate: u64,
    },
    /// Holds the close of the connection by `delay` ms once the sender closed.
    SlowClose {
        /// Milliseconds.
        delay: u64,
    },
    /// Stops all data; closes the connection after `timeout` ms, or holds it forever with 0.
    Timeout {
        /// Milliseconds; 0 holds the data until the toxic is removed.
        timeout: u64,
    },
    /// Resets the connection (TCP RST) after `timeout` ms; data flows until then.
    ResetPeer {
        /// Milliseconds; 0 resets at once.
        timeout: u64,
    },
    /// Cuts data into slices of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        /// Bytes per slice on average (at least 1).
        average_size: u64,
        /// Up to this many bytes more or less per slice (at most `average_size`).
        size_variation: u64,
        /// Microseconds between slices.
        delay: u64,
    },
    /// Closes the connection once `bytes` bytes went through.
    LimitData {
        /// Bytes.
        bytes: u64,
    },
    /// egresslab's own, for UDP responders: drops a datagram; `toxicity` is the share of datagrams
    /// dropped, drawn per datagram from the seed.
    PacketLoss,
}

/// The type words, in the order `invalid toxic type` lists them.
pub const TOXIC_TYPES: &[&str] = &[
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
    "packet_loss",
];

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct LatencyAttrs {
    latency: u64,
    jitter: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RateAttrs {
    rate: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct DelayAttrs {
    delay: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct TimeoutAttrs {
    timeout: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct SlicerAttrs {
    average_size: u64,
    size_variation: u64,
    delay: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct BytesAttrs {
    bytes: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct NoAttrs {}

fn attrs<T: serde::de::DeserializeOwned>(value: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(value))
        .map_err(|e| ApiError::bad_body(format!("attributes: {e}")))
}

fn millis(name: &str, value: u64) -> Result<u64, ApiError> {
    if value > MAX_TOXIC_MILLIS {
        return Err(ApiError::bad_body(format!(
            "attributes: {name} {value} is over the limit of {MAX_TOXIC_MILLIS} ms (one hour)"
        )));
    }
    Ok(value)
}

impl ToxicKind {
    /// The toxic of type `word` with `attributes` (missing ones default to 0, as in Toxiproxy).
    pub fn from_json(word: &str, attributes: Map<String, Value>) -> Result<ToxicKind, ApiError> {
        Ok(match word {
            "noop" => {
                let NoAttrs {} = attrs(attributes)?;
                ToxicKind::Noop
            }
            "latency" => {
                let a: LatencyAttrs = attrs(attributes)?;
                ToxicKind::Latency {
                    latency: millis("latency", a.latency)?,
                    jitter: millis("jitter", a.jitter)?,
                }
            }
            "bandwidth" => {
                let a: RateAttrs = attrs(attributes)?;
                ToxicKind::Bandwidth { rate: a.rate }
            }
            "slow_close" => {
                let a: DelayAttrs = attrs(attributes)?;
                ToxicKind::SlowClose {
                    delay: millis("delay", a.delay)?,
                }
            }
            "timeout" => {
                let a: TimeoutAttrs = attrs(attributes)?;
                ToxicKind::Timeout {
                    timeout: millis("timeout", a.timeout)?,
                }
            }
            "reset_peer" => {
                let a: TimeoutAttrs = attrs(attributes)?;
                ToxicKind::ResetPeer {
                    timeout: millis("timeout", a.timeout)?,
                }
            }
            "slicer" => {
                let a: SlicerAttrs = attrs(attributes)?;
                if a.average_size == 0 {
                    return Err(ApiError::bad_body(
                        "attributes: average_size must be at least 1 byte".to_owned(),
                    ));
                }
                if a.size_variation > a.average_size {
                    return Err(ApiError::bad_body(
                        "attributes: size_variation must not exceed average_size".to_owned(),
                    ));
                }
                if a.delay > MAX_TOXIC_MILLIS * 1000 {
                    return Err(ApiError::bad_body(format!(
                        "attributes: delay {} µs is over the limit of one hour",
                        a.delay
                    )));
                }
                ToxicKind::Slicer {
                    average_size: a.average_size,
                    size_variation: a.size_variation,
                    delay: a.delay,
                }
            }
            "limit_data" => {
                let a: BytesAttrs = attrs(attributes)?;
                ToxicKind::LimitData { bytes: a.bytes }
            }
            "packet_loss" => {
                let NoAttrs {} = attrs(attributes)?;
                ToxicKind::PacketLoss
            }
            _ => return Err(ApiError::invalid_type()),
        })
    }

    /// The type word.
    pub fn word(&self) -> &'static str {
        match self {
            ToxicKind::Noop => "noop",
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::PacketLoss => "packet_loss",
        }
    }

    /// The attributes as Toxiproxy prints them: every attribute of the type, defaults included.
    pub fn attributes(&self) -> Map<String, Value> {
        let value = match *self {
            ToxicKind::Noop | ToxicKind::PacketLoss => serde_json::to_value(NoAttrs {}),
            ToxicKind::Latency { latency, jitter } => {
                serde_json::to_value(LatencyAttrs { latency, jitter })
            }
            ToxicKind::Bandwidth { rate } => serde_json::to_value(RateAttrs { rate }),
            ToxicKind::SlowClose { delay } => serde_json::to_value(DelayAttrs { delay }),
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                serde_json::to_value(TimeoutAttrs { timeout })
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => serde_json::to_value(SlicerAttrs {
                average_size,
                size_variation,
                delay,
            }),
            ToxicKind::LimitData { bytes } => serde_json::to_value(BytesAttrs { bytes }),
        };
        match value {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// One toxic on one link: its name, kind, direction and the share of connections it touches.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    /// Unique on its link; `TYPE_STREAM` unless given.
    pub name: String,
    /// What it does.
    pub kind: ToxicKind,
    /// Which direction it acts on.
    pub stream: Stream,
    /// The probability, per connection, that it acts on that connection (0.0 to 1.0).
    pub toxicity: f64,
    /// egresslab's own: on a lab proxy, a host pattern (`*.servicebus.windows.net`) that limits
    /// the toxic to the proxy's connections to matching destinations; `None` acts on the whole
    /// client connection, as in Toxiproxy.
    pub destination: Option<String>,
}

/// A toxic as a client posts it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToxicBody {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    stream: Option<String>,
    toxicity: Option<f64>,
    attributes: Option<Map<String, Value>>,
    destination: Option<String>,
}

/// An update as a client posts it: Toxiproxy reads only `attributes` and `toxicity`; the other
/// fields are accepted (clients send the whole toxic back) and ignored, as there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToxicUpdate {
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<Value>,
    #[serde(default, rename = "type")]
    #[allow(dead_code)]
    kind: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    stream: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    destination: Option<Value>,
    toxicity: Option<f64>,
    attributes: Option<Map<String, Value>>,
}

fn toxicity(value: Option<f64>, default: f64) -> Result<f64, ApiError> {
    check_toxicity(value.unwrap_or(default))
}

/// A toxicity: a share from 0.0 to 1.0.
pub(crate) fn check_toxicity(value: f64) -> Result<f64, ApiError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(ApiError::bad_body(format!(
            "toxicity {value} is outside 0.0 to 1.0"
        )));
    }
    Ok(value)
}

impl Toxic {
    /// Read a toxic from the body of `POST /proxies/{proxy}/toxics`.
    pub fn from_body(body: &[u8]) -> Result<Toxic, ApiError> {
        let body: ToxicBody = serde_json::from_slice(body).map_err(ApiError::from_json)?;
        let stream = Stream::parse(body.stream.as_deref().unwrap_or("downstream"))?;
        let word = body.kind.ok_or_else(ApiError::invalid_type)?;
        let kind = ToxicKind::from_json(&word, body.attributes.unwrap_or_default())?;
        let name = match body.name {
            Some(name) if !name.is_empty() => name,
            _ => format!("{word}_{}", stream.word()),
        };
        check_name(&name)?;
        Ok(Toxic {
            name,
            kind,
            stream,
            toxicity: toxicity(body.toxicity, 1.0)?,
            destination: body.destination.map(check_destination).transpose()?,
        })
    }

    /// This toxic changed by the body of `POST|PATCH /proxies/{proxy}/toxics/{toxic}`: attributes
    /// given replace those of the same name, the rest are kept.
    pub fn updated(&self, body: &[u8]) -> Result<Toxic, ApiError> {
        let body: ToxicUpdate = serde_json::from_slice(body).map_err(ApiError::from_json)?;
        let mut attributes = self.kind.attributes();
        attributes.extend(body.attributes.unwrap_or_default());
        Ok(Toxic {
            name: self.name.clone(),
            kind: ToxicKind::from_json(self.kind.word(), attributes)?,
            stream: self.stream,
            toxicity: toxicity(body.toxicity, self.toxicity)?,
            destination: self.destination.clone(),
        })
    }

    /// Toxiproxy's JSON for this toxic.
    /// Whether it acts on a connection to `destination` (a proxy's origin connection), or with
    /// `None` on a whole client connection: a toxic with a destination pattern acts only on the
    /// proxy's connections to matching hosts, one without only on whole connections.
    pub fn acts_on(&self, destination: Option<&str>) -> bool {
        match (&self.destination, destination) {
            (None, None) => true,
            (Some(pattern), Some(host)) => crate::lab::pattern::host_matches(pattern, host),
            _ => false,
        }
    }

    /// Toxiproxy's JSON for it (with egresslab's `destination` when it has one).
    pub fn to_json(&self) -> Value {
        let mut json = serde_json::json!({
            "name": self.name,
            "type": self.kind.word(),
            "stream": self.stream.word(),
            "toxicity": self.toxicity,
            "attributes": self.kind.attributes(),
        });
        if let (Some(destination), Some(object)) = (&self.destination, json.as_object_mut()) {
            object.insert("destination".to_owned(), Value::from(destination.clone()));
        }
        json
    }
}

/// A destination pattern: `*`, a host name, or `*.suffix`.
pub(crate) fn check_destination(pattern: String) -> Result<String, ApiError> {
    let ok = pattern == "*" || crate::lab::pattern::is_host_pattern(&pattern);
    if ok {
        Ok(pattern.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_body(format!(
            "destination {pattern:?}: expected `*`, a host name or `*.suffix`"
        )))
    }
}

/// Link and toxic names: what a URL path segment carries without escaping, and short.
pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_body(format!(
            "name {name:?}: expected 1 to 128 ASCII letters, digits, '-', '_' or '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_toxiproxys() {
        let toxic =
            Toxic::from_body(br#"{"type":"latency","attributes":{"latency":200}}"#).unwrap();
        assert_eq!(toxic.name, "latency_downstream");
        assert_eq!(toxic.stream, Stream::Downstream);
        assert_eq!(toxic.toxicity, 1.0);
        assert_eq!(
            toxic.to_json()["attributes"],
            serde_json::json!({"latency": 200, "jitter": 0})
        );
    }

    /// The fuzzer's find (fuzz/artifacts/control_json): a toxicity written with many digits
    /// printed back as a different number until serde_json parsed floats exactly.
    #[test]
    fn a_long_toxicity_prints_back_as_the_same_number() {
        let body = include_bytes!(
            "../../../fuzz/artifacts/control_json/crash-df499297585a7c703e246d1398f65832f861d264"
        );
        let toxic = Toxic::from_body(body).unwrap();
        let again = Toxic::from_body(toxic.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(again, toxic);
    }

    #[test]
    fn an_update_merges_attributes_and_keeps_the_rest() {
        let toxic = Toxic::from_body(
            br#"{"name":"slow","type":"latency","stream":"upstream","attributes":{"latency":200,"jitter":5}}"#,
        )
        .unwrap();
        let updated = toxic
            .updated(br#"{"attributes":{"jitter":50},"toxicity":0.5}"#)
            .unwrap();
        assert_eq!(
            updated.kind,
            ToxicKind::Latency {
                latency: 200,
                jitter: 50
            }
        );
        assert_eq!(updated.toxicity, 0.5);
        assert_eq!(updated.stream, Stream::Upstream);
    }

    #[test]
    fn bad_toxics_are_refused_with_what_is_wrong() {
        for (body, message) in [
            (
                &br#"{"type":"latency","attributes":{"latency":-1}}"#[..],
                "invalid value",
            ),
            (
                br#"{"type":"latency","attributes":{"latency":"x"}}"#,
                "invalid type",
            ),
            (
                br#"{"type":"latency","attributes":{"latncy":1}}"#,
                "unknown field",
            ),
            (
                br#"{"type":"latency","attributes":{"latency":3600001}}"#,
                "over the limit",
            ),
            (br#"{"type":"warp"}"#, "invalid toxic type"),
            (
                br#"{"type":"noop","stream":"sideways"}"#,
                "stream was invalid",
            ),
            (br#"{"type":"noop","toxicity":1.5}"#, "outside 0.0 to 1.0"),
            (
                br#"{"type":"slicer","attributes":{"average_size":0}}"#,
                "at least 1",
            ),
            (br#"{"type":"noop","extra":1}"#, "unknown field"),
            (br#"{"type":"noop""#, "bad request body"),
            (br#"{"type":"noop","name":"a/b"}"#, "expected 1 to 128"),
        ] {
            let error = Toxic::from_body(body).unwrap_err();
            assert_eq!(error.status, 400, "{error:?}");
            assert!(
                error.message.contains(message),
                "{}: {error:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
