//! Native static files (docs/internals/static-files.md): mount registration and validation
//! (docs/internals/static-files.md), per-request resolution
//! (docs/internals/static-files.md#resolution) and serving with content types, ETag, conditional
//! requests, ranges and gzip (docs/internals/static-files.md#responses).
//!
//! The handler is written here instead of using tower-http's `ServeDir`
//! (docs/internals/static-files.md decision): `ServeDir` differs in ETag and precondition handling,
//! percent-decodes and treats directories and index files by its own rules, does not confine
//! symlinks to the root, adds no `Cache-Control` and has no on-the-fly gzip with the ETag/`Vary`
//! rules of docs/internals/static-files.md#gzip. Small crates do the parts: `httpdate`, `flate2`;
//! percent-decoding and the range parser are a few lines each here because the documented rules are
//! stricter than the crates'.
//!
//! Life cycle: Python calls fill a [`StaticMounts`] builder (validation errors
//! are raised there, with the exact Python messages as `Display`); `run()`
//! calls [`StaticMounts::freeze`] once, which resolves roots against `vfs_root`
//! and canonicalises them into an immutable [`StaticConfig`]. Per request the
//! runtime calls [`StaticConfig::resolve`] (sync, no I/O) and, for a static
//! match, [`serve`] (async). A small file seen less than a second ago is
//! answered from the open-file cache (`cache.rs`) on the calling thread with
//! no system call; everything else does its file-system work in one
//! `spawn_blocking` call.

mod cache;
mod content_type;
mod file_body;
mod file_response;
mod gzip;
mod open;
mod range;
mod representation;
mod respond;
mod serve;

#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use http::HeaderValue;

use cache::FileCache;

pub use cache::{
    FileCacheLimits, DEFAULT_FILE_CACHE_BYTES, DEFAULT_FILE_CACHE_VALID, MAX_CACHED_FILE_BYTES,
};
pub use content_type::content_type_for;
pub use file_response::{serve_file, FileReply};
pub use gzip::{accepts_gzip, GzipCache, DEFAULT_GZIP_CACHE_BYTES};
pub use respond::none_match_hits;
pub use serve::serve;

/// Default `static_max_age` (`VHTTP_STATIC_CACHE_MAX_AGE`): seconds in
/// `Cache-Control: public, max-age=N`; 0 disables the header.
pub const DEFAULT_MAX_AGE: u32 = 300;

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
struct DirSpec {
    prefix: String,
    root: PathBuf,
    html: bool,
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
    dirs: Vec<DirSpec>,
    files: Vec<FileSpec>,
}

/// Trims trailing `/` but never below one character (docs/internals/static-files.md).
fn trim_trailing_slashes(s: &str) -> &str {
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() && !s.is_empty() {
        // `"/"` or `"///"`: keep one character.
        s.get(..1).unwrap_or(s)
    } else {
        trimmed
    }
}

