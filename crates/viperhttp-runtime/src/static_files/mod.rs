//! Native static files (docs/internals/static-files.md): mount registration and validation
//! (`mounts.rs`, docs/internals/static-files.md), per-request resolution
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
mod mounts;
mod open;
mod range;
mod representation;
mod respond;
mod serve;

#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::HeaderValue;

use cache::FileCache;

pub use cache::{
    FileCacheLimits, DEFAULT_FILE_CACHE_BYTES, DEFAULT_FILE_CACHE_VALID, MAX_CACHED_FILE_BYTES,
};
pub use content_type::content_type_for;
pub use file_response::{serve_file, FileReply};
pub use gzip::{accepts_gzip, GzipCache, DEFAULT_GZIP_CACHE_BYTES};
pub use mounts::{MountError, StaticMounts, MAX_DIR_MOUNTS, MAX_FILE_MOUNTS};
pub use respond::none_match_hits;
pub use serve::serve;

/// Default `static_max_age` (`VHTTP_STATIC_CACHE_MAX_AGE`): seconds in
/// `Cache-Control: public, max-age=N`; 0 disables the header.
pub const DEFAULT_MAX_AGE: u32 = 300;

/// `public, max-age=N`, or `None` for 0 (no `Cache-Control`,
/// docs/internals/static-files.md#responses).
fn cache_control_value(max_age: u32) -> Option<HeaderValue> {
    (max_age > 0)
        .then(|| HeaderValue::from_str(&format!("public, max-age={max_age}")).ok())
        .flatten()
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

/// True when a `/`-separated path has a `..` segment.
fn has_dotdot_segment(s: &str) -> bool {
    s.split('/').any(|seg| seg == "..")
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
