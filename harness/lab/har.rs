//! An HTTP Archive (HAR 1.2) of every HTTP exchange the lab sees, written as the exchanges happen.
//!
//! Each `http` timeline event becomes one entry. The file is valid JSON after every entry: the
//! closing brackets are written after each one and written over by the next, so a lab stopped at
//! any moment (or killed) leaves a file that devtools and HAR libraries load. Memory stays flat:
//! nothing is kept but the file handle. Credentials are masked as in the timeline.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::timeline::{Event, EventKind};

/// What closes the `entries` array and the document after the newest entry.
const TRAILER: &[u8] = b"\n]}}\n";

/// A HAR file being written.
#[derive(Debug)]
pub struct HarWriter {
    file: BufWriter<File>,
    entries: u64,
}

impl HarWriter {
    /// Create (or truncate) `path` and write an archive with no entries yet.
    pub fn create(path: &Path) -> std::io::Result<HarWriter> {
        let mut file = BufWriter::new(File::create(path)?);
        let head = json!({
            "version": "1.2",
            "creator": { "name": "egresslab", "version": env!("CARGO_PKG_VERSION") },
        });
        // The document's head without its closing brace, then the entries array.
        let head = head.to_string();
        let head = head.strip_suffix('}').unwrap_or(&head);
        write!(file, "{{\"log\":{head},\"entries\":[")?;
        file.write_all(TRAILER)?;
        file.flush()?;
        Ok(HarWriter { file, entries: 0 })
    }

    /// Append the entry for `event` if it is an HTTP exchange; other events are ignored.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        let Some(entry) = entry(event) else {
            return Ok(());
        };
        let back = i64::try_from(TRAILER.len()).unwrap_or(0);
        self.file.seek(SeekFrom::End(-back))?;
        if self.entries > 0 {
            self.file.write_all(b",")?;
        }
        self.file.write_all(b"\n")?;
        serde_json::to_writer(&mut self.file, &entry)?;
        self.file.write_all(TRAILER)?;
        self.file.flush()?;
        self.entries += 1;
        Ok(())
    }

    /// How many entries were written.
    pub fn entries(&self) -> u64 {
        self.entries
    }
}

/// The HAR entry of an `http` event.
fn entry(event: &Event) -> Option<Value> {
    let EventKind::Http {
        role,
        method,
        url,
        http_version,
        request_headers,
        request_body_bytes,
        status,
        response_headers,
        response_body_bytes,
        wait_ms,
        total_ms,
    } = &event.kind
    else {
        return None;
    };
    let headers = |fields: &[(String, String)]| -> Vec<Value> {
        fields
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect()
    };
    let mime = response_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, value)| value.as_str());
    let query: Vec<Value> = url
        .split_once('?')
        .map(|(_, query)| {
            query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    json!({ "name": name, "value": value })
                })
                .collect()
        })
        .unwrap_or_default();
    // Milliseconds the lab spent answering after the wait: the rest of the total.
    let receive = (total_ms - wait_ms).max(0.0);
    let started = started_at(&event.time, *total_ms);
    Some(json!({
        "startedDateTime": started,
        "time": total_ms,
        "request": {
            "method": method,
            "url": url,
            "httpVersion": http_version,
            "cookies": [],
            "headers": headers(request_headers),
            "queryString": query,
            "headersSize": -1,
            "bodySize": request_body_bytes,
        },
        "response": {
            "status": status,
            "statusText": super::status::reason_phrase(*status),
            "httpVersion": http_version,
            "cookies": [],
            "headers": headers(response_headers),
            "content": { "size": response_body_bytes, "mimeType": mime },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": response_body_bytes,
        },
        "cache": {},
        "timings": { "send": 0, "wait": wait_ms, "receive": receive },
        "connection": event.conn.map(|id| id.to_string()).unwrap_or_default(),
        "comment": format!("{} ({role})", event.source),
    }))
}

/// The entry's start: the event is recorded when the exchange ends, `total_ms` after it began.
fn started_at(ended: &str, total_ms: f64) -> String {
    let format = time::format_description::well_known::Rfc3339;
    let Ok(end) = time::OffsetDateTime::parse(ended, &format) else {
        return ended.to_owned();
    };
    let start = end - time::Duration::seconds_f64(total_ms / 1000.0);
    start.format(&format).unwrap_or_else(|_| ended.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Timeline;

    fn exchange(status: u16) -> EventKind {
        EventKind::Http {
            role: "endpoint".into(),
            method: "GET".into(),
            url: "https://login.test/a?x=1&y".into(),
            http_version: "HTTP/1.1".into(),
            request_headers: vec![("Host".into(), "login.test".into())],
            request_body_bytes: 0,
            status,
            response_headers: vec![("Content-Type".into(), "text/plain".into())],
            response_body_bytes: 5,
            wait_ms: 1.5,
            total_ms: 2.0,
        }
    }

    #[test]
    fn the_file_is_valid_after_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab.har");
        let mut har = HarWriter::create(&path).unwrap();
        let read =
            || -> Value { serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap() };
        assert_eq!(read()["log"]["entries"].as_array().unwrap().len(), 0);
        let timeline = Timeline::new();
        timeline.record("endpoint:login", exchange(200));
        timeline.record(
            "dns",
            EventKind::Note {
                message: "not HTTP".into(),
            },
        );
        timeline.record("endpoint:login", exchange(404));
        for event in timeline.events() {
            har.write(&event).unwrap();
        }
        let log = read();
        let entries = log["log"]["entries"].as_array().unwrap();
        assert_eq!((entries.len(), har.entries()), (2, 2));
        assert_eq!(log["log"]["version"], "1.2");
        assert_eq!(entries[1]["response"]["status"], 404);
        assert_eq!(entries[1]["response"]["statusText"], "Not Found");
        assert_eq!(entries[0]["request"]["queryString"][1]["name"], "y");
        assert_eq!(entries[0]["timings"]["receive"], 0.5);
        assert!(entries[0]["startedDateTime"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
    }
}
