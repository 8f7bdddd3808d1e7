//! The capture file's writes, moved off the relays onto a thread of their own.
//!
//! Every relay that records a segment does so under the capture's one lock; when the file's buffer
//! is full, the write to the disk used to happen there too, so every tunnel waited for the disk
//! (a direct write waits for the device). Here a full buffer is handed to a writer thread through
//! a short bounded queue and the relays go on; they wait only when the queue is full, which is
//! the back-pressure that keeps memory flat when the disk is slower than the traffic. The
//! thread, not the relays, meets a write error: it cuts the file back to its last whole buffer
//! (whole pcapng blocks) and the error reaches the capture at its next write or flush.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::pcapng::Sink;

/// How many full buffers may wait for the writer thread (256 KiB each, the capture's buffer).
const QUEUE: usize = 4;

/// What the relays ask of the writer thread.
enum Job {
    /// Append these bytes (whole pcapng blocks).
    Bytes(Vec<u8>),
    /// Push everything written to the file, then answer.
    Flush(SyncSender<()>),
    /// Cut the file to at most this length (never past what was written), then answer with
    /// the length it has.
    Cut(u64, SyncSender<u64>),
}

/// The writer thread's first write error, in words, shared with the sink the capture writes to.
type Failure = Arc<Mutex<Option<String>>>;

/// A sink whose writes happen on a thread of their own.
pub(crate) struct Background {
    jobs: Option<SyncSender<Job>>,
    /// Buffers the thread is done with, reused so a bulk capture does not allocate per buffer.
    spent: Receiver<Vec<u8>>,
    failure: Failure,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Start the writer thread around `sink`. Err when the thread cannot be started.
    pub(crate) fn start(sink: Box<dyn Sink>) -> io::Result<Background> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let (give_back, spent) = mpsc::sync_channel(QUEUE + 1);
        let failure = Failure::default();
        let report = failure.clone();
        let thread = std::thread::Builder::new()
            .name("capture-writer".to_owned())
            .spawn(move || run(sink, &queue, &give_back, &report))?;
        Ok(Background {
            jobs: Some(jobs),
            spent,
            failure,
            thread: Some(thread),
        })
    }

    fn failure(&self) -> Option<io::Error> {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.clone().map(io::Error::other)
    }

    /// Send `job` and wait for the thread's answer on the channel it carries.
    fn ask<T>(&self, job: impl FnOnce(SyncSender<T>) -> Job) -> io::Result<T> {
        let (answer, answered) = mpsc::sync_channel(1);
        self.send(job(answer))?;
        answered.recv().map_err(|_| gone())
    }

    fn send(&self, job: Job) -> io::Result<()> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|_| gone()),
            None => Err(gone()),
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the capture's writer thread has stopped")
}

/// The writer thread: jobs in order until the capture drops its end of the queue.
fn run(
    mut sink: Box<dyn Sink>,
    queue: &Receiver<Job>,
    give_back: &SyncSender<Vec<u8>>,
    failure: &Mutex<Option<String>>,
) {
    let mut written = 0u64;
    // Once a write or flush failed: the length the file was cut back to. Nothing is written after.
    let mut cut_to: Option<u64> = None;
    let fail = |sink: &mut Box<dyn Sink>, written: u64, error: io::Error| {
        failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| error.to_string());
        cut(sink, written)
    };
    for job in queue {
        match job {
            Job::Bytes(bytes) => {
                if cut_to.is_none() {
                    match sink.write_all(&bytes) {
                        Ok(()) => written += bytes.len() as u64,
                        Err(error) => cut_to = Some(fail(&mut sink, written, error)),
                    }
                }
                // A full return queue only means the buffer is freed instead of reused.
                let _ = give_back.try_send(bytes);
            }
            Job::Flush(answer) => {
                if cut_to.is_none() {
                    if let Err(error) = sink.flush() {
                        cut_to = Some(fail(&mut sink, written, error));
                    }
                }
                let _ = answer.send(());
            }
            Job::Cut(length, answer) => {
                let length = match cut_to {
                    Some(at) if at <= length => at,
                    _ => cut(&mut sink, length.min(written)),
                };
                cut_to = Some(length);
                let _ = answer.send(length);
            }
        }
    }
    if cut_to.is_none() {
        if let Err(error) = sink.flush() {
            fail(&mut sink, written, error);
        }
    }
}

