//! Reading a timeline file back as connections: one summary line per client connection, and the
//! whole story of one (its events and those of every leg opened for it), in order.
//!
//! Events are read as JSON values, not as [`EventKind`](super::EventKind), so a file written by a
//! newer egresslab (more fields, new kinds) still reads: fields are only ever added.

use std::collections::BTreeMap;

use serde_json::Value;

use super::timeline::ConnId;

/// A line of a timeline file that is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
#[non_exhaustive]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, and what was expected.
    pub problem: String,
}

/// A timeline file read back: its events in order, and the lines that could not be read.
#[derive(Debug, Default)]
pub struct Stories {
    events: Vec<Value>,
    /// Lines skipped (a half-written last line when a lab was killed, a stray line).
    pub bad_lines: Vec<BadLine>,
}

/// One client connection in a line: who, which way, what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The connection's id.
    pub id: ConnId,
    /// Wall-clock time of its first event.
    pub time: String,
    /// Who opened it (`127.0.0.1:40312`), or `-`.
    pub client: String,
    /// The components it crossed, in order (`proxy:corp → endpoint:login`).
    pub path: String,
    /// What came of it, in words (`407`, `tunnel 200`, `drop by rule 1`, `TLS failed: …`).
    pub verdict: String,
    /// Bytes from the client, as the first component counted them.
    pub bytes_up: u64,
    /// Bytes to the client.
    pub bytes_down: u64,
    /// From its first event to its last, in milliseconds.
    pub duration_ms: f64,
    /// Why it closed, or `-` while open (or for an exchange without a close, like a DNS query).
    pub close: String,
}

impl Stories {
    /// Read JSON lines. Blank lines are ignored; a line that is not a JSON object with an `event`
    /// field is skipped and listed in [`Stories::bad_lines`].
    pub fn read(text: &str) -> Stories {
        let mut stories = Stories::default();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let problem = match serde_json::from_str::<Value>(line) {
                Ok(value) if value.get("event").and_then(Value::as_str).is_some() => {
                    stories.events.push(value);
                    continue;
                }
                Ok(_) => "expected a JSON object with an \"event\" field".to_owned(),
                Err(error) => format!("not JSON ({error}); expected one event object per line"),
            };
            stories.bad_lines.push(BadLine {
                line: index + 1,
                problem,
            });
        }
        stories
    }

    /// Stories of events already parsed (the in-memory timeline as JSON values); values that are
    /// not objects with an `event` field are left out.
    pub fn from_events(events: Vec<Value>) -> Stories {
        Stories {
            events: events
                .into_iter()
                .filter(|value| value.get("event").and_then(Value::as_str).is_some())
                .collect(),
            bad_lines: Vec::new(),
        }
    }

    /// Every event, in file order.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// The connection each leg serves, by leg id.
    fn parents(&self) -> BTreeMap<ConnId, ConnId> {
        let mut parents = BTreeMap::new();
        for event in &self.events {
            if let (Some(id), Some(serves)) = (conn(event), serves(event)) {
                if id != serves {
                    parents.insert(id, serves);
                }
            }
        }
        parents
    }

    /// The client connection at the root of `id` (itself when no leg chain leads above it).
    fn root(parents: &BTreeMap<ConnId, ConnId>, id: ConnId) -> ConnId {
        let mut at = id;
        // A chain is at most as long as there are legs; the bound also stops a malformed cycle.
        for _ in 0..=parents.len() {
            match parents.get(&at) {
                Some(parent) => at = *parent,
                None => break,
            }
        }
        at
    }

    /// The events of connection `id` and of every leg opened for it (and for those legs), in order.
    pub fn story(&self, id: ConnId) -> Vec<&Value> {
        let parents = self.parents();
        self.events
            .iter()
            .filter(|event| {
                conn(event).is_some_and(|c| c == id || Stories::descends(&parents, c, id))
            })
            .collect()
    }

    fn descends(parents: &BTreeMap<ConnId, ConnId>, mut id: ConnId, ancestor: ConnId) -> bool {
        for _ in 0..=parents.len() {
            match parents.get(&id) {
                Some(parent) if *parent == ancestor => return true,
                Some(parent) => id = *parent,
                None => return false,
            }
        }
        false
    }

    /// One summary per client connection (legs are folded into the connection they serve), in the
    /// order they began.
    pub fn summaries(&self) -> Vec<Summary> {
        let parents = self.parents();
        let mut grouped: BTreeMap<ConnId, Vec<&Value>> = BTreeMap::new();
        let mut order: Vec<ConnId> = Vec::new();
        for event in &self.events {
            let Some(id) = conn(event) else { continue };
            let root = Stories::root(&parents, id);
            let entry = grouped.entry(root).or_default();
            if entry.is_empty() {
                order.push(root);
            }
            entry.push(event);
        }
        order
            .into_iter()
            .filter_map(|root| grouped.get(&root).map(|events| summarise(root, events)))
            .collect()
    }
}

