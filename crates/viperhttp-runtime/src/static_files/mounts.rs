//! Mount registration (docs/internals/static-files.md): the [`StaticMounts`] registry that
//! `app.mount` / `app.mount_file` fill, its validation (errors carry the exact Python messages),
//! and [`StaticMounts::freeze`], which maps VFS paths under `vfs_root`
//! (docs/guide/device-apps.md#device-paths-vfs_root) and canonicalises roots into the runtime's
//! [`StaticConfig`]. Kept apart from `mod.rs` because it runs at registration and at `run()`,
//! never per request; `mod.rs` holds what the request path reads.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::cache::FileCache;
use super::{cache_control_value, has_dotdot_segment, DirMount, FileMount, StaticConfig};

/// These warnings keep the logger they had in `mod.rs`, `viperhttp.static_files`
/// (docs/internals/logging.md): the default target would be this module's path.
const LOG_TARGET: &str = "viperhttp_runtime::static_files";

/// Host limit on directory mounts (`VHTTP_MAX_MOUNTS` is 4 on the device).
pub const MAX_DIR_MOUNTS: usize = 64;

/// Host limit on file mounts (16 on the device).
pub const MAX_FILE_MOUNTS: usize = 256;

/// A mount registration error. `Display` is the exact text of the Python
/// `ValueError` (docs/internals/static-files.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MountError {
    /// `prefix` not starting with `/`, an empty `root`, or a NUL byte.
    #[error("invalid mount")]
    InvalidMount,
    /// The prefix is already mounted on another root.
    #[error("mount prefix already used")]
    PrefixUsed,
    /// More than [`MAX_DIR_MOUNTS`] directory mounts. The original names no
    /// message for the host limit; this text is ours.
    #[error("too many mounts")]
    TooManyMounts,
    /// `path` not starting with `/`, an empty `file`, a `\`, a `..` segment or
    /// a NUL byte in either.
    #[error("invalid mount_file")]
    InvalidMountFile,
    /// The path is already mounted on another file.
    #[error("mount_file path already used")]
    FilePathUsed,
    /// More than [`MAX_FILE_MOUNTS`] file mounts (message is ours, as above).
    #[error("too many mount_file paths")]
    TooManyFileMounts,
}

/// One registered directory mount, before freezing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DirSpec {
    pub(super) prefix: String,
    root: PathBuf,
    pub(super) html: bool,
    /// Serve files and directories whose name starts with `.` (off by default).
    dotfiles: bool,
    /// User mounts are VFS paths (mapped under `vfs_root`); internal mounts
    /// (the docs assets, docs/guide/device-apps.md#device-paths-vfs_root) are host paths.
    vfs_mapped: bool,
}

/// One registered file mount, before freezing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileSpec {
    path: String,
    file: PathBuf,
}

/// The mutable mount registry filled by `app.mount` / `app.mount_file`
/// (docs/internals/static-files.md). Validates at registration; [`StaticMounts::freeze`]
/// turns it into the runtime's [`StaticConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticMounts {
    pub(super) dirs: Vec<DirSpec>,
    files: Vec<FileSpec>,
}

/// Trims trailing `/` but never below one character (docs/internals/static-files.md).
pub(super) fn trim_trailing_slashes(s: &str) -> &str {
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() && !s.is_empty() {
        // `"/"` or `"///"`: keep one character.
        s.get(..1).unwrap_or(s)
    } else {
        trimmed
    }
}

