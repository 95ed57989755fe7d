//! The open-file cache of static mounts, in the spirit of nginx's
//! `open_file_cache`: resolved candidate path → what serving it needs
//! (containment verdict, validators, content type, the bytes of a small file
//! and of its `.gz` sibling), so that a hot small file is answered without a
//! single system call and without a hop to the blocking pool.
//!
//! Rules (kept in `docs/internals/static-files.md`):
//! - Only regular files whose bytes (and those of their `.gz` sibling, if
//!   any) are at most [`MAX_CACHED_FILE_BYTES`] each are cached; larger
//!   files, misses and refusals (404, 307) take the full path every time.
//! - An entry is trusted for [`DEFAULT_FILE_CACHE_VALID`] (1 s) after it was
//!   built from the file system. Past that, the next request for it goes down the full
//!   path again (open, containment check of the opened handle, fstat, read),
//!   which rebuilds the entry — or removes it when the file is gone, became a
//!   directory, or now resolves outside its mount root. A change on disk is
//!   therefore seen at most about 1 s late, as with nginx's
//!   `open_file_cache_valid 1s`; within that window the old bytes are served
//!   whole (never a mix of two versions, docs/internals/static-files.md#transfer).
//! - An entry is used only for the mount root it was checked against
//!   (containment and the sibling lookup depend on it); a request for the same
//!   path through another mount is a miss and replaces the entry.
//! - Bounded: at most [`DEFAULT_FILE_CACHE_BYTES`] of content (plus a fixed
//!   per-entry overhead, so many empty files are bounded too), least recently
//!   used entries evicted first. Sharded by path (each of the 16 shards gets
//!   a 16th of the budget) so runtime threads rarely meet on one lock; a hit
//!   holds the lock for a hash lookup and a recency update only.
//!
//! On-the-fly gzip results are not stored here: they stay in
//! [`GzipCache`](super::GzipCache) (docs/internals/static-files.md#gzip's 32 MiB LRU), which a hit
//! consults in memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use parking_lot::Mutex;

/// How long an entry is trusted without looking at the file system again
/// (nginx: `open_file_cache_valid`).
pub const DEFAULT_FILE_CACHE_VALID: Duration = Duration::from_secs(1);

/// Content bytes the cache may hold in all (identity and `.gz` sibling
/// bytes of every entry, plus a fixed 512-byte overhead each).
pub const DEFAULT_FILE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Largest file (and largest `.gz` sibling) whose bytes are cached.
pub const MAX_CACHED_FILE_BYTES: u64 = 256 * 1024;

/// Bytes charged per entry on top of its content: key, paths, header values
/// and bookkeeping, roughly. Keeps a tree of empty files bounded too.
const ENTRY_OVERHEAD: usize = 512;

/// Lock shards. A power of two; 16 keeps eight runtime threads mostly apart.
const SHARDS: usize = 16;

/// Limits of the open-file cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCacheLimits {
    /// Bytes of content held in all (0 disables the cache).
    pub capacity_bytes: usize,
    /// Largest file (and `.gz` sibling) cached, in bytes.
    pub max_file_bytes: u64,
    /// How long an entry is trusted before the file system is asked again
    /// (zero disables the cache).
    pub valid: Duration,
}

impl Default for FileCacheLimits {
    fn default() -> Self {
        Self {
            capacity_bytes: DEFAULT_FILE_CACHE_BYTES,
            max_file_bytes: MAX_CACHED_FILE_BYTES,
            valid: DEFAULT_FILE_CACHE_VALID,
        }
    }
}

/// One representation held in memory, with its header values precomputed.
pub(crate) struct Cached {
    /// Size of the representation in bytes.
    pub(crate) size: u64,
    /// Whole seconds of its mtime (clamped as in `representation.rs`).
    pub(crate) mtime: u64,
    pub(crate) etag: HeaderValue,
    pub(crate) last_modified: HeaderValue,
    /// `Content-Length` of the whole representation (200 and HEAD).
    pub(crate) content_length: HeaderValue,
    pub(crate) data: Bytes,
}

