//! The timeline for the page: a server-sent event stream from a `seq` on (read from the timeline's
//! bounded ring in batches, waiting for new events rather than polling), and the connections'
//! summaries and stories folded by [`Stories`].

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use serde_json::{json, Value};

use crate::lab::stories::{Stories, Summary};
use crate::lab::{ConnId, Timeline};

/// Events per frame of the stream: a page that connects late catches up in bounded steps.
const BATCH: usize = 500;

/// How long the stream stays quiet before it sends a comment, so that a dead page is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The stream's frames: every event from `from` on, as `id: SEQ` / `data: JSON` records.
pub(super) fn stream(
    timeline: Timeline,
    from: u64,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    let recorded = timeline.subscribe();
    futures_util::stream::unfold(
        (timeline, recorded, from),
        |(timeline, mut recorded, mut next)| async move {
            loop {
                let events = timeline.events_from(next, BATCH);
                if let Some(last) = events.last() {
                    next = last.seq + 1;
                    let mut text = String::new();
                    for event in &events {
                        if let Ok(line) = serde_json::to_string(event) {
                            text.push_str(&format!("id: {}\ndata: {line}\n\n", event.seq));
                        }
                    }
                    return Some((
                        Ok(Frame::data(Bytes::from(text))),
                        (timeline, recorded, next),
                    ));
                }
                match tokio::time::timeout(KEEPALIVE, recorded.changed()).await {
                    Ok(Ok(())) => continue,
                    // The lab is gone: end the stream.
                    Ok(Err(_)) => return None,
                    Err(_) => {
                        let frame = Frame::data(Bytes::from_static(b": keepalive\n\n"));
                        return Some((Ok(frame), (timeline, recorded, next)));
                    }
                }
            }
        },
    )
}

/// The timeline's events in memory, read as [`Stories`].
fn stories(timeline: &Timeline) -> Stories {
    let events = timeline
        .events()
        .iter()
        .filter_map(|event| serde_json::to_value(event).ok())
        .collect();
    Stories::from_events(events)
}

/// One summary per client connection, oldest first, with the count of events they fold.
pub(super) fn connections(timeline: &Timeline) -> Value {
    let stories = stories(timeline);
    let rows: Vec<Value> = stories.summaries().iter().map(summary_json).collect();
    json!({ "recorded": timeline.recorded(), "dropped": timeline.dropped(), "connections": rows })
}

/// Every event of connection `id` and of the legs opened for it.
pub(super) fn story(timeline: &Timeline, id: ConnId) -> Value {
    let stories = stories(timeline);
    json!({ "conn": id, "events": stories.story(id) })
}

fn summary_json(summary: &Summary) -> Value {
    json!({
        "id": summary.id,
        "time": summary.time,
        "client": summary.client,
        "path": summary.path,
        "verdict": summary.verdict,
        "bytes_up": summary.bytes_up,
        "bytes_down": summary.bytes_down,
        "duration_ms": summary.duration_ms,
        "close": summary.close,
    })
}