impl StaticMounts {
    /// An empty registry (`const` so it can live in a `static`).
    pub const fn new() -> Self {
        Self {
            dirs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// True when nothing is mounted.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.files.is_empty()
    }

    /// Forget every mount (`viperhttp.reset()`).
    pub fn clear(&mut self) {
        self.dirs.clear();
        self.files.clear();
    }

    /// `app.mount(prefix, root, html)`: a directory mount. `prefix` must start
    /// with `/`; `root` may be relative on the host
    /// (docs/guide/device-apps.md#device-paths-vfs_root); trailing `/` are trimmed from both. The
    /// same prefix with the same root updates `html`; with another root it is an error.
    pub fn mount(&mut self, prefix: &str, root: &str, html: bool) -> Result<(), MountError> {
        self.mount_with(prefix, root, html, false)
    }

    /// [`StaticMounts::mount`] with the dotfile rule: unless `dotfiles` is true,
    /// a path with a segment starting with `.` (`.env`, `.git/config`) is a 404,
    /// except the `.well-known` directory (RFC 8615) — dotfiles are secrets far
    /// more often than content (docs/internals/static-files.md, "Dotfiles").
    pub fn mount_with(
        &mut self,
        prefix: &str,
        root: &str,
        html: bool,
        dotfiles: bool,
    ) -> Result<(), MountError> {
        if !prefix.starts_with('/')
            || root.is_empty()
            || prefix.contains('\0')
            || root.contains('\0')
        {
            return Err(MountError::InvalidMount);
        }
        let prefix = trim_trailing_slashes(prefix);
        let root = PathBuf::from(trim_trailing_slashes(root));
        self.add_dir(prefix, root, html, dotfiles, true)
    }

    /// A directory mount whose root is a host path, not mapped under
    /// `vfs_root` (the bundled docs assets, docs/guide/device-apps.md#device-paths-vfs_root). Same
    /// validation as [`StaticMounts::mount`] for the prefix.
    pub fn mount_internal(
        &mut self,
        prefix: &str,
        root: &Path,
        html: bool,
    ) -> Result<(), MountError> {
        if !prefix.starts_with('/') || prefix.contains('\0') || root.as_os_str().is_empty() {
            return Err(MountError::InvalidMount);
        }
        let prefix = trim_trailing_slashes(prefix);
        self.add_dir(prefix, root.to_path_buf(), html, false, false)
    }

    fn add_dir(
        &mut self,
        prefix: &str,
        root: PathBuf,
        html: bool,
        dotfiles: bool,
        vfs_mapped: bool,
    ) -> Result<(), MountError> {
        if let Some(existing) = self.dirs.iter_mut().find(|d| d.prefix == prefix) {
            if existing.root == root && existing.vfs_mapped == vfs_mapped {
                existing.html = html;
                existing.dotfiles = dotfiles;
                return Ok(());
            }
            return Err(MountError::PrefixUsed);
        }
        if self.dirs.len() >= MAX_DIR_MOUNTS {
            return Err(MountError::TooManyMounts);
        }
        self.dirs.push(DirSpec {
            prefix: prefix.to_owned(),
            root,
            html,
            dotfiles,
            vfs_mapped,
        });
        Ok(())
    }

    /// `app.mount_file(path, file)`: serve one file at an exact URL path.
    /// `path` must start with `/`; `file` may be relative on the host; neither
    /// may hold a `\`, a `..` segment or NUL. Re-mounting the same pair is a
    /// no-op; the same path with another file is an error.
    pub fn mount_file(&mut self, path: &str, file: &str) -> Result<(), MountError> {
        let bad = |s: &str| s.contains('\\') || s.contains('\0') || has_dotdot_segment(s);
        if !path.starts_with('/') || file.is_empty() || bad(path) || bad(file) {
            return Err(MountError::InvalidMountFile);
        }
        let file = PathBuf::from(file);
        if let Some(existing) = self.files.iter().find(|f| f.path == path) {
            if existing.file == file {
                return Ok(());
            }
            return Err(MountError::FilePathUsed);
        }
        if self.files.len() >= MAX_FILE_MOUNTS {
            return Err(MountError::TooManyFileMounts);
        }
        self.files.push(FileSpec {
            path: path.to_owned(),
            file,
        });
        Ok(())
    }

    /// Freeze into the runtime's config at `run()`: map VFS paths under
    /// `vfs_root` (docs/guide/device-apps.md#device-paths-vfs_root), canonicalise directory roots
    /// (a root that is missing, not a directory, or that would leave `vfs_root` through `..` is
    /// logged at WARN and every request under it gets 404), and set `static_max_age`. File mounts
    /// are mapped but not canonicalised: the file is opened per request, so it may appear after the
    /// start.
    pub fn freeze(&self, vfs_root: Option<&Path>, max_age: u32) -> StaticConfig {
        let dirs = self
            .dirs
            .iter()
            .map(|d| {
                let mapped = if d.vfs_mapped {
                    map_vfs_path(&d.root, vfs_root)
                } else {
                    Some(d.root.clone())
                };
                let root = match mapped {
                    None => {
                        tracing::warn!(target: LOG_TARGET, prefix = %d.prefix, root = %d.root.display(), "static mount root leaves vfs_root; requests under it get 404");
                        None
                    }
                    Some(p) => match std::fs::canonicalize(&p) {
                        Ok(c) if c.is_dir() => Some(Arc::from(c.as_path())),
                        Ok(_) => {
                            tracing::warn!(target: LOG_TARGET, prefix = %d.prefix, root = %p.display(), "static mount root is not a directory; requests under it get 404");
                            None
                        }
                        Err(e) => {
                            // A device app's `/www` on a computer without the setting that maps it.
                            let hint = if vfs_root.is_none() && d.vfs_mapped {
                                " (a device path? set vfs_root, --vfs-root or VIPERHTTP_VFS_ROOT)"
                            } else {
                                ""
                            };
                            tracing::warn!(target: LOG_TARGET, prefix = %d.prefix, root = %p.display(), error = %e, "static mount root missing; requests under it get 404{hint}");
                            None
                        }
                    },
                };
                DirMount {
                    prefix: d.prefix.clone(),
                    root,
                    html: d.html,
                    dotfiles: d.dotfiles,
                }
            })
            .collect();
        let files = self
            .files
            .iter()
            .map(|f| {
                let file = map_vfs_path(&f.file, vfs_root).map(|p| Arc::from(absolutize(&p).as_path()));
                if file.is_none() {
                    tracing::warn!(target: LOG_TARGET, path = %f.path, file = %f.file.display(), "mount_file leaves vfs_root; requests get 404");
                }
                FileMount {
                    path: f.path.clone(),
                    file,
                }
            })
            .collect();
        StaticConfig {
            dirs,
            files,
            max_age,
            cache_control: cache_control_value(max_age),
            file_cache: FileCache::default(),
        }
    }
}

/// Make a relative host path absolute against the working directory at freeze
/// time, so a later `chdir` does not move a mount.
fn absolutize(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p),
        Err(_) => p.to_path_buf(),
    }
}

/// Map a VFS path (docs/guide/device-apps.md#device-paths-vfs_root): with `vfs_root` set, `/x`
/// means `vfs_root/x` and a relative path is relative to `vfs_root`; a path that climbs above
/// `vfs_root` through `..` is refused (`None`). Unset: the path is a plain host path.
pub(super) fn map_vfs_path(path: &Path, vfs_root: Option<&Path>) -> Option<PathBuf> {
    let Some(base) = vfs_root else {
        return Some(path.to_path_buf());
    };
    let mut out = base.to_path_buf();
    let mut depth: usize = 0;
    for comp in path.components() {
        match comp {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                depth = depth.checked_sub(1)?;
                out.pop();
            }
            Component::Normal(seg) => {
                depth += 1;
                out.push(seg);
            }
        }
    }
    Some(out)
}
