//! The pcapng file itself: a section header, one raw-IP interface, enhanced packet blocks and
//! decryption secrets blocks, streamed to a sink that can be cut back to its last whole block.
//!
//! `pcap-file` writes the standard blocks. It has no Decryption Secrets Block type, so that one is
//! written as its generic `UnknownBlock` (type 0x0000000A, body: secrets type, length, data), which
//! the crate frames, pads and length-suffixes like every other block.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::time::Duration;

use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::blocks::unknown::UnknownBlock;
use pcap_file::pcapng::{Block, PcapNgWriter};
use pcap_file::{DataLink, Endianness, PcapError};

/// The pcapng block type of a Decryption Secrets Block.
const DECRYPTION_SECRETS_BLOCK: u32 = 0x0000_000A;
/// The pcapng block type of an Enhanced Packet Block.
const ENHANCED_PACKET_BLOCK: u32 = 0x0000_0006;
/// The option code of a comment.
const OPT_COMMENT: u16 = 1;
/// The DSB secrets type of a TLS key log (NSS key log format).
const TLS_KEY_LOG: u32 = 0x544c_534b;

/// Where the file's bytes go: written in order, and cut back to a length after a failed write so
/// that the file ends on a whole block.
pub(crate) trait Sink: Write + Send {
    /// Drop everything after the first `length` bytes; the length the sink then holds.
    fn truncate(&mut self, length: u64) -> io::Result<u64>;
}

impl Sink for File {
    fn truncate(&mut self, length: u64) -> io::Result<u64> {
        self.set_len(length)?;
        Ok(length)
    }
}

/// What a block or a flush failed with, in words for the capture's one error message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WriteFailed(String);

impl From<PcapError> for WriteFailed {
    fn from(error: PcapError) -> Self {
        WriteFailed(error.to_string())
    }
}

impl From<io::Error> for WriteFailed {
    fn from(error: io::Error) -> Self {
        WriteFailed(error.to_string())
    }
}

/// A pcapng stream: blocks are serialised into a buffer that goes to the sink whole, so the sink
/// only ever receives whole blocks; after a failed write the sink is cut back to what it held
/// before it, and the file stays readable.
pub(crate) struct PcapngFile<S: Sink> {
    writer: PcapNgWriter<Vec<u8>>,
    sink: S,
    /// Bytes the sink holds: whole blocks only.
    on_disk: u64,
}

/// How many bytes are buffered before they go to the sink: bulk segments go out in few calls.
const BUFFER: usize = 256 * 1024;

