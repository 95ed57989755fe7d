//! Serving one static request (docs/internals/static-files.md#resolution,
//! docs/internals/cors-hosts-ratelimit.md).
//!
//! Evaluation order (docs/internals/static-files.md#responses decision): method (405) → resolve
//! (404 / 307) → representation (`.gz` sibling, else on-the-fly gzip, else identity) →
//! `If-None-Match`, or without it `If-Modified-Since` → 304 → `Range` + `If-Range` (GET) → 206 /
//! 416 → 200.
//!
//! Two paths:
//! - **Hot**: the open-file cache (`cache.rs`) holds the file, validated less
//!   than a second ago for the same mount root. The response is built on the
//!   calling (runtime) thread from memory: precomputed header values, the body
//!   a `Bytes` clone. No system call, no blocking-pool hop. Only a first
//!   on-the-fly gzip of the entry goes to the blocking pool (compression is
//!   CPU work).
//! - **Full**: everything that touches the file system (open, fstat,
//!   containment check, sibling lookup, reads, compression) runs in ONE
//!   `spawn_blocking` call; a small regular file is then (re)cached, a large
//!   one streams afterwards, chunk by chunk. Misses stay on the blocking pool
//!   on purpose: they are rare for hot files (once per file per second), and
//!   a cold disk, a network file system or a client walking many distinct
//!   files must not stall every connection of a runtime thread.
//!
//! Both paths end in the same [`respond`], so conditionals and ranges behave
//! identically on cached and uncached files.

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, LOCATION, RANGE,
    VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use tokio::runtime::Handle;

use super::cache::{Cached, Entry, FileCache, OnTheFly};
use super::content_type::{content_type_for, is_compressible};
use super::file_body::{FileBody, CHUNK};
use super::gzip::{self, accepts_gzip, GzipCache, ON_THE_FLY_MAX, ON_THE_FLY_MIN};
use super::range::{self, RangeOutcome};
use super::{StaticConfig, StaticFile, StaticMatch};
use crate::body::ResponseBody;
use crate::sendfile::{SendfileBody, SendfileJobs};

/// `text/plain; charset=utf-8`, the type of every native simple response
/// (docs/internals/http.md#responses-written-by-the-runtime).
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// The last second `httpdate` can format (9999-12-31T23:59:59Z); later
/// mtimes are clamped so a bogus timestamp cannot make formatting fail.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// The request headers that matter here, copied out so the blocking step
/// owns them (no allocation unless a conditional or range header is sent).
#[derive(Debug, Default)]
pub(super) struct Conditions {
    pub(super) head: bool,
    pub(super) accepts_gzip: bool,
    /// Every `If-None-Match` line, joined with `,`.
    if_none_match: Option<String>,
    /// `If-Modified-Since` in seconds; unparseable → `None` (ignored).
    if_modified_since: Option<u64>,
    /// Every `Range` line joined with `,` (two lines = a multi-range → 416).
    range: Option<String>,
    if_range: Option<String>,
    /// The connection sends file bodies with sendfile(2) (docs/internals/static-files.md#sendfile).
    zero_copy: bool,
}

/// All values of a header joined with `,`, lossily decoded.
fn joined(headers: &HeaderMap, name: http::header::HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let s = String::from_utf8_lossy(v.as_bytes());
        match out.as_mut() {
            Some(acc) => {
                acc.push(',');
                acc.push_str(&s);
            }
            None => out = Some(s.into_owned()),
        }
    }
    out
}

