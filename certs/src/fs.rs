//! Reading the files a user points the tool at (CA files, certificates, keys, scenarios, artifacts)
//! without trusting what sits at the path.
//!
//! A path can name a FIFO, which blocks a plain `open` forever, or a device such as `/dev/zero`,
//! which a plain read consumes until memory runs out. Every reader of user-named files goes through
//! [`read_regular_file`], which opens without blocking, accepts regular files only and stops at a
//! size limit.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The size limit for a file the tool reads whole: far above any certificate, scenario or log a
/// customer sends (a busy NPS log of a day is a few MiB), far below what would hurt the machine.
pub const MAX_INPUT_FILE: u64 = 64 * 1024 * 1024;

/// Reads a whole regular file of at most `limit` bytes.
///
/// A FIFO, socket or device is refused at once (`InvalidInput`, saying what the path is), and a file
/// that is or grows larger than `limit` is refused (`InvalidData`) rather than read to the end.
/// Symbolic links are followed, so a link to a regular file reads as that file, and a link to a
/// device is refused like the device.
///
/// ```
/// use egresslab_certs::fs::{read_regular_file, MAX_INPUT_FILE};
/// let err = read_regular_file(std::path::Path::new("/dev/zero"), MAX_INPUT_FILE).unwrap_err();
/// assert!(err.to_string().contains("not a regular file"));
/// ```
pub fn read_regular_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // O_NONBLOCK makes opening a FIFO with no writer return at once instead of waiting for one.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file (it is {})", kind_of(&meta.file_type())),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(meta.len(), limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

/// [`read_regular_file`] for text: the bytes must be UTF-8.
pub fn read_regular_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_regular_file(path, limit)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Creates `dir` and its missing parents, the new folders owner-only (0700), because they hold
/// private keys. A folder that exists already keeps its mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn too_large(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("file too large: at least {len} bytes, the limit is {limit}"),
    )
}

fn kind_of(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("ca.pem");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_regular_file(&fifo, MAX_INPUT_FILE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("a FIFO"), "{err}");
    }

    #[test]
    fn a_symlink_to_a_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ca.pem");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read_regular_file(&link, MAX_INPUT_FILE).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_under_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        std::fs::write(&file, vec![b'a'; 100]).unwrap();
        assert!(read_regular_file(&file, 99)
            .unwrap_err()
            .to_string()
            .contains("too large"));
        assert_eq!(read_regular_file(&file, 100).unwrap().len(), 100);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular_text(&link, 100).unwrap().len(), 100);
    }
}