fn summarise(id: ConnId, events: &[&Value]) -> Summary {
    let first = events.first().copied();
    let at = |event: Option<&Value>| event.and_then(|e| e["at_ms"].as_f64()).unwrap_or(0.0);
    let client = events
        .iter()
        .find_map(|e| e.get("peer").and_then(Value::as_str))
        .unwrap_or("-")
        .to_owned();
    let mut path: Vec<&str> = Vec::new();
    for event in events {
        if let Some(source) = event["source"].as_str() {
            if path.last() != Some(&source) && !path.contains(&source) {
                path.push(source);
            }
        }
    }
    let root_close = events
        .iter()
        .find(|e| e["event"] == "closed" && conn(e) == Some(id));
    let bytes = |field: &str| {
        root_close
            .and_then(|e| e[field].as_u64())
            .unwrap_or_default()
    };
    Summary {
        id,
        time: first
            .and_then(|e| e["time"].as_str())
            .unwrap_or("-")
            .to_owned(),
        client,
        path: path.join(" → "),
        verdict: verdict(events),
        bytes_up: bytes("bytes_up"),
        bytes_down: bytes("bytes_down"),
        duration_ms: at(events.last().copied()) - at(first),
        close: root_close
            .and_then(|e| e["reason"].as_str())
            .unwrap_or("-")
            .to_owned(),
    }
}

/// The event that best says what came of a connection, in words: a firewall's drop or reject
/// first (the client saw nothing else), then a failed TLS handshake, then the first answer a
/// proxy gave (or how a SOCKS5 exchange ended short of a tunnel), then the last HTTP status, then a DNS answer or datagram.
fn verdict(events: &[&Value]) -> String {
    let find = |kind: &str| events.iter().find(|e| e["event"] == kind).copied();
    let text = |event: &Value, field: &str| event[field].as_str().unwrap_or_default().to_owned();
    if let Some(rule) = events.iter().find(|e| {
        e["event"] == "firewall" && matches!(e["action"].as_str(), Some("drop" | "reject" | "hang"))
    }) {
        return format!("{} ({})", text(rule, "action"), text(rule, "rule"));
    }
    if let Some(failed) = find("tls_failed") {
        return format!("TLS failed: {}", text(failed, "error"));
    }
    if let Some(answer) = find("answer") {
        let status = answer["status"].as_u64().unwrap_or_default();
        return format!("{status} {}", text(answer, "reason"));
    }
    // A SOCKS5 exchange that ended short of a tunnel says why; a tunnel's story is what crossed it.
    if let Some(socks) = find("socks").filter(|socks| socks["reply"] != 0) {
        return format!("SOCKS5 {}", text(socks, "outcome"));
    }
    if let Some(http) = events.iter().rev().find(|e| e["event"] == "http") {
        let status = http["status"].as_u64().unwrap_or_default();
        return format!("{status} {} {}", text(http, "method"), text(http, "url"));
    }
    if let Some(failed) = find("upstream_failed") {
        return format!("no leg: {}", text(failed, "error"));
    }
    if let Some(dns) = find("dns_query") {
        return format!("DNS {} → {}", text(dns, "name"), text(dns, "answer"));
    }
    if let Some(datagram) = find("datagram") {
        let answered = datagram["answered"].as_bool().unwrap_or(false);
        return if answered {
            "datagram answered"
        } else {
            "datagram unanswered"
        }
        .to_owned();
    }
    if let Some(handshake) = find("tls_handshake") {
        return format!("TLS {}", text(handshake, "version"));
    }
    "-".to_owned()
}