/// Cut `sink` to `length`; the length it then has (`length` when the cut itself failed, which is
/// logged: the file may then end in a partial block).
fn cut(sink: &mut Box<dyn Sink>, length: u64) -> u64 {
    sink.truncate(length).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot cut the capture file back to its last whole block");
        length
    })
}

impl Write for Background {
    /// Hand `data` (whole blocks) to the thread; an earlier write's error is returned instead.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(error) = self.failure() {
            return Err(error);
        }
        let mut bytes = self
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(data.len()));
        bytes.clear();
        bytes.extend_from_slice(data);
        self.send(Job::Bytes(bytes))?;
        Ok(data.len())
    }

    /// Everything handed over so far is in the file when this returns (or its error is).
    fn flush(&mut self) -> io::Result<()> {
        self.ask(Job::Flush)?;
        match self.failure() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Sink for Background {
    /// After a failed write: the file keeps at most `length` bytes, never more than were written.
    fn truncate(&mut self, length: u64) -> io::Result<u64> {
        self.ask(|answer| Job::Cut(length, answer))
    }
}

impl Drop for Background {
    /// The queue is closed and the thread finishes what it holds, so the file is complete.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::capture::pcapng::tests::FillsUp;

    fn disk(limit: usize) -> FillsUp {
        FillsUp {
            bytes: Arc::default(),
            limit,
        }
    }

    #[test]
    fn bytes_arrive_in_order_and_a_flush_waits_for_them() {
        let disk = disk(usize::MAX);
        let mut sink = Background::start(Box::new(disk.clone())).unwrap();
        let mut expected = Vec::new();
        for i in 0..50u32 {
            let block = vec![i as u8; 1000 + i as usize];
            sink.write_all(&block).unwrap();
            expected.extend_from_slice(&block);
        }
        sink.flush().unwrap();
        assert_eq!(*disk.bytes.lock().unwrap(), expected);
    }

    #[test]
    fn a_failed_write_cuts_back_to_whole_buffers_and_reaches_the_next_call() {
        // Room for two and a half buffers of 1000 bytes.
        let disk = disk(2_500);
        let mut sink = Background::start(Box::new(disk.clone())).unwrap();
        let mut failed = None;
        for i in 0..10u8 {
            if let Err(error) = sink.write_all(&[i; 1000]) {
                failed = Some(error);
                break;
            }
        }
        let error = failed
            .or_else(|| sink.flush().err())
            .expect("the disk filled up");
        assert!(error.to_string().contains("no space left"), "{error}");
        assert_eq!(sink.truncate(u64::MAX).unwrap(), 2_000);
        let bytes = disk.bytes.lock().unwrap().clone();
        assert_eq!(bytes.len(), 2_000, "whole buffers only");
        assert_eq!(&bytes[..1000], &[0u8; 1000][..]);
        assert_eq!(&bytes[1000..], &[1u8; 1000][..]);
        assert!(sink.write_all(b"more").is_err());
    }

    #[test]
    fn a_pcapng_file_written_through_the_thread_ends_on_whole_blocks_when_the_disk_fills() {
        use crate::lab::capture::pcapng::tests::blocks;
        use crate::lab::capture::pcapng::PcapngFile;
        let disk = disk(600_000);
        let sink: Box<dyn Sink> = Box::new(Background::start(Box::new(disk.clone())).unwrap());
        let mut file = PcapngFile::start(sink, &["a note".to_owned()], 0).unwrap();
        let packet = vec![0x45u8; 1_500];
        let failed = (0..5_000).find_map(|_| {
            file.packet(
                std::time::Duration::from_secs(1),
                &packet[..40],
                &packet[40..],
                None,
                None,
            )
            .err()
        });
        let error = failed.expect("the sink fills up");
        assert!(error.to_string().contains("no space left"), "{error}");
        let bytes = disk.bytes.lock().unwrap().clone();
        assert_eq!(
            bytes.len() as u64,
            file.on_disk(),
            "the status says what the file holds"
        );
        let kinds = blocks(&bytes);
        assert_eq!(&kinds[..2], &[0x0A0D_0D0A, 1], "{kinds:?}");
        assert!(kinds.len() > 2 && kinds[2..].iter().all(|&k| k == 6));
    }
}
