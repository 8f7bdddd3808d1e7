//! Files the scenario side writes for its client (trust bundle, client key, `.curlrc`, artifacts):
//! owner-only — files 0600, folders 0700 — and never written through a symbolic link.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every file written here.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every folder created (or restricted) here.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Write `contents` to `path`, owner-only, replacing a regular file but refusing a symbolic link.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // `mode` applies to new files only; an existing file is narrowed too.
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(contents)
}

/// Create `path` and its missing parents as owner-only folders; an existing folder is narrowed.
pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    std::fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
}

/// The permission bits of `path` (for tests).
#[cfg(test)]
pub(crate) fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_folders_are_owner_only_and_links_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("a/b");
        create_private_dir(&folder).expect("created");
        assert_eq!((mode(&dir.path().join("a")), mode(&folder)), (0o700, 0o700));
        let file = folder.join("key.pem");
        std::fs::write(&file, "old").expect("pre-existing");
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).expect("chmod");
        write_private(&file, b"secret").expect("written");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "secret");
        let link = folder.join("link.pem");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(write_private(&link, b"through the link").is_err());
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "secret");
    }
}
