//! Gzip for static files (docs/internals/static-files.md#gzip): the `Accept-Encoding` decision,
//! on-the-fly compression and its bounded LRU cache.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::ACCEPT_ENCODING;
use http::HeaderMap;
use parking_lot::Mutex;

/// Size of the on-the-fly cache, all entries together (docs/internals/static-files.md#gzip: 32
/// MiB).
pub const DEFAULT_GZIP_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Smallest file compressed on the fly (docs/internals/static-files.md#gzip).
pub(crate) const ON_THE_FLY_MIN: u64 = 1024;

/// Largest file compressed on the fly (docs/internals/static-files.md#gzip: 4 MiB).
pub(crate) const ON_THE_FLY_MAX: u64 = 4 * 1024 * 1024;

/// Compression level of on-the-fly gzip (docs/internals/static-files.md#gzip).
const LEVEL: u32 = 6;

/// Does the client accept gzip? (docs/internals/static-files.md#gzip decision) `gzip` or `x-gzip`
/// listed with q > 0, or — when neither is listed — `*` with q > 0. Tokens are case-insensitive;
/// `gzip;q=0` refuses gzip even though the original's substring test would not. An entry with an
/// unparseable q-value is ignored (RFC 9110 §12.4.2 gives it no meaning).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<bool> = None;
    let mut star: Option<bool> = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        // Non-UTF-8 bytes cannot spell a coding we know; skip them.
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let Some(q) = parse_q(parts) else { continue };
            let ok = q > 0.0;
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // Several gzip entries: any acceptable one wins.
                gzip = Some(gzip.unwrap_or(false) || ok);
            } else if coding == "*" {
                star = Some(star.unwrap_or(false) || ok);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// The q-value among an entry's parameters (default 1); `None` when a `q`
/// parameter is present but is not a valid qvalue.
fn parse_q<'a>(params: impl Iterator<Item = &'a str>) -> Option<f32> {
    for p in params {
        let Some((name, value)) = p.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            let q: f32 = value.trim().parse().ok()?;
            return (0.0..=1.0).contains(&q).then_some(q);
        }
    }
    Some(1.0)
}

/// Gzip a whole buffer (level 6). Runs on a blocking thread.
pub(crate) fn compress(data: &[u8]) -> std::io::Result<Bytes> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 3 + 64),
        Compression::new(LEVEL),
    );
    enc.write_all(data)?;
    Ok(Bytes::from(enc.finish()?))
}

/// One cached compressed file.
struct Entry {
    /// Source size and mtime: the entry is stale when either changed.
    size: u64,
    mtime: SystemTime,
    data: Bytes,
    /// Position in the recency order (key of `CacheInner::order`).
    tick: u64,
}

struct CacheInner {
    capacity: usize,
    used: usize,
    next_tick: u64,
    /// Keyed by the file's real path; size and mtime are checked on lookup,
    /// so an edited file replaces its entry instead of leaving a stale one.
    map: HashMap<PathBuf, Entry>,
    /// Recency order: smallest tick = least recently used. A `BTreeMap`
    /// keeps lookups, touches and evictions O(log n) without a linked list;
    /// the cost is dwarfed by the `fstat` every static request makes anyway.
    order: BTreeMap<u64, PathBuf>,
}

impl CacheInner {
    fn touch(&mut self, path: &Path) -> Option<Bytes> {
        let tick = self.next_tick;
        let entry = self.map.get_mut(path)?;
        let old = std::mem::replace(&mut entry.tick, tick);
        let data = entry.data.clone();
        self.next_tick += 1;
        if let Some(key) = self.order.remove(&old) {
            self.order.insert(tick, key);
        }
        Some(data)
    }

    fn remove(&mut self, path: &Path) {
        if let Some(old) = self.map.remove(path) {
            self.used -= old.data.len();
            self.order.remove(&old.tick);
        }
    }

    fn evict_until_fits(&mut self, incoming: usize) {
        while self.used + incoming > self.capacity {
            let Some((_, path)) = self.order.pop_first() else {
                break;
            };
            if let Some(old) = self.map.remove(&path) {
                self.used -= old.data.len();
            }
        }
    }
}

/// The bounded LRU of on-the-fly gzip results (docs/internals/static-files.md#gzip), shared by
/// every runtime thread. Cloning shares the cache.
#[derive(Clone)]
pub struct GzipCache {
    inner: Arc<Mutex<CacheInner>>,
}

impl fmt::Debug for GzipCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("GzipCache")
            .field("capacity", &inner.capacity)
            .field("used", &inner.used)
            .field("entries", &inner.map.len())
            .finish()
    }
}

impl Default for GzipCache {
    /// A cache of [`DEFAULT_GZIP_CACHE_BYTES`].
    fn default() -> Self {
        Self::new(DEFAULT_GZIP_CACHE_BYTES)
    }
}

