//! The capture file written with direct I/O (`O_DIRECT`), past the page cache.
//!
//! A bulk capture writes every byte of a tunnel four times (two legs, two directions) and grows by
//! gigabytes. Through the page cache each of those pages must first be found and filled in the
//! kernel's memory; on a virtual machine whose memory is handed over on first touch that fill is
//! the capture's bound (about 300 MB/s through the cache against 900–1 000 MB/s written directly,
//! `dd` on the machine of docs/performance.md), and on any machine it pushes everything else out
//! of the cache. Direct writes go from the lab's buffer to the disk.
//!
//! Direct I/O wants whole, aligned blocks. Writes are staged in an aligned buffer and go out as
//! whole blocks in large direct writes; a flush (the capture's periodic one, and the last) writes
//! the partial last block through the page cache, so the file is complete and readable after
//! every flush, and the next direct write rewrites that block whole. After a failed write the file
//! is cut back to the end of the last write known to be in it: whole pcapng blocks only.
//! A file system that refuses direct I/O (some network file systems, older tmpfs) gets the plain
//! file instead: [`open`] tries one block first.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::pcapng::Sink;

/// The block size writes are aligned to: the page size, a multiple of every common device's
/// logical block size.
const ALIGN: usize = 4096;

/// How much the staging window holds (a multiple of [`ALIGN`]; the capture hands over about
/// 256 KiB at a time).
const STAGING: usize = 1024 * 1024;

/// Staged bytes from which whole blocks go out (large direct writes, room for the next buffer).
const WRITE_AT: usize = STAGING / 2;

/// A capture file written past the page cache.
pub(crate) struct DirectFile {
    /// The file opened with `O_DIRECT`: every write is whole aligned blocks at an aligned offset.
    direct: File,
    /// The same file opened plainly, for the partial last block at a flush and for cutting it.
    plain: File,
    /// Allocated once with room to align [`STAGING`] bytes inside it; never grows.
    staging: Vec<u8>,
    /// Where the aligned window starts within `staging`.
    start: usize,
    /// Bytes staged in the window, after the whole blocks already in the file.
    staged: usize,
    /// Bytes in the file as whole blocks (a multiple of [`ALIGN`]); the staged bytes follow them.
    blocks: u64,
    /// Where each write handed in since the last durable point ends (file offsets): a write is
    /// whole pcapng blocks, so these are the places the file may be cut.
    ends: VecDeque<u64>,
    /// The last end known to be in the file: a cut goes no further back than this.
    last_whole: u64,
    /// Set when the file was cut back after a failed write: nothing more is written.
    cut: bool,
}

/// The sink for the capture file at `path`, already opened (empty, for writing) as `plain`: a
/// [`DirectFile`] when the file system takes direct writes, the plain file otherwise.
pub(crate) fn open(path: &Path, plain: File) -> Box<dyn Sink> {
    use std::os::unix::fs::OpenOptionsExt;
    let direct = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    let Ok(direct) = direct else {
        return Box::new(plain);
    };
    let sink = DirectFile::new(direct, plain);
    // Some file systems take the flag and refuse the write: try one block.
    let proved = sink.direct.write_all_at(sink.window(ALIGN), 0);
    if sink.plain.set_len(0).is_err() || proved.is_err() {
        tracing::debug!(path = %path.display(), "direct I/O refused; the capture goes through the page cache");
        return Box::new(sink.plain);
    }
    Box::new(sink)
}

impl DirectFile {
    fn new(direct: File, plain: File) -> DirectFile {
        let staging = vec![0u8; STAGING + ALIGN];
        let start = staging.as_ptr().align_offset(ALIGN).min(ALIGN);
        DirectFile {
            direct,
            plain,
            staging,
            start,
            staged: 0,
            blocks: 0,
            ends: VecDeque::new(),
            last_whole: 0,
            cut: false,
        }
    }

    /// The first `len` bytes of the aligned window.
    fn window(&self, len: usize) -> &[u8] {
        &self.staging[self.start..self.start + len]
    }

    /// Write the staged whole blocks and move the partial one to the window's start.
    fn write_blocks(&mut self) -> io::Result<()> {
        let whole = self.staged / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        self.direct.write_all_at(self.window(whole), self.blocks)?;
        self.blocks += whole as u64;
        let start = self.start;
        self.staging
            .copy_within(start + whole..start + self.staged, start);
        self.staged -= whole;
        self.durable(self.blocks);
        Ok(())
    }