impl Conditions {
    pub(super) fn from_headers(headers: &HeaderMap, head: bool, zero_copy: bool) -> Self {
        let if_modified_since = headers
            .get(IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        Self {
            head,
            accepts_gzip: accepts_gzip(headers),
            if_none_match: joined(headers, IF_NONE_MATCH),
            if_modified_since,
            range: joined(headers, RANGE),
            if_range: headers
                .get(IF_RANGE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned()),
            zero_copy,
        }
    }
}

/// A response decided on either path; a file body (large files only) is
/// turned into a stream on the async side.
pub(super) struct Prepared {
    status: StatusCode,
    headers: HeaderMap,
    body: PreparedBody,
}

enum PreparedBody {
    Empty,
    Bytes(Bytes),
    File { file: File, offset: u64, len: u64 },
}

impl Prepared {
    /// `sendfile`: the connection's FIFO when its file bodies go out with sendfile(2).
    fn into_response(
        self,
        handle: Handle,
        sendfile: Option<Arc<SendfileJobs>>,
    ) -> Response<ResponseBody> {
        let body = match (self.body, sendfile) {
            (PreparedBody::Empty, _) => ResponseBody::empty(),
            (PreparedBody::Bytes(b), _) => ResponseBody::full(b),
            (PreparedBody::File { file, offset, len }, Some(jobs)) => {
                ResponseBody::stream(SendfileBody::new(jobs, file, offset, len))
            }
            (PreparedBody::File { file, offset, len }, None) => {
                ResponseBody::stream(FileBody::new(file, handle, offset, len))
            }
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }

    /// For responses whose body is never a file (simple ones, cached
    /// entries): no runtime handle needed.
    fn into_plain_response(self) -> Response<ResponseBody> {
        let body = match self.body {
            PreparedBody::Bytes(b) => ResponseBody::full(b),
            PreparedBody::Empty | PreparedBody::File { .. } => ResponseBody::empty(),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }
}

/// A native simple response: `text/plain; charset=utf-8`, body = `text`.
fn simple(status: StatusCode, text: &'static str) -> Prepared {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, TEXT_PLAIN);
    Prepared {
        status,
        headers,
        body: PreparedBody::Bytes(Bytes::from_static(text.as_bytes())),
    }
}

pub(super) fn not_found() -> Prepared {
    simple(StatusCode::NOT_FOUND, "Not Found")
}

fn internal_error() -> Prepared {
    simple(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// Serve a static request (see the module docs for the order of checks).
///
/// `target` is the result of [`StaticConfig::resolve`];
/// [`StaticMatch::NotStatic`] should not be passed (callers route it
/// elsewhere) and is answered like [`StaticMatch::NotFound`]. Methods other
/// than GET/HEAD get `405` with `Allow: GET, HEAD`; every refusal is the
/// same `404 Not Found`. CORS headers are the caller's job. Must run inside
/// a tokio runtime (answers 500 otherwise, unless the file is cached).
/// `sendfile` is the connection's FIFO when file bodies may go out with sendfile(2)
/// ([`crate::service::ConnInfo::sendfile`]); `None` reads them (TLS, HTTP/2).
pub async fn serve(
    cfg: &StaticConfig,
    cache: &GzipCache,
    target: StaticMatch,
    method: &http::Method,
    req_headers: &HeaderMap,
    sendfile: Option<&Arc<SendfileJobs>>,
) -> Response<ResponseBody> {
    let head = *method == Method::HEAD;
    if !head && *method != Method::GET {
        let mut p = simple(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        p.headers
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return p.into_plain_response();
    }
    let StaticMatch::File(file) = target else {
        return not_found().into_plain_response();
    };
    let conds = Conditions::from_headers(req_headers, head, sendfile.is_some());

    // Hot path: a validated entry answers from memory on this thread.
    let hit = cfg
        .file_cache
        .get(&file.path, file.root.as_ref(), Instant::now());
    if let Some(entry) = hit {
        let gz = match wants_on_the_fly(&entry, &conds) {
            None => None,
            Some(otf) => match cache.get(&entry.real, entry.identity.size, otf.source_mtime) {
                Some(bytes) => Some(bytes),
                None => {
                    // First gzip of this file: compress off the async threads.
                    let cache = cache.clone();
                    let cache_control = cfg.cache_control.clone();
                    return run_blocking(None, move || {
                        let gz = compress_entry(&entry, &cache);
                        respond_entry(&entry, &conds, gz, cache_control.as_ref())
                    })
                    .await;
                }
            },
        };
        return respond_entry(&entry, &conds, gz, cfg.cache_control.as_ref()).into_plain_response();
    }

    let cache = cache.clone();
    let files = cfg.file_cache.clone();
    let cache_control = cfg.cache_control.clone();
    let sendfile = sendfile.cloned();
    run_blocking(sendfile, move || {
        prepare(file, &conds, &cache, &files, cache_control.as_ref())
    })
    .await
}

/// Run `f` on the blocking pool and turn its result into a response (500
/// outside a runtime or when the task fails); a file body goes out with
/// `sendfile` when given.
pub(super) async fn run_blocking<F>(
    sendfile: Option<Arc<SendfileJobs>>,
    f: F,
) -> Response<ResponseBody>
where
    F: FnOnce() -> Prepared + Send + 'static,
{
    let Ok(handle) = Handle::try_current() else {
        return internal_error().into_plain_response();
    };
    match handle.spawn_blocking(f).await {
        Ok(p) => p.into_response(handle, sendfile),
        Err(e) => {
            tracing::error!(error = %e, "static file task failed");
            internal_error().into_plain_response()
        }
    }
}

/// An opened regular file or directory, confined to its root.
pub(super) struct Opened {
    file: File,
    pub(super) meta: Metadata,
    /// The real path of the opened handle (cache key for on-the-fly gzip).
    real: PathBuf,
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

/// Whole seconds of the mtime since the epoch (0 before it), clamped to
/// what an HTTP date can carry.
fn mtime_secs(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
        .min(MAX_HTTP_DATE_SECS)
}

/// `W/"<size hex>-<mtime hex>"` plus an optional suffix (docs/internals/static-files.md#responses).
fn weak_etag(size: u64, mtime: u64, suffix: &str) -> HeaderValue {
    HeaderValue::try_from(format!("W/\"{size:x}-{mtime:x}{suffix}\""))
        .unwrap_or(HeaderValue::from_static("W/\"0-0\""))
}

/// The IMF-fixdate of `secs` as a header value.
fn http_date(secs: u64) -> HeaderValue {
    HeaderValue::try_from(httpdate::fmt_http_date(
        UNIX_EPOCH + Duration::from_secs(secs),
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// The representation chosen for this request (docs/internals/static-files.md#gzip), with its
/// header values ready.
pub(super) struct Representation {
    source: Source,
    size: u64,
    /// Whole seconds; `last_modified` is its IMF-fixdate.
    mtime: u64,
    etag: HeaderValue,
    last_modified: HeaderValue,
    /// `Content-Length` of the whole representation when precomputed
    /// (cached entries); else formatted per response.
    content_length: Option<HeaderValue>,
    gzip: bool,
}

enum Source {
    File(File),
    Memory(Bytes),
}

impl Representation {
    /// A representation read from an opened file (the uncached path).
    fn from_file(opened: Opened, suffix: &str, gzip: bool) -> Self {
        let (size, mtime) = (opened.meta.len(), mtime_secs(&opened.meta));
        Self {
            source: Source::File(opened.file),
            size,
            mtime,
            etag: weak_etag(size, mtime, suffix),
            last_modified: http_date(mtime),
            content_length: None,
            gzip,
        }
    }

    /// A cached representation (a `Bytes` clone, header values shared).
    fn from_cached(c: &Cached, gzip: bool) -> Self {
        Self {
            source: Source::Memory(c.data.clone()),
            size: c.size,
            mtime: c.mtime,
            etag: c.etag.clone(),
            last_modified: c.last_modified.clone(),
            content_length: Some(c.content_length.clone()),
            gzip,
        }
    }
}

/// Weak comparison of an `If-None-Match` list with our ETag: `*` matches,
/// otherwise any entry equal once `W/` is dropped from both sides. Also the rule of
/// `TemplateResponse` (`_native.etag_matches`, docs/internals/templates.md).
pub fn none_match_hits(list: &str, etag: &[u8]) -> bool {
    let ours = etag.strip_prefix(b"W/").unwrap_or(etag);
    list.split(',').map(str::trim).any(|tag| {
        let tag = tag.as_bytes();
        tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == ours
    })
}

/// Read the whole `len` bytes at `offset` (small files, compression input).
fn read_whole(file: &File, offset: u64, len: u64) -> std::io::Result<Bytes> {
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}

/// On-the-fly gzip of `opened` through the cache; `None` when reading fails
/// (the caller then serves the identity representation).
fn gzip_on_the_fly(opened: &Opened, cache: &GzipCache) -> Option<Bytes> {
    let size = opened.meta.len();
    let mtime = opened.meta.modified().unwrap_or(UNIX_EPOCH);
    if let Some(hit) = cache.get(&opened.real, size, mtime) {
        return Some(hit);
    }
    let data = match read_whole(&opened.file, 0, size) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(path = %opened.real.display(), error = %e, "static gzip read failed; serving identity");
            return None;
        }
    };
    let gz = gzip::compress(&data).ok()?;
    cache.insert(&opened.real, size, mtime, gz.clone());
    Some(gz)
}

/// The on-the-fly gzip data for a cached entry, compressing (and caching)
/// it on a miss. Blocking-pool only. `None` if compression failed (identity
/// is served then).
fn compress_entry(entry: &Entry, cache: &GzipCache) -> Option<Bytes> {
    let otf = entry.on_the_fly.as_ref()?;
    let size = entry.identity.size;
    if let Some(hit) = cache.get(&entry.real, size, otf.source_mtime) {
        return Some(hit);
    }
    let gz = gzip::compress(&entry.identity.data).ok()?;
    cache.insert(&entry.real, size, otf.source_mtime, gz.clone());
    Some(gz)
}

/// Does this request get the on-the-fly gzip representation of `entry`
/// (docs/internals/static-files.md#gzip: accepted, no sibling, compressible within bounds, no
/// `Range`)?
fn wants_on_the_fly<'a>(entry: &'a Entry, req: &Conditions) -> Option<&'a OnTheFly> {
    if !req.accepts_gzip || req.range.is_some() || entry.sibling.is_some() {
        return None;
    }
    entry.on_the_fly.as_ref()
}

/// The response for a cached entry. `gz` is the on-the-fly gzip data when
/// [`wants_on_the_fly`] said so and it was available.
fn respond_entry(
    entry: &Entry,
    req: &Conditions,
    gz: Option<Bytes>,
    cache_control: Option<&HeaderValue>,
) -> Prepared {
    let rep = match (&entry.sibling, gz, &entry.on_the_fly) {
        (Some(sib), _, _) if req.accepts_gzip => Representation::from_cached(sib, true),
        (_, Some(bytes), Some(otf)) => Representation {
            size: bytes.len() as u64,
            content_length: None,
            source: Source::Memory(bytes),
            mtime: entry.identity.mtime,
            etag: otf.etag.clone(),
            last_modified: entry.identity.last_modified.clone(),
            gzip: true,
        },
        _ => Representation::from_cached(&entry.identity, false),
    };
    respond(
        rep,
        entry.content_type,
        entry.has_variant(),
        req,
        cache_control,
    )
}

/// One cached representation read from an opened file; `None` when the read
/// fails (the caller then takes the uncached path, as before the cache).
fn cache_rep(opened: &Opened) -> Option<Cached> {
    let (size, mtime) = (opened.meta.len(), mtime_secs(&opened.meta));
    let data = read_whole(&opened.file, 0, size).ok()?;
    Some(Cached {
        size,
        mtime,
        etag: weak_etag(size, mtime, ""),
        last_modified: http_date(mtime),
        content_length: HeaderValue::from(size),
        data,
    })
}

/// Build the cache entry of a small regular file (and its sibling) from the
/// handles opened for this request, so entry and metadata are of one version.
fn build_entry(
    target: &StaticFile,
    opened: &Opened,
    sibling: Option<&Opened>,
    content_type: &'static str,
    compressible: bool,
    asked: Instant,
) -> Option<Entry> {
    let identity = cache_rep(opened)?;
    let sibling = match sibling {
        Some(s) => Some(cache_rep(s)?),
        None => None,
    };
    let on_the_fly = compressible.then(|| OnTheFly {
        source_mtime: opened.meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        etag: weak_etag(identity.size, identity.mtime, "-gz"),
    });
    Some(Entry {
        validated: asked,
        root: target.root.clone(),
        real: opened.real.clone(),
        content_type,
        identity,
        sibling,
        on_the_fly,
    })
}

/// The full path, on a blocking thread: open and check the file, decide the
/// response, and (re)cache a small regular file — or forget a cached one
/// that is gone, a directory, or no longer inside its root.
fn prepare(
    target: StaticFile,
    req: &Conditions,
    cache: &GzipCache,
    files: &FileCache,
    cache_control: Option<&HeaderValue>,
) -> Prepared {
    // The entry's window starts before the file system is asked.
    let asked = Instant::now();
    let Some(opened) = open_contained(&target.path, target.root.as_deref()) else {
        files.remove(&target.path);
        return not_found();
    };
    if opened.meta.is_dir() {
        files.remove(&target.path);
        return match target
            .redirect
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            Some(location) => {
                let mut headers = HeaderMap::new();
                headers.insert(LOCATION, location);
                Prepared {
                    status: StatusCode::TEMPORARY_REDIRECT,
                    headers,
                    body: PreparedBody::Empty,
                }
            }
            None => not_found(),
        };
    }
    if !opened.meta.is_file() {
        files.remove(&target.path);
        return not_found();
    }
    let content_type = content_type_for(&target.path);

    let sibling = open_sibling(&target.path, target.root.as_deref());
    let size = opened.meta.len();
    let compressible = sibling.is_none()
        && is_compressible(content_type)
        && (ON_THE_FLY_MIN..=ON_THE_FLY_MAX).contains(&size);
    // Vary goes on every 200/206/304 of a file that has a gzip variant,
    // served compressed or not (docs/internals/static-files.md#gzip decision).
    let has_variant = sibling.is_some() || compressible;

    let cacheable = files.fits(size)
        && match &sibling {
            Some(s) => files.fits(s.meta.len()),
            None => true,
        };
    if cacheable {
        let built = build_entry(
            &target,
            &opened,
            sibling.as_ref(),
            content_type,
            compressible,
            asked,
        );
        if let Some(entry) = built {
            let entry = Arc::new(entry);
            files.insert(&target.path, Arc::clone(&entry));
            let gz = wants_on_the_fly(&entry, req).and_then(|_| compress_entry(&entry, cache));
            return respond_entry(&entry, req, gz, cache_control);
        }
    }
    // Too large to cache (or a read failed): whatever was cached is stale.
    files.remove(&target.path);
    let rep = choose_representation(opened, sibling, compressible, req, cache);
    respond(rep, content_type, has_variant, req, cache_control)
}

/// The `<file>.gz` sibling of `path`: a regular file, confined like the file itself
/// (docs/internals/static-files.md#gzip).
pub(super) fn open_sibling(path: &Path, root: Option<&Path>) -> Option<Opened> {
    let mut p = path.as_os_str().to_os_string();
    p.push(".gz");
    open_contained(Path::new(&p), root).filter(|s| s.meta.is_file())
}

pub(super) fn choose_representation(
    opened: Opened,
    sibling: Option<Opened>,
    compressible: bool,
    req: &Conditions,
    cache: &GzipCache,
) -> Representation {
    if req.accepts_gzip {
        if let Some(gz) = sibling {
            return Representation::from_file(gz, "", true);
        }
        // No ranges over an on-the-fly encoding: a Range request gets identity.
        if compressible && req.range.is_none() {
            if let Some(bytes) = gzip_on_the_fly(&opened, cache) {
                let mtime = mtime_secs(&opened.meta);
                return Representation {
                    size: bytes.len() as u64,
                    source: Source::Memory(bytes),
                    mtime,
                    etag: weak_etag(opened.meta.len(), mtime, "-gz"),
                    last_modified: http_date(mtime),
                    content_length: None,
                    gzip: true,
                };
            }
        }
    }
    Representation::from_file(opened, "", false)
}

/// Conditionals, ranges and the final status for the chosen representation.
pub(super) fn respond(
    rep: Representation,
    content_type: &'static str,
    has_variant: bool,
    req: &Conditions,
    cache_control: Option<&HeaderValue>,
) -> Prepared {
    // Headers shared by 200/206/304, in the order of docs/internals/static-files.md#responses
    // (informative).
    let validators = |h: &mut HeaderMap| {
        h.insert(ETAG, rep.etag.clone());
        h.insert(LAST_MODIFIED, rep.last_modified.clone());
        h.insert(ACCEPT_RANGES, BYTES);
    };
    let caching = |h: &mut HeaderMap| {
        if let Some(cc) = cache_control {
            h.insert(CACHE_CONTROL, cc.clone());
        }
        if rep.gzip {
            h.insert(CONTENT_ENCODING, GZIP);
        }
        if has_variant {
            h.insert(VARY, ACCEPT_ENCODING);
        }
    };

    // 304: If-None-Match wins; If-Modified-Since only without it.
    let not_modified = match (&req.if_none_match, req.if_modified_since) {
        (Some(list), _) => none_match_hits(list, rep.etag.as_bytes()),
        (None, Some(since)) => rep.mtime <= since,
        (None, None) => false,
    };
    if not_modified {
        let mut headers = HeaderMap::with_capacity(8);
        validators(&mut headers);
        caching(&mut headers);
        return Prepared {
            status: StatusCode::NOT_MODIFIED,
            headers,
            body: PreparedBody::Empty,
        };
    }

    // Range (GET only), honoured only when If-Range (if any) is a strong match
    // (RFC 9110 §13.1.5): a weak entity-tag never matches, so with our weak ETags
    // only the exact Last-Modified date does (docs/internals/static-files.md, "Range").
    let mut window = None;
    if let (false, Some(range_value)) = (req.head, &req.range) {
        let if_range_ok = match req.if_range.as_deref() {
            None => true,
            Some(v) if v.starts_with("W/") => false,
            Some(v) => {
                v.as_bytes() == rep.etag.as_bytes() || v.as_bytes() == rep.last_modified.as_bytes()
            }
        };
        if if_range_ok {
            match range::evaluate(range_value, rep.size) {
                RangeOutcome::Ignore => {}
                RangeOutcome::Unsatisfiable => {
                    let mut headers = HeaderMap::with_capacity(8);
                    if let Ok(cr) = HeaderValue::try_from(format!("bytes */{}", rep.size)) {
                        headers.insert(CONTENT_RANGE, cr);
                    }
                    validators(&mut headers);
                    return Prepared {
                        status: StatusCode::RANGE_NOT_SATISFIABLE,
                        headers,
                        body: PreparedBody::Empty,
                    };
                }
                RangeOutcome::Satisfiable { start, end } => window = Some((start, end)),
            }
        }
    }

    // Room for ours plus what the service adds (Date, Connection, CORS).
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    validators(&mut headers);
    let (status, offset, len) = match window {
        Some((start, end)) => {
            if let Ok(cr) = HeaderValue::try_from(format!("bytes {start}-{end}/{}", rep.size)) {
                headers.insert(CONTENT_RANGE, cr);
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, rep.size),
    };
    caching(&mut headers);
    let content_length = match (&rep.content_length, window) {
        (Some(full), None) => full.clone(),
        _ => HeaderValue::from(len),
    };
    headers.insert(CONTENT_LENGTH, content_length);

    let body = if req.head || len == 0 {
        PreparedBody::Empty
    } else {
        match rep.source {
            Source::Memory(bytes) => {
                // Cached bytes hold the whole representation; slice the
                // window (clamped defensively).
                let end = usize::try_from(offset + len)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(end);
                PreparedBody::Bytes(bytes.slice(start..end))
            }
            // sendfile(2) for any length: no read, no copy (docs/internals/static-files.md#sendfile).
            Source::File(file) if req.zero_copy => PreparedBody::File { file, offset, len },
            Source::File(file) if len <= CHUNK => match read_whole(&file, offset, len) {
                Ok(bytes) => PreparedBody::Bytes(bytes),
                Err(e) => {
                    tracing::warn!(error = %e, "static file read failed");
                    return internal_error();
                }
            },
            Source::File(file) => PreparedBody::File { file, offset, len },
        }
    };
    Prepared {
        status,
        headers,
        body,
    }
}
