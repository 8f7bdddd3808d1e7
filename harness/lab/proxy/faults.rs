//! Faults a proxy injects: a fixed status, a slow answer, a close right after the request, garbage.

use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::lab::plan::ProxyFault;

use super::answers::Failure;

/// Bytes that are not HTTP, for the garbage fault.
pub(crate) const GARBAGE: &[u8] = b"\x00\x17\xfe\xffnot an HTTP answer\x01\x02\x03\r\n\r\n";

/// What the connection does after a fault was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultStep {
    /// Handle the request normally.
    Continue,
    /// Answer with this failure instead.
    Answer(Failure),
    /// Close the connection; the reason goes to the timeline.
    Close(&'static str),
}

/// Apply `fault` to a request that was just read.
pub(crate) async fn apply<S: AsyncWrite + Unpin>(
    fault: Option<&ProxyFault>,
    client: &mut S,
    shutdown: &CancellationToken,
) -> FaultStep {
    match fault {
        None => FaultStep::Continue,
        Some(ProxyFault::Status(status)) => FaultStep::Answer(Failure::Injected(*status)),
        Some(ProxyFault::SlowAnswer(delay)) => slow(*delay, shutdown).await,
        Some(ProxyFault::CloseAfterConnect) => FaultStep::Close("closed after the request (fault)"),
        Some(ProxyFault::CloseAfterChallenge) => FaultStep::Continue,
        Some(ProxyFault::Garbage) => {
            let _ = client.write_all(GARBAGE).await;
            let _ = client.shutdown().await;
            FaultStep::Close("answered garbage (fault)")
        }
    }
}

/// The fault in the timeline's words.
pub(crate) fn describe(fault: &ProxyFault) -> String {
    match fault {
        ProxyFault::Status(status) => format!("answer {status} to every request"),
        ProxyFault::SlowAnswer(delay) => format!("wait {} ms before answering", delay.as_millis()),
        ProxyFault::CloseAfterConnect => {
            "close the connection after reading the request".to_owned()
        }
        ProxyFault::Garbage => "answer bytes that are not HTTP".to_owned(),
        ProxyFault::CloseAfterChallenge => {
            "close the connection right after an NTLM/Negotiate challenge".to_owned()
        }
    }
}

async fn slow(delay: Duration, shutdown: &CancellationToken) -> FaultStep {
    tokio::select! {
        () = shutdown.cancelled() => FaultStep::Close("shutdown"),
        () = tokio::time::sleep(delay) => FaultStep::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn slow_answer_waits_then_continues_and_yields_to_shutdown() {
        tokio::time::pause();
        let (mut a, _b) = tokio::io::duplex(64);
        let token = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let step = apply(
            Some(&ProxyFault::SlowAnswer(Duration::from_secs(90))),
            &mut a,
            &token,
        )
        .await;
        assert_eq!(step, FaultStep::Continue);
        // The paused clock jumps to the deadline (rounded up to the timer's millisecond).
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(90) && waited <= Duration::from_millis(90_001),
            "{waited:?}"
        );
        let started = tokio::time::Instant::now();
        token.cancel();
        let step = apply(
            Some(&ProxyFault::SlowAnswer(Duration::from_secs(90))),
            &mut a,
            &token,
        )
        .await;
        assert_eq!(step, FaultStep::Close("shutdown"));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn garbage_is_written_and_the_connection_closed() {
        let (mut a, mut b) = tokio::io::duplex(256);
        let step = apply(
            Some(&ProxyFault::Garbage),
            &mut a,
            &CancellationToken::new(),
        )
        .await;
        assert!(matches!(step, FaultStep::Close(_)));
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, GARBAGE);
    }
}