/// True when a `/`-separated path has a `..` segment.
fn has_dotdot_segment(s: &str) -> bool {
    s.split('/').any(|seg| seg == "..")
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
                        tracing::warn!(prefix = %d.prefix, root = %d.root.display(), "static mount root leaves vfs_root; requests under it get 404");
                        None
                    }
                    Some(p) => match std::fs::canonicalize(&p) {
                        Ok(c) if c.is_dir() => Some(Arc::from(c.as_path())),
                        Ok(_) => {
                            tracing::warn!(prefix = %d.prefix, root = %p.display(), "static mount root is not a directory; requests under it get 404");
                            None
                        }
                        Err(e) => {
                            tracing::warn!(prefix = %d.prefix, root = %p.display(), error = %e, "static mount root missing; requests under it get 404");
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
                    tracing::warn!(path = %f.path, file = %f.file.display(), "mount_file leaves vfs_root; requests get 404");
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

/// `public, max-age=N`, or `None` for 0 (no `Cache-Control`,
/// docs/internals/static-files.md#responses).
fn cache_control_value(max_age: u32) -> Option<HeaderValue> {
    (max_age > 0)
        .then(|| HeaderValue::from_str(&format!("public, max-age={max_age}")).ok())
        .flatten()
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
fn map_vfs_path(path: &Path, vfs_root: Option<&Path>) -> Option<PathBuf> {
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

/// A frozen directory mount.
#[derive(Debug, Clone)]
struct DirMount {
    prefix: String,
    /// Canonical root; `None` when it was unusable at start (→ 404).
    root: Option<Arc<Path>>,
    html: bool,
    /// Dotfiles served (see [`StaticMounts::mount_with`]).
    dotfiles: bool,
}

/// A frozen file mount.
#[derive(Debug, Clone)]
struct FileMount {
    path: String,
    /// Absolute file path; `None` when it left `vfs_root` (→ 404).
    file: Option<Arc<Path>>,
}

/// The runtime's immutable static-file configuration (one snapshot per
/// server run, docs/internals/static-files.md), with the open-file cache of its mounts
/// (`cache.rs`; the one piece of interior state, shared by clones).
#[derive(Debug, Clone)]
pub struct StaticConfig {
    dirs: Vec<DirMount>,
    files: Vec<FileMount>,
    max_age: u32,
    /// `Cache-Control` value, built once from `max_age`.
    cache_control: Option<HeaderValue>,
    /// Resolved path → validated small file (1 s), shared by every runtime
    /// thread serving this config.
    file_cache: FileCache,
}

impl Default for StaticConfig {
    /// Nothing mounted, `static_max_age` = [`DEFAULT_MAX_AGE`].
    fn default() -> Self {
        Self {
            dirs: Vec::new(),
            files: Vec::new(),
            max_age: DEFAULT_MAX_AGE,
            cache_control: cache_control_value(DEFAULT_MAX_AGE),
            file_cache: FileCache::default(),
        }
    }
}

/// The outcome of [`StaticConfig::resolve`] for one request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticMatch {
    /// Not a static path: continue with native routes / Python. Includes the
    /// docs/internals/static-files.md#resolution fall-through (`..` segment or `\` in the raw
    /// remainder).
    NotStatic,
    /// Matched a mount but refused (encoded `..`/`/`/`\`, NUL, invalid
    /// percent sequence, unusable root): [`serve`] answers the native 404
    /// (or 405 for a method other than GET/HEAD, docs/internals/static-files.md#responses order).
    NotFound,
    /// A candidate file. Whether it exists, is a directory (404 or, in html
    /// mode, a 307 redirect) or escapes the root is decided by [`serve`],
    /// because it needs the file system.
    File(StaticFile),
}

impl StaticMatch {
    /// True for every variant but [`StaticMatch::NotStatic`]: the request is
    /// answered by [`serve`].
    pub fn is_static(&self) -> bool {
        !matches!(self, StaticMatch::NotStatic)
    }
}

/// A resolved candidate file (see [`StaticMatch::File`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFile {
    path: PathBuf,
    /// Canonical root the opened file must lie under; `None` for file mounts
    /// (the configured file may be a symlink anywhere).
    root: Option<Arc<Path>>,
    /// `Location` of the html-mode 307 if the candidate is a directory.
    redirect: Option<String>,
}

impl StaticFile {
    /// The candidate path (not yet opened or canonicalised).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when this came from a file mount (`app.mount_file`).
    pub fn is_file_mount(&self) -> bool {
        self.root.is_none()
    }

    /// The redirect target used when the candidate turns out to be a
    /// directory (html-mode mounts only).
    pub fn redirect_location(&self) -> Option<&str> {
        self.redirect.as_deref()
    }
}

impl StaticConfig {
    /// True when nothing is mounted ([`StaticConfig::resolve`] is then a
    /// single branch).
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.files.is_empty()
    }

    /// `static_max_age` in seconds (0 = no `Cache-Control`).
    pub fn max_age(&self) -> u32 {
        self.max_age
    }

    /// The same mounts with a fresh open-file cache of other limits
    /// ([`FileCacheLimits::default`] is what [`StaticMounts::freeze`] sets:
    /// 64 MiB, files up to 256 KiB, trusted for 1 s). A zero `valid` or
    /// `capacity_bytes` turns the cache off: every request then asks the file
    /// system.
    #[must_use]
    pub fn with_file_cache(mut self, limits: FileCacheLimits) -> Self {
        self.file_cache = FileCache::new(limits);
        self
    }

    /// The open-file cache limits in force.
    pub fn file_cache_limits(&self) -> FileCacheLimits {
        self.file_cache.limits()
    }

    /// Resolve a request path (origin-form, query removed, not decoded) per
    /// docs/internals/static-files.md#resolution. `query` (without `?`) is only used for the
    /// html-mode directory redirect's `Location`. No I/O; allocates nothing when nothing is mounted
    /// or no mount matches.
    pub fn resolve(&self, path: &str, query: Option<&str>) -> StaticMatch {
        if self.is_empty() {
            return StaticMatch::NotStatic;
        }
        // 1. File mounts: exact, case-sensitive, raw (no decoding).
        if let Some(f) = self.files.iter().find(|f| f.path == path) {
            return match &f.file {
                Some(file) => StaticMatch::File(StaticFile {
                    path: file.to_path_buf(),
                    root: None,
                    redirect: None,
                }),
                None => StaticMatch::NotFound,
            };
        }
        // 2. Directory mounts in registration order. A mount whose rules say
        // "not a match" lets the next mount try (then routing).
        for d in &self.dirs {
            let Some(remainder) = mount_remainder(&d.prefix, path) else {
                continue;
            };
            if remainder.contains('\\') || has_dotdot_segment(remainder) {
                continue;
            }
            let dir_request = remainder.is_empty() || remainder.ends_with('/');
            if dir_request && !d.html {
                continue;
            }
            return resolve_under(d, remainder, dir_request, path, query);
        }
        StaticMatch::NotStatic
    }
}

/// The remainder after `prefix` without its leading `/`, when `path` equals
/// the prefix or continues with `/` after it.
fn mount_remainder<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some(rest);
    }
    if prefix == "/" {
        // The root prefix already consumed the separator.
        return Some(rest);
    }
    rest.strip_prefix('/')
}