/// What a compressible file without a `.gz` sibling needs for the
/// on-the-fly representation (docs/internals/static-files.md#gzip): the key of its [`GzipCache`]
/// entry and its ETag.
///
/// [`GzipCache`]: super::GzipCache
pub(crate) struct OnTheFly {
    /// Source mtime exactly as `fstat` gave it (the gzip cache key).
    pub(crate) source_mtime: SystemTime,
    /// `W/"<size hex>-<mtime hex>-gz"`.
    pub(crate) etag: HeaderValue,
}

/// A cached regular file.
pub(crate) struct Entry {
    /// When the file system was last asked.
    pub(crate) validated: Instant,
    /// The mount root containment was checked against (`None`: file mount).
    pub(crate) root: Option<Arc<Path>>,
    /// Real path of the opened handle (the on-the-fly gzip cache key).
    pub(crate) real: PathBuf,
    pub(crate) content_type: &'static str,
    pub(crate) identity: Cached,
    /// The `.gz` sibling, when there is one.
    pub(crate) sibling: Option<Cached>,
    /// Set for a compressible type within docs/internals/static-files.md#gzip's size bounds and no
    /// sibling.
    pub(crate) on_the_fly: Option<OnTheFly>,
}

impl Entry {
    /// Does the file have a gzip variant (→ `Vary: Accept-Encoding`,
    /// docs/internals/static-files.md#gzip)?
    pub(crate) fn has_variant(&self) -> bool {
        self.sibling.is_some() || self.on_the_fly.is_some()
    }

    fn cost(&self, key_len: usize) -> usize {
        let sibling = self.sibling.as_ref().map_or(0, |s| s.data.len());
        ENTRY_OVERHEAD + key_len + self.real.as_os_str().len() + self.identity.data.len() + sibling
    }
}

struct Slot {
    entry: Arc<Entry>,
    /// Position in the shard's recency order.
    tick: u64,
    cost: usize,
}

/// FxHash-style hashing of path bytes: a few nanoseconds for a typical
/// path, where SipHash costs tens. Flooding needs many colliding *keys*, and
/// keys are only ever inserted for regular files that exist under a mount,
/// so an unkeyed hash is safe here; lookups of made-up paths insert nothing.
#[derive(Default)]
struct PathHasher(u64);

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        // Mix the high bits down: shards and the map use the low ones.
        self.0 ^ (self.0 >> 29)
    }
}

type PathHash = BuildHasherDefault<PathHasher>;

#[derive(Default)]
struct Shard {
    map: HashMap<Arc<[u8]>, Slot, PathHash>,
    /// Recency order: smallest tick = least recently used.
    order: BTreeMap<u64, Arc<[u8]>>,
    next_tick: u64,
    used: usize,
}

impl Shard {
    fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.map.remove(key) {
            self.used -= old.cost;
            self.order.remove(&old.tick);
        }
    }
}

struct Inner {
    limits: FileCacheLimits,
    /// Capacity of each shard (`capacity_bytes / SHARDS`).
    shard_capacity: usize,
    shards: Box<[Mutex<Shard>]>,
}

/// The open-file cache (see the module docs). Cloning shares it.
#[derive(Clone)]
pub(crate) struct FileCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for FileCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileCache")
            .field("limits", &self.inner.limits)
            .field("entries", &self.len())
            .field("bytes_used", &self.bytes_used())
            .finish()
    }
}

impl Default for FileCache {
    fn default() -> Self {
        Self::new(FileCacheLimits::default())
    }
}

/// Same mount root? The same `Arc` in the common case; two mounts of one
/// directory hold equal canonical paths.
fn same_root(a: Option<&Arc<Path>>, b: Option<&Arc<Path>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        _ => false,
    }
}