impl<S: Sink> PcapngFile<S> {
    /// Start a file: a section header carrying `comments` and one raw-IP interface keeping at most
    /// `snaplen` bytes of each packet (0: all), with nanosecond timestamps.
    pub(crate) fn start(sink: S, comments: &[String], snaplen: u32) -> Result<Self, WriteFailed> {
        // Little-endian, as the DSB body below is written.
        let section = SectionHeaderBlock {
            endianness: Endianness::Little,
            options: comments
                .iter()
                .map(|c| SectionHeaderOption::Comment(Cow::Owned(c.clone())))
                .chain([SectionHeaderOption::UserApplication(Cow::Borrowed(
                    "egresslab",
                ))])
                .collect(),
            ..SectionHeaderBlock::default()
        };
        let buffer = Vec::with_capacity(BUFFER + 70_000);
        let mut writer = PcapNgWriter::with_section_header(buffer, section)?;
        let interface = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("lab")),
                InterfaceDescriptionOption::IfDescription(Cow::Borrowed(
                    "the lab's connections, reconstructed from its sockets",
                )),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        writer.write_pcapng_block(interface)?;
        let mut file = PcapngFile {
            writer,
            sink,
            on_disk: 0,
        };
        file.flush()?;
        Ok(file)
    }

    /// One packet (an IP datagram: `header` then `payload`), captured at `timestamp` since the
    /// Unix epoch, keeping at most `snap` payload bytes (`None`: all).
    ///
    /// Written by hand, not through `pcap-file`'s `EnhancedPacketBlock`: this is the bulk path, and
    /// writing the header and payload straight into the buffer spares the two copies (one into a
    /// contiguous packet, one into the block) that the crate's owned-block API would need.
    pub(crate) fn packet(
        &mut self,
        timestamp: Duration,
        header: &[u8],
        payload: &[u8],
        snap: Option<usize>,
        comment: Option<&str>,
    ) -> Result<(), WriteFailed> {
        let kept_payload = snap.map_or(payload.len(), |snap| snap.min(payload.len()));
        let captured = header.len() + kept_payload;
        let original = header.len() + payload.len();
        let data_pad = (4 - captured % 4) % 4;
        let comment = comment
            .map(str::as_bytes)
            .filter(|c| c.len() <= usize::from(u16::MAX));
        let options = comment.map_or(0, |c| 4 + c.len() + (4 - c.len() % 4) % 4 + 4);
        let total = 32 + captured + data_pad + options;
        let (Ok(total32), Ok(captured32), Ok(original32)) = (
            u32::try_from(total),
            u32::try_from(captured),
            u32::try_from(original),
        ) else {
            return Err(WriteFailed(
                "a packet too large for a pcapng block".to_owned(),
            ));
        };
        let nanos = u64::try_from(timestamp.as_nanos()).unwrap_or(u64::MAX);
        let out = self.writer.get_mut();
        out.reserve(total);
        for word in [
            ENHANCED_PACKET_BLOCK,
            total32,
            0,
            (nanos >> 32) as u32,
            nanos as u32,
            captured32,
            original32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(header);
        out.extend_from_slice(&payload[..kept_payload]);
        out.extend_from_slice(&[0u8; 3][..data_pad]);
        if let Some(comment) = comment {
            out.extend_from_slice(&OPT_COMMENT.to_le_bytes());
            out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
            out.extend_from_slice(comment);
            out.extend_from_slice(&[0u8; 3][..(4 - comment.len() % 4) % 4]);
            out.extend_from_slice(&[0u8; 4]);
        }
        out.extend_from_slice(&total32.to_le_bytes());
        if out.len() >= BUFFER {
            self.hand_over()?;
        }
        Ok(())
    }

    /// A Decryption Secrets Block holding key log `lines` (NSS format, each ending in a newline).
    pub(crate) fn secrets(&mut self, lines: &[u8]) -> Result<(), WriteFailed> {
        let mut body = Vec::with_capacity(8 + lines.len());
        body.extend_from_slice(&TLS_KEY_LOG.to_le_bytes());
        body.extend_from_slice(&u32::try_from(lines.len()).unwrap_or(u32::MAX).to_le_bytes());
        body.extend_from_slice(lines);
        // The crate pads the body to 32 bits; a DSB's secrets are padded the same way and, with
        // no options after them, the two paddings are the same bytes.
        let block = UnknownBlock {
            type_: DECRYPTION_SECRETS_BLOCK,
            length: 0,
            value: Cow::Owned(body),
        };
        self.block(&Block::Unknown(block))
    }

    fn block(&mut self, block: &Block<'_>) -> Result<(), WriteFailed> {
        if let Err(error) = self.writer.write_block(block) {
            return Err(error.into());
        }
        if self.writer.get_ref().len() >= BUFFER {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hand the buffered blocks to the sink and have it push them to the file (the periodic flush
    /// and the last one). On failure the sink is cut back to the whole blocks it held before, the
    /// buffer is dropped, and the error returned.
    pub(crate) fn flush(&mut self) -> Result<(), WriteFailed> {
        self.hand_over()?;
        let flushed = self.sink.flush();
        flushed.or_else(|error| self.failed(error))
    }

    /// Hand the buffered blocks to the sink (a full buffer: no flush, so a sink that writes on a
    /// thread of its own is not waited for).
    fn hand_over(&mut self) -> Result<(), WriteFailed> {
        let buffer = self.writer.get_mut();
        if buffer.is_empty() {
            return Ok(());
        }
        let written = self.sink.write_all(buffer);
        let length = buffer.len() as u64;
        buffer.clear();
        match written {
            Ok(()) => {
                self.on_disk += length;
                Ok(())
            }
            Err(error) => self.failed(error),
        }
    }

    /// Cut the sink back to its last whole block after `error`, and return the error.
    fn failed(&mut self, error: io::Error) -> Result<(), WriteFailed> {
        match self.sink.truncate(self.on_disk) {
            Ok(length) => self.on_disk = length,
            Err(cut) => {
                tracing::warn!(%cut, "cannot cut the capture file back to its last whole block");
            }
        }
        Err(error.into())
    }

    /// How many bytes the sink holds.
    pub(crate) fn on_disk(&self) -> u64 {
        self.on_disk
    }
}

impl Sink for Box<dyn Sink> {
    fn truncate(&mut self, length: u64) -> io::Result<u64> {
        (**self).truncate(length)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink in memory that refuses writes once it holds `limit` bytes (a full disk).
    #[derive(Clone)]
    pub(crate) struct FillsUp {
        pub(crate) bytes: Arc<Mutex<Vec<u8>>>,
        pub(crate) limit: usize,
    }

    impl Write for FillsUp {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            let room = self.limit.saturating_sub(bytes.len());
            if room == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            let n = room.min(buf.len());
            bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for FillsUp {
        fn truncate(&mut self, length: u64) -> io::Result<u64> {
            let mut bytes = self.bytes.lock().unwrap();
            bytes.truncate(length as usize);
            Ok(bytes.len() as u64)
        }
    }

    /// Every block of a pcapng file as pcap-parser reads it: (block type, length); panics on a
    /// partial block.
    pub(crate) fn blocks(bytes: &[u8]) -> Vec<u32> {
        use pcap_parser::{parse_block_le, Block as Parsed};
        let mut rest = bytes;
        let mut kinds = Vec::new();
        while !rest.is_empty() {
            let (left, block) = parse_block_le(rest).expect("a whole block");
            kinds.push(match block {
                Parsed::SectionHeader(_) => 0x0A0D_0D0A,
                Parsed::InterfaceDescription(_) => 1,
                Parsed::EnhancedPacket(_) => 6,
                Parsed::DecryptionSecrets(_) => 10,
                _ => u32::MAX,
            });
            rest = left;
        }
        kinds
    }

    #[test]
    fn a_full_disk_leaves_whole_blocks_only() {
        let sink = FillsUp {
            bytes: Arc::default(),
            limit: 2 * BUFFER + 1_000,
        };
        let mut file = PcapngFile::start(sink.clone(), &["a note".to_owned()], 0).unwrap();
        file.secrets(b"CLIENT_RANDOM 00 11\n").unwrap();
        let packet = vec![0x45u8; 1_500];
        let failed = (0..1_000).find_map(|_| {
            file.packet(
                Duration::from_secs(1),
                &packet[..40],
                &packet[40..],
                None,
                Some("c"),
            )
            .err()
        });
        let error = failed.expect("the sink fills up");
        assert!(error.to_string().contains("no space left"), "{error}");
        let bytes = sink.bytes.lock().unwrap().clone();
        assert_eq!(bytes.len() as u64, file.on_disk());
        let kinds = blocks(&bytes);
        assert_eq!(&kinds[..3], &[0x0A0D_0D0A, 1, 10], "{kinds:?}");
        assert!(kinds[3..].iter().all(|&k| k == 6));
    }
}