/// Build the candidate path under a directory mount (docs/internals/static-files.md#resolution, 4,
/// 6).
fn resolve_under(
    d: &DirMount,
    remainder: &str,
    dir_request: bool,
    path: &str,
    query: Option<&str>,
) -> StaticMatch {
    if remainder.contains('\0') {
        return StaticMatch::NotFound;
    }
    let Some(root) = &d.root else {
        return StaticMatch::NotFound;
    };
    // One allocation: root, `/`, the remainder (decoding only shrinks it)
    // and a possible `index.html`.
    let mut candidate = PathBuf::with_capacity(root.as_os_str().len() + remainder.len() + 12);
    candidate.push(root);
    for raw in remainder.split('/') {
        // Empty segments (`a//b`, the trailing `/`) name nothing; skipping
        // them also keeps `PathBuf::push` from ever seeing an absolute path.
        if raw.is_empty() {
            continue;
        }
        // docs/internals/static-files.md#resolution: strict, an invalid escape or invalid UTF-8
        // names no file.
        let Some(seg) = crate::percent::decode_strict(raw) else {
            return StaticMatch::NotFound;
        };
        if seg == "." || seg == ".." || seg.contains(['/', '\\', '\0']) {
            return StaticMatch::NotFound;
        }
        if !d.dotfiles && seg.starts_with('.') && seg != ".well-known" {
            return StaticMatch::NotFound;
        }
        candidate.push(OsStr::new(seg.as_ref()));
    }
    if dir_request {
        candidate.push("index.html");
    }
    let redirect = if d.html && !dir_request {
        // `GET //evil.com` must not become `Location: //evil.com/`, which a browser
        // reads as another host (scheme-relative): one leading `/`, always a path.
        let path = path.trim_start_matches('/');
        let mut loc = String::with_capacity(path.len() + 3 + query.map_or(0, str::len));
        loc.push('/');
        loc.push_str(path);
        loc.push('/');
        if let Some(q) = query {
            loc.push('?');
            loc.push_str(q);
        }
        Some(loc)
    } else {
        None
    };
    StaticMatch::File(StaticFile {
        path: candidate,
        root: Some(Arc::clone(root)),
        redirect,
    })
}
