//! Files as Windows writes them: UTF-16LE with a byte-order mark (what PowerShell's `>` produces),
//! UTF-16BE, UTF-8 with or without a BOM, CRLF line ends. Every reader gets plain `\n` text.

use std::fmt;

use super::error::ArtifactError;

/// The encoding a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// UTF-8 with a byte-order mark (Notepad, `Out-File -Encoding utf8` on Windows PowerShell).
    Utf8Bom,
    /// UTF-16 little-endian with a byte-order mark (PowerShell 5's `>` and `Out-File`).
    Utf16LeBom,
    /// UTF-16 big-endian with a byte-order mark.
    Utf16BeBom,
    /// UTF-16 little-endian without a mark, recognised by its zero high bytes.
    Utf16Le,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 with BOM",
            Encoding::Utf16LeBom => "UTF-16LE with BOM",
            Encoding::Utf16BeBom => "UTF-16BE with BOM",
            Encoding::Utf16Le => "UTF-16LE without BOM",
        })
    }
}

/// A decoded file: its text with `\n` line ends, the encoding and whether it had CRLF line ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text, line ends normalised to `\n`, no byte-order mark.
    pub text: String,
    /// The encoding found.
    pub encoding: Encoding,
    /// Whether the file used CRLF line ends.
    pub crlf: bool,
}

fn utf16(bytes: &[u8], little: bool, encoding: Encoding) -> Result<String, ArtifactError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ArtifactError::Encoding {
            message: format!(
                "{encoding} text has an odd number of bytes ({})",
                bytes.len()
            ),
        });
    }
    let units = bytes.chunks_exact(2).map(|p| {
        if little {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    char::decode_utf16(units)
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|e| ArtifactError::Encoding {
                message: format!(
                    "{encoding} text has an unpaired surrogate {:#06x} at byte {}",
                    e.unpaired_surrogate(),
                    i * 2
                ),
            })
        })
        .collect()
}

/// Looks like UTF-16LE without a BOM: at least 8 bytes, and nearly every odd byte zero.
fn looks_utf16le(bytes: &[u8]) -> bool {
    let pairs = bytes.len() / 2;
    pairs >= 4 && bytes.len().is_multiple_of(2) && {
        let zero_high = bytes
            .chunks_exact(2)
            .filter(|p| p[1] == 0 && p[0] != 0)
            .count();
        zero_high * 10 >= pairs * 9
    }
}

/// Decode a file's bytes. Invalid UTF-8 is an error naming the byte, not replaced silently.
///
/// ```
/// use egresslab::check::artifacts::text::{decode, Encoding};
/// let bytes: Vec<u8> = [0xFF, 0xFE].into_iter()
///     .chain("a\r\nb".encode_utf16().flat_map(u16::to_le_bytes)).collect();
/// let d = decode(&bytes).unwrap();
/// assert_eq!((d.text.as_str(), d.encoding, d.crlf), ("a\nb", Encoding::Utf16LeBom, true));
/// ```
pub fn decode(bytes: &[u8]) -> Result<Decoded, ArtifactError> {
    let (text, encoding) = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        (
            utf16(rest, true, Encoding::Utf16LeBom)?,
            Encoding::Utf16LeBom,
        )
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        (
            utf16(rest, false, Encoding::Utf16BeBom)?,
            Encoding::Utf16BeBom,
        )
    } else if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        (utf8(rest)?, Encoding::Utf8Bom)
    } else if looks_utf16le(bytes) {
        (utf16(bytes, true, Encoding::Utf16Le)?, Encoding::Utf16Le)
    } else {
        (utf8(bytes)?, Encoding::Utf8)
    };
    let crlf = text.contains("\r\n");
    let text = if crlf {
        text.replace("\r\n", "\n")
    } else {
        text
    };
    Ok(Decoded {
        text,
        encoding,
        crlf,
    })
}

fn utf8(bytes: &[u8]) -> Result<String, ArtifactError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| ArtifactError::Encoding {
        message: format!(
            "not UTF-8 or UTF-16 text: invalid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(s: &str, bom: bool) -> Vec<u8> {
        let mut v = if bom { vec![0xFF, 0xFE] } else { vec![] };
        v.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        v
    }

    #[test]
    fn every_windows_encoding_decodes() {
        let s = "現在の WinHTTP プロキシ設定:\r\n    直接アクセス (プロキシ サーバーなし)。\r\n";
        let want = s.replace("\r\n", "\n");
        assert_eq!(decode(&le(s, true)).unwrap().text, want);
        // without a BOM only mostly-ASCII text can be told (its high bytes are zero)
        let ascii = "Current WinHTTP proxy settings:\r\n";
        assert_eq!(
            decode(&le(ascii, false)).unwrap().encoding,
            Encoding::Utf16Le
        );
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend(s.as_bytes());
        let d = decode(&bom8).unwrap();
        assert_eq!(
            (d.text, d.encoding, d.crlf),
            (want, Encoding::Utf8Bom, true)
        );
        let mut be = vec![0xFE, 0xFF];
        be.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be).unwrap().encoding, Encoding::Utf16BeBom);
    }

    #[test]
    fn broken_text_is_an_error_not_a_guess() {
        assert!(decode(&[0xFF, 0xFE, 0x41]).is_err());
        assert!(decode(&[0x41, 0xC3, 0x28]).is_err());
    }
}