impl GzipCache {
    /// A cache holding at most `capacity_bytes` of compressed data.
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(CacheInner {
                capacity: capacity_bytes,
                used: 0,
                next_tick: 0,
                map: HashMap::new(),
                order: BTreeMap::new(),
            })),
        }
    }

    /// The compressed bytes for `path` if cached for this exact source size
    /// and mtime; marks the entry most recently used.
    pub fn get(&self, path: &Path, size: u64, mtime: SystemTime) -> Option<Bytes> {
        let mut inner = self.inner.lock();
        match inner.map.get(path) {
            Some(e) if e.size == size && e.mtime == mtime => inner.touch(path),
            Some(_) => {
                inner.remove(path);
                None
            }
            None => None,
        }
    }

    /// Store a compressed result, evicting least recently used entries to
    /// stay within the capacity. Results larger than the whole cache are
    /// not stored.
    pub fn insert(&self, path: &Path, size: u64, mtime: SystemTime, data: Bytes) {
        let mut inner = self.inner.lock();
        inner.remove(path);
        if data.len() > inner.capacity {
            return;
        }
        inner.evict_until_fits(data.len());
        let tick = inner.next_tick;
        inner.next_tick += 1;
        inner.used += data.len();
        inner.order.insert(tick, path.to_path_buf());
        inner.map.insert(
            path.to_path_buf(),
            Entry {
                size,
                mtime,
                data,
                tick,
            },
        );
    }

    /// Bytes of compressed data held.
    pub fn bytes_used(&self) -> usize {
        self.inner.lock().used
    }

    /// Number of cached files.
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::io::Read;
    use std::time::Duration;

    fn ae(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_encoding_decision() {
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&ae("gzip")));
        assert!(accepts_gzip(&ae("GZIP")));
        assert!(accepts_gzip(&ae("x-gzip")));
        assert!(accepts_gzip(&ae("br, gzip;q=0.5, deflate")));
        assert!(accepts_gzip(&ae("gzip ; q=1.0")));
        assert!(!accepts_gzip(&ae("gzip;q=0")));
        assert!(!accepts_gzip(&ae("gzip;q=0.000")));
        assert!(!accepts_gzip(&ae("br, deflate")));
        assert!(!accepts_gzip(&ae("identity")));
        // `*` counts only when gzip is not listed.
        assert!(accepts_gzip(&ae("*")));
        assert!(accepts_gzip(&ae("br, *;q=0.1")));
        assert!(!accepts_gzip(&ae("*;q=0")));
        assert!(!accepts_gzip(&ae("gzip;q=0, *")));
        assert!(accepts_gzip(&ae("gzip, *;q=0")));
        // Substring matches are not codings.
        assert!(!accepts_gzip(&ae("gzipped")));
        // Invalid q-values drop the entry.
        assert!(!accepts_gzip(&ae("gzip;q=abc")));
        assert!(!accepts_gzip(&ae("gzip;q=2")));
        // Several header lines.
        let mut h = ae("br");
        h.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(accepts_gzip(&h));
    }

    #[test]
    fn compress_round_trips() {
        let data = b"hello hello hello hello hello".repeat(100);
        let gz = compress(&data).unwrap();
        assert!(gz.len() < data.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn cache_hits_misses_and_staleness() {
        let c = GzipCache::new(1000);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let t1 = t0 + Duration::from_secs(1);
        let p = Path::new("/a");
        assert!(c.get(p, 10, t0).is_none());
        c.insert(p, 10, t0, Bytes::from_static(b"xyz"));
        assert_eq!(c.get(p, 10, t0).unwrap(), Bytes::from_static(b"xyz"));
        // Another size or mtime is a miss and drops the stale entry.
        assert!(c.get(p, 11, t0).is_none());
        assert!(c.is_empty());
        c.insert(p, 10, t0, Bytes::from_static(b"xyz"));
        assert!(c.get(p, 10, t1).is_none());
        assert_eq!(c.bytes_used(), 0);
    }

    #[test]
    fn cache_evicts_least_recently_used_by_bytes() {
        let c = GzipCache::new(10);
        let t = SystemTime::UNIX_EPOCH;
        c.insert(Path::new("/a"), 1, t, Bytes::from(vec![0u8; 4]));
        c.insert(Path::new("/b"), 1, t, Bytes::from(vec![0u8; 4]));
        // Touch /a so /b is the least recently used.
        assert!(c.get(Path::new("/a"), 1, t).is_some());
        c.insert(Path::new("/c"), 1, t, Bytes::from(vec![0u8; 4]));
        assert!(c.get(Path::new("/b"), 1, t).is_none());
        assert!(c.get(Path::new("/a"), 1, t).is_some());
        assert!(c.get(Path::new("/c"), 1, t).is_some());
        assert_eq!(c.bytes_used(), 8);
        // Replacing an entry frees its old bytes first.
        c.insert(Path::new("/a"), 2, t, Bytes::from(vec![0u8; 6]));
        assert_eq!(c.bytes_used(), 10);
        assert_eq!(c.len(), 2);
        // Larger than the whole cache: not stored.
        c.insert(Path::new("/big"), 1, t, Bytes::from(vec![0u8; 11]));
        assert!(c.get(Path::new("/big"), 1, t).is_none());
        assert!(c.bytes_used() <= 10);
    }
}
