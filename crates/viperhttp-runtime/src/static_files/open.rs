//! Opening the file a static request names (docs/internals/static-files.md#resolution,
//! docs/internals/static-files.md#transfer).
//!
//! Owns the one way a file is opened (`O_NONBLOCK`, then the containment check on the real path
//! of the *opened* handle), the `.gz` sibling lookup confined the same way, and whole positional
//! reads from that handle. Kept apart because it is the security boundary of static serving:
//! mounts and `FileResponse` both open through it, and every later step reads from the handle
//! opened here, never from the path again, so one response is always one version of the file.

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// An opened regular file or directory, confined to its root.
pub(super) struct Opened {
    pub(super) file: File,
    pub(super) meta: Metadata,
    /// The real path of the opened handle (cache key for on-the-fly gzip).
    pub(super) real: PathBuf,
}

/// Open `path` and check containment (docs/internals/static-files.md#resolution): the real path of
/// the *opened* handle must lie under `root` (file mounts have none). Checking the handle rather
/// than canonicalising first leaves no window for a symlink swapped between check and open.
/// `O_NONBLOCK` keeps a FIFO in the tree from blocking the open; it changes nothing for regular
/// files.
pub(super) fn open_contained(path: &Path, root: Option<&Path>) -> Option<Opened> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let real = real_path(&file, path)?;
    if let Some(root) = root {
        // Component-wise: `/srv/www2` is not under `/srv/www`.
        if !real.starts_with(root) {
            return None;
        }
    }
    Some(Opened { file, meta, real })
}

/// The real path of an opened file: `/proc/self/fd/N` on Linux (immune to
/// races), else `canonicalize` of the path (a short race window remains
/// there, documented in `docs/internals/static-files.md`).
fn real_path(file: &File, path: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(p) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Some(p);
        }
    }
    let _ = file;
    std::fs::canonicalize(path).ok()
}

/// The `<file>.gz` sibling of `path`: a regular file, confined like the file itself
/// (docs/internals/static-files.md#gzip).
pub(super) fn open_sibling(path: &Path, root: Option<&Path>) -> Option<Opened> {
    let mut p = path.as_os_str().to_os_string();
    p.push(".gz");
    open_contained(Path::new(&p), root).filter(|s| s.meta.is_file())
}

/// Read the whole `len` bytes at `offset` (small files, compression input).
pub(super) fn read_whole(file: &File, offset: u64, len: u64) -> std::io::Result<Bytes> {
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}