    /// Everything before `offset` is in the file: the writes that end there or earlier may be
    /// cut back to.
    fn durable(&mut self, offset: u64) {
        while let Some(&end) = self.ends.front() {
            if end > offset {
                break;
            }
            self.last_whole = end;
            self.ends.pop_front();
        }
    }
}

impl Write for DirectFile {
    /// Stage `data` (whole pcapng blocks) and write the whole disk blocks once enough are staged;
    /// the partial last one waits for the next write or a flush.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.cut {
            return Err(io::Error::other(
                "the capture file was cut after a failed write",
            ));
        }
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(STAGING - self.staged);
            let at = self.start + self.staged;
            self.staging[at..at + n].copy_from_slice(&rest[..n]);
            self.staged += n;
            rest = &rest[n..];
            if self.staged >= WRITE_AT {
                self.write_blocks()?;
            }
        }
        self.ends.push_back(self.blocks + self.staged as u64);
        Ok(data.len())
    }

    /// Everything written so far is in the file afterwards: the whole blocks directly, the
    /// partial last one through the page cache (a reader never sees padding; the direct write
    /// that later covers that block writes the cached page back and drops it first, which the
    /// kernel does to keep the two views coherent).
    fn flush(&mut self) -> io::Result<()> {
        if self.cut {
            return Ok(());
        }
        self.write_blocks()?;
        if self.staged > 0 {
            self.plain
                .write_all_at(self.window(self.staged), self.blocks)?;
        }
        self.durable(self.blocks + self.staged as u64);
        Ok(())
    }
}

impl Sink for DirectFile {
    /// Only after a failed write, when the capture stops: the file keeps at most `length` bytes,
    /// ending where a write ended that is known to be in it, and nothing more is written to it.
    fn truncate(&mut self, length: u64) -> io::Result<u64> {
        self.cut = true;
        let keep = self.last_whole.min(length);
        self.plain.set_len(keep)?;
        Ok(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that differ from block to block, so a block written at the wrong offset shows.
    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as u8)
            .collect()
    }

    fn direct_in(dir: &tempfile::TempDir) -> (std::path::PathBuf, DirectFile) {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.path().join("capture.pcapng");
        let plain = File::create(&path).unwrap();
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .expect(
                "the test's temporary directory is on a file system with direct I/O (ext4 here)",
            );
        (path, DirectFile::new(direct, plain))
    }

    #[test]
    fn after_every_flush_the_file_holds_exactly_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut file) = direct_in(&dir);
        let mut expected = Vec::new();
        // Sizes that cross block and staging boundaries, with flushes between some of them.
        for (round, size) in [1, 4095, 4096, 70_001, 300_000, 3, 1_500_000, 8192, 17]
            .into_iter()
            .enumerate()
        {
            let data = pattern(size, round as u32);
            file.write_all(&data).unwrap();
            expected.extend_from_slice(&data);
            if round % 2 == 0 {
                file.flush().unwrap();
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    expected,
                    "after round {round}"
                );
            }
        }
        file.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn a_cut_file_keeps_its_length_and_takes_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut file) = direct_in(&dir);
        let data = pattern(10_000, 7);
        file.write_all(&data).unwrap();
        file.flush().unwrap();
        file.truncate(6_000).unwrap();
        assert!(file.write_all(b"more").is_err());
        file.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data[..6_000]);
    }

    #[test]
    fn a_cut_goes_back_to_the_end_of_the_last_write_known_to_be_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut file) = direct_in(&dir);
        let first = pattern(5_000, 1);
        file.write_all(&first).unwrap();
        file.flush().unwrap();
        // Staged only: a failure now must not leave these bytes' place as a hole in the file.
        file.write_all(&pattern(3_000, 2)).unwrap();
        assert_eq!(file.truncate(8_000).unwrap(), 5_000);
        assert_eq!(std::fs::read(&path).unwrap(), first);
    }

    #[test]
    fn the_chosen_sink_writes_on_tmpfs_and_on_disk_alike() {
        // tmpfs may refuse O_DIRECT (then the plain file is the sink); ext4 takes it.
        for dir in [tempfile::tempdir_in("/dev/shm"), tempfile::tempdir()] {
            let dir = dir.unwrap();
            let path = dir.path().join("capture.pcapng");
            let mut sink = open(&path, File::create(&path).unwrap());
            let data = pattern(20_000, 3);
            sink.write_all(&data).unwrap();
            sink.flush().unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "in {}",
                dir.path().display()
            );
        }
    }
}