fn conn(event: &Value) -> Option<ConnId> {
    event.get("conn").and_then(Value::as_u64)
}

fn serves(event: &Value) -> Option<ConnId> {
    event.get("serves").and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"v":1,"seq":0,"at_ms":1.0,"time":"t0","source":"proxy:corp","conn":1,"event":"accepted","peer":"127.0.0.1:5000","local":"127.0.0.1:3128"}
{"v":1,"seq":1,"at_ms":2.0,"time":"t1","source":"proxy:corp","conn":2,"event":"upstream","serves":1,"local":"127.0.0.1:6000","remote":"127.0.0.1:443","destination":"login.test:443"}
{"v":1,"seq":2,"at_ms":3.0,"time":"t2","source":"endpoint:login","conn":2,"event":"accepted","peer":"127.0.0.1:6000","local":"127.0.0.1:443","serves":1}
this line is broken
{"v":1,"seq":3,"at_ms":4.0,"time":"t3","source":"proxy:corp","conn":1,"event":"answer","status":200,"reason":"tunnel established"}
{"v":1,"seq":4,"at_ms":9.0,"time":"t4","source":"proxy:corp","conn":1,"event":"closed","bytes_up":10,"bytes_down":20,"reason":"client closed"}
{"v":1,"seq":5,"at_ms":9.5,"time":"t5","source":"control","event":"note","message":"lab-wide"}
"#;

    #[test]
    fn a_socks5_exchange_that_ended_short_of_a_tunnel_is_the_verdict() {
        let file = r#"{"v":1,"seq":0,"at_ms":1.0,"time":"t0","source":"proxy:corp","conn":1,"event":"accepted","peer":"127.0.0.1:5000","local":"127.0.0.1:1080"}
{"v":1,"seq":1,"at_ms":2.0,"time":"t1","source":"proxy:corp","conn":1,"event":"socks","methods":["no-auth"],"chosen":"no-auth","reply":2,"outcome":"replied 0x02 connection not allowed by ruleset for share.test:443"}
{"v":1,"seq":2,"at_ms":3.0,"time":"t2","source":"proxy:corp","conn":1,"event":"closed","bytes_up":0,"bytes_down":0,"reason":"replied 0x02"}
"#;
        let summaries = Stories::read(file).summaries();
        assert_eq!(
            summaries[0].verdict,
            "SOCKS5 replied 0x02 connection not allowed by ruleset for share.test:443"
        );
    }

    #[test]
    fn legs_fold_into_the_connection_they_serve() {
        let stories = Stories::read(FILE);
        assert_eq!(stories.bad_lines.len(), 1);
        assert_eq!(stories.bad_lines[0].line, 4);
        let summaries = stories.summaries();
        assert_eq!(summaries.len(), 1, "{summaries:?}");
        let one = &summaries[0];
        assert_eq!(one.client, "127.0.0.1:5000");
        assert_eq!(one.path, "proxy:corp → endpoint:login");
        assert_eq!(one.verdict, "200 tunnel established");
        assert_eq!((one.bytes_up, one.bytes_down), (10, 20));
        assert_eq!(one.duration_ms, 8.0);
        assert_eq!(one.close, "client closed");
        let parsed = Stories::from_events(stories.events().to_vec());
        assert_eq!(parsed.summaries(), summaries, "parsed values fold the same");
        let story = stories.story(1);
        assert_eq!(story.len(), 5);
        assert_eq!(
            stories.story(2).len(),
            2,
            "a leg's own story is its own events"
        );
    }
}