impl FileCache {
    pub(crate) fn new(limits: FileCacheLimits) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        Self {
            inner: Arc::new(Inner {
                limits,
                shard_capacity: limits.capacity_bytes / SHARDS,
                shards,
            }),
        }
    }

    pub(crate) fn limits(&self) -> FileCacheLimits {
        self.inner.limits
    }

    /// False when the limits make caching pointless (nothing is stored).
    pub(crate) fn enabled(&self) -> bool {
        let l = &self.inner.limits;
        !l.valid.is_zero() && l.capacity_bytes > 0
    }

    /// Can a file of `size` bytes (or a sibling) be cached?
    pub(crate) fn fits(&self, size: u64) -> bool {
        self.enabled() && size <= self.inner.limits.max_file_bytes
    }

    /// Is a file of `size` bytes with a `.gz` sibling of `sibling` bytes (if any) one that a
    /// mount caches, and so serves from memory, never by sendfile(2)? Both must fit. `FileResponse`
    /// asks the same to send by sendfile exactly what a mount would
    /// (docs/internals/static-files.md#sendfile).
    pub(crate) fn holds(&self, size: u64, sibling: Option<u64>) -> bool {
        self.fits(size)
            && match sibling {
                Some(s) => self.fits(s),
                None => true,
            }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        // High bits pick the shard (the map inside uses the low ones).
        let h = PathHash::default().hash_one(key);
        &self.inner.shards[(h >> 60) as usize % SHARDS]
    }

    /// The entry for `path` if it was validated less than `valid` ago
    /// (measured at `now`) against the same mount `root`; marks it most
    /// recently used. No system call.
    pub(crate) fn get(
        &self,
        path: &Path,
        root: Option<&Arc<Path>>,
        now: Instant,
    ) -> Option<Arc<Entry>> {
        let key = path.as_os_str().as_bytes();
        let mut shard = self.shard(key).lock();
        let shard = &mut *shard;
        let slot = shard.map.get_mut(key)?;
        if now.saturating_duration_since(slot.entry.validated) >= self.inner.limits.valid
            || !same_root(slot.entry.root.as_ref(), root)
        {
            // Stale or another mount: the full path rebuilds (or removes) it.
            return None;
        }
        // A file hit over and over is already the most recent: no reorder.
        if slot.tick + 1 != shard.next_tick {
            let tick = shard.next_tick;
            shard.next_tick += 1;
            let old = std::mem::replace(&mut slot.tick, tick);
            if let Some(k) = shard.order.remove(&old) {
                shard.order.insert(tick, k);
            }
        }
        Some(Arc::clone(&slot.entry))
    }

    /// Store (or replace) the entry for `path`, evicting least recently used
    /// entries of its shard to stay within the capacity. An entry larger than
    /// a shard's share is not stored.
    pub(crate) fn insert(&self, path: &Path, entry: Arc<Entry>) {
        if !self.enabled() {
            return;
        }
        let key = path.as_os_str().as_bytes();
        let cost = entry.cost(key.len());
        let capacity = self.inner.shard_capacity;
        let mut shard = self.shard(key).lock();
        shard.remove(key);
        if cost > capacity {
            return;
        }
        while shard.used + cost > capacity {
            let Some((_, victim)) = shard.order.pop_first() else {
                break;
            };
            if let Some(old) = shard.map.remove(&victim) {
                shard.used -= old.cost;
            }
        }
        let key: Arc<[u8]> = Arc::from(key);
        let tick = shard.next_tick;
        shard.next_tick += 1;
        shard.used += cost;
        shard.order.insert(tick, Arc::clone(&key));
        shard.map.insert(key, Slot { entry, tick, cost });
    }

    /// Forget `path` (it is gone, a directory, or outside its root now).
    pub(crate) fn remove(&self, path: &Path) {
        if !self.enabled() {
            return;
        }
        let key = path.as_os_str().as_bytes();
        self.shard(key).lock().remove(key);
    }

    /// Number of cached files.
    pub(crate) fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// Bytes charged (content plus per-entry overhead).
    pub(crate) fn bytes_used(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().used).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(n: usize) -> Cached {
        Cached {
            size: n as u64,
            mtime: 0,
            etag: HeaderValue::from_static("W/\"0-0\""),
            last_modified: HeaderValue::from_static("x"),
            content_length: HeaderValue::from(n),
            data: Bytes::from(vec![0u8; n]),
        }
    }

    fn entry(n: usize, root: Option<Arc<Path>>, validated: Instant) -> Arc<Entry> {
        Arc::new(Entry {
            validated,
            root,
            real: PathBuf::from("/r"),
            content_type: "text/plain",
            identity: cached(n),
            sibling: None,
            on_the_fly: None,
        })
    }

    #[test]
    fn hit_within_window_miss_after() {
        let c = FileCache::default();
        let t0 = Instant::now();
        let root: Arc<Path> = Arc::from(Path::new("/www"));
        let p = Path::new("/www/a");
        assert!(c.get(p, Some(&root), t0).is_none());
        c.insert(p, entry(10, Some(root.clone()), t0));
        assert!(c.get(p, Some(&root), t0).is_some());
        assert!(c
            .get(p, Some(&root), t0 + Duration::from_millis(999))
            .is_some());
        assert!(c
            .get(p, Some(&root), t0 + DEFAULT_FILE_CACHE_VALID)
            .is_none());
        // Another root (equal path: hit; other path or file mount: miss).
        let same: Arc<Path> = Arc::from(Path::new("/www"));
        assert!(c.get(p, Some(&same), t0).is_some());
        let other: Arc<Path> = Arc::from(Path::new("/www/sub"));
        assert!(c.get(p, Some(&other), t0).is_none());
        assert!(c.get(p, None, t0).is_none());
        c.remove(p);
        assert!(c.get(p, Some(&root), t0).is_none());
        assert_eq!(c.len(), 0);
        assert_eq!(c.bytes_used(), 0);
    }

    #[test]
    fn zero_window_or_capacity_disables() {
        let t0 = Instant::now();
        for limits in [
            FileCacheLimits {
                valid: Duration::ZERO,
                ..FileCacheLimits::default()
            },
            FileCacheLimits {
                capacity_bytes: 0,
                ..FileCacheLimits::default()
            },
        ] {
            let c = FileCache::new(limits);
            assert!(!c.enabled());
            assert!(!c.fits(1));
            c.insert(Path::new("/a"), entry(1, None, t0));
            assert!(c.get(Path::new("/a"), None, t0).is_none());
            assert_eq!(c.len(), 0);
        }
    }

    #[test]
    fn bounded_and_least_recently_used_first() {
        // Each shard holds 4 KiB; entries of ~1.5 KiB: two fit per shard.
        let c = FileCache::new(FileCacheLimits {
            capacity_bytes: 4096 * SHARDS,
            ..FileCacheLimits::default()
        });
        let t0 = Instant::now();
        let paths: Vec<PathBuf> = (0..200).map(|i| PathBuf::from(format!("/f{i}"))).collect();
        for p in &paths {
            c.insert(p, entry(1000, None, t0));
            // Keep /f0 hot: it must survive every eviction in its shard.
            assert!(c.get(&paths[0], None, t0).is_some());
        }
        assert!(c.bytes_used() <= 4096 * SHARDS);
        assert!(c.len() < 200);
        assert!(c.get(&paths[0], None, t0).is_some());
        // Too large for a shard: not stored.
        c.insert(Path::new("/huge"), entry(5000, None, t0));
        assert!(c.get(Path::new("/huge"), None, t0).is_none());
        // Replacing frees the old cost first.
        let before = c.bytes_used();
        c.insert(&paths[0], entry(1000, None, t0));
        assert_eq!(c.bytes_used(), before);
    }

    #[test]
    fn fits_respects_max_file() {
        let c = FileCache::default();
        assert!(c.fits(MAX_CACHED_FILE_BYTES));
        assert!(!c.fits(MAX_CACHED_FILE_BYTES + 1));
    }
}
