//! Serving one static request (`runtime.md` §6.2 items 5–7, §6.4–§6.6).
//!
//! Evaluation order (§6.4 decision): method (405) → resolve (404 / 307) →
//! representation (`.gz` sibling, else on-the-fly gzip, else identity) →
//! `If-None-Match`, or without it `If-Modified-Since` → 304 → `Range` +
//! `If-Range` (GET) → 206 / 416 → 200.
//!
//! Everything that touches the file system (open, fstat, containment check,
//! sibling lookup, small reads, compression) runs in ONE `spawn_blocking`
//! call per request; only large bodies stream afterwards, chunk by chunk.

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, LOCATION, RANGE,
    VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use tokio::runtime::Handle;

use super::content_type::{content_type_for, is_compressible};
use super::file_body::{FileBody, CHUNK};
use super::gzip::{self, accepts_gzip, GzipCache, ON_THE_FLY_MAX, ON_THE_FLY_MIN};
use super::range::{self, RangeOutcome};
use super::{StaticConfig, StaticFile, StaticMatch};
use crate::body::ResponseBody;

/// `text/plain; charset=utf-8`, the type of every native simple response (§4.6).
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// The last second `httpdate` can format (9999-12-31T23:59:59Z); later
/// mtimes are clamped so a bogus timestamp cannot make formatting fail.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// The request headers that matter here, copied out so the blocking step
/// owns them.
#[derive(Debug, Default)]
struct Conditions {
    head: bool,
    accepts_gzip: bool,
    /// Every `If-None-Match` line, joined with `,`.
    if_none_match: Option<String>,
    /// `If-Modified-Since` in seconds; unparseable → `None` (ignored).
    if_modified_since: Option<u64>,
    /// Every `Range` line joined with `,` (two lines = a multi-range → 416).
    range: Option<String>,
    if_range: Option<String>,
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
    fn from_headers(headers: &HeaderMap, head: bool) -> Self {
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
        }
    }
}

/// A response decided on the blocking thread; the file body (if any) is
/// turned into a stream back on the async side.
struct Prepared {
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
    fn into_response(self, handle: Handle) -> Response<ResponseBody> {
        let body = match self.body {
            PreparedBody::Empty => ResponseBody::empty(),
            PreparedBody::Bytes(b) => ResponseBody::full(b),
            PreparedBody::File { file, offset, len } => {
                ResponseBody::stream(FileBody::new(file, handle, offset, len))
            }
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

fn not_found() -> Prepared {
    simple(StatusCode::NOT_FOUND, "Not Found")
}

/// Serve a static request (see the module docs for the order of checks).
///
/// `target` is the result of [`StaticConfig::resolve`];
/// [`StaticMatch::NotStatic`] should not be passed (callers route it
/// elsewhere) and is answered like [`StaticMatch::NotFound`]. Methods other
/// than GET/HEAD get `405` with `Allow: GET, HEAD`; every refusal is the
/// same `404 Not Found`. CORS headers are the caller's job. Must run inside
/// a tokio runtime (answers 500 otherwise).
pub async fn serve(
    cfg: &StaticConfig,
    cache: &GzipCache,
    target: StaticMatch,
    method: &http::Method,
    req_headers: &HeaderMap,
) -> Response<ResponseBody> {
    let head = *method == Method::HEAD;
    if !head && *method != Method::GET {
        let mut p = simple(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        p.headers
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return into_plain_response(p);
    }
    let StaticMatch::File(file) = target else {
        return into_plain_response(not_found());
    };
    let Ok(handle) = Handle::try_current() else {
        return into_plain_response(simple(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ));
    };
    let conds = Conditions::from_headers(req_headers, head);
    let cache = cache.clone();
    let max_age = cfg.max_age;
    match handle
        .spawn_blocking(move || prepare(file, &conds, &cache, max_age))
        .await
    {
        Ok(p) => p.into_response(handle),
        Err(e) => {
            tracing::error!(error = %e, "static file task failed");
            into_plain_response(simple(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ))
        }
    }
}

/// A prepared response whose body is never a file (no runtime handle needed).
fn into_plain_response(p: Prepared) -> Response<ResponseBody> {
    let body = match p.body {
        PreparedBody::Bytes(b) => ResponseBody::full(b),
        PreparedBody::Empty | PreparedBody::File { .. } => ResponseBody::empty(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = p.status;
    *resp.headers_mut() = p.headers;
    resp
}

/// An opened regular file or directory, confined to its root.
struct Opened {
    file: File,
    meta: Metadata,
    /// The real path of the opened handle (cache key for on-the-fly gzip).
    real: PathBuf,
}

/// Open `path` and check containment (§6.2 item 7): the real path of the
/// *opened* handle must lie under `root` (file mounts have none). Checking
/// the handle rather than canonicalising first leaves no window for a
/// symlink swapped between check and open. `O_NONBLOCK` keeps a FIFO in the
/// tree from blocking the open; it changes nothing for regular files.
fn open_contained(path: &Path, root: Option<&Path>) -> Option<Opened> {
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
/// there, documented in `docs/static-files.md`).
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

/// The representation chosen for this request (§6.5).
struct Representation {
    source: Source,
    size: u64,
    /// Whole seconds; `last_modified` is its IMF-fixdate.
    mtime: u64,
    etag: String,
    last_modified: String,
    gzip: bool,
}

enum Source {
    File(File),
    Memory(Bytes),
}

/// `W/"<size hex>-<mtime hex>"` plus an optional suffix (§6.4, §6.5).
fn weak_etag(size: u64, mtime: u64, suffix: &str) -> String {
    format!("W/\"{size:x}-{mtime:x}{suffix}\"")
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Weak comparison of an `If-None-Match` list with our ETag: `*` matches,
/// otherwise any entry equal once `W/` is dropped from both sides.
fn none_match_hits(list: &str, etag: &str) -> bool {
    let ours = etag.strip_prefix("W/").unwrap_or(etag);
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
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

/// Decide the whole response for `target` on a blocking thread.
fn prepare(target: StaticFile, req: &Conditions, cache: &GzipCache, max_age: u32) -> Prepared {
    let Some(opened) = open_contained(&target.path, target.root.as_deref()) else {
        return not_found();
    };
    if opened.meta.is_dir() {
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
        return not_found();
    }
    let content_type = content_type_for(&target.path);

    // `<file>.gz` sibling: a regular file, confined like the file itself.
    let sibling = {
        let mut p = target.path.clone().into_os_string();
        p.push(".gz");
        open_contained(Path::new(&p), target.root.as_deref()).filter(|s| s.meta.is_file())
    };
    let size = opened.meta.len();
    let compressible = sibling.is_none()
        && is_compressible(content_type)
        && (ON_THE_FLY_MIN..=ON_THE_FLY_MAX).contains(&size);
    // Vary goes on every 200/206/304 of a file that has a gzip variant,
    // served compressed or not (§6.5 decision).
    let has_variant = sibling.is_some() || compressible;

    let rep = choose_representation(opened, sibling, compressible, req, cache);
    respond(rep, content_type, has_variant, req, max_age)
}

fn choose_representation(
    opened: Opened,
    sibling: Option<Opened>,
    compressible: bool,
    req: &Conditions,
    cache: &GzipCache,
) -> Representation {
    if req.accepts_gzip {
        if let Some(gz) = sibling {
            let (size, mtime) = (gz.meta.len(), mtime_secs(&gz.meta));
            return Representation {
                source: Source::File(gz.file),
                size,
                mtime,
                etag: weak_etag(size, mtime, ""),
                last_modified: http_date(mtime),
                gzip: true,
            };
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
                    gzip: true,
                };
            }
        }
    }
    let (size, mtime) = (opened.meta.len(), mtime_secs(&opened.meta));
    Representation {
        source: Source::File(opened.file),
        size,
        mtime,
        etag: weak_etag(size, mtime, ""),
        last_modified: http_date(mtime),
        gzip: false,
    }
}

/// Conditionals, ranges and the final status for the chosen representation.
fn respond(
    rep: Representation,
    content_type: &'static str,
    has_variant: bool,
    req: &Conditions,
    max_age: u32,
) -> Prepared {
    let etag = HeaderValue::from_str(&rep.etag).unwrap_or(HeaderValue::from_static("W/\"0-0\""));
    let last_modified =
        HeaderValue::from_str(&rep.last_modified).unwrap_or(HeaderValue::from_static(""));
    let cache_control = (max_age > 0)
        .then(|| HeaderValue::from_str(&format!("public, max-age={max_age}")).ok())
        .flatten();

    // Headers shared by 200/206/304, in the order of §6.4 (informative).
    let validators = |h: &mut HeaderMap| {
        h.insert(ETAG, etag.clone());
        h.insert(LAST_MODIFIED, last_modified.clone());
        h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    };
    let caching = |h: &mut HeaderMap| {
        if let Some(cc) = &cache_control {
            h.insert(CACHE_CONTROL, cc.clone());
        }
        if rep.gzip {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if has_variant {
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
    };

    // 304: If-None-Match wins; If-Modified-Since only without it.
    let not_modified = match (&req.if_none_match, req.if_modified_since) {
        (Some(list), _) => none_match_hits(list, &rep.etag),
        (None, Some(since)) => rep.mtime <= since,
        (None, None) => false,
    };
    if not_modified {
        let mut headers = HeaderMap::new();
        validators(&mut headers);
        caching(&mut headers);
        return Prepared {
            status: StatusCode::NOT_MODIFIED,
            headers,
            body: PreparedBody::Empty,
        };
    }

    // Range (GET only), honoured only when If-Range (if any) equals the ETag
    // or the Last-Modified text — a plain string compare (§6.4 decision).
    let mut window = None;
    if let (false, Some(range_value)) = (req.head, &req.range) {
        let if_range_ok = match req.if_range.as_deref() {
            None => true,
            Some(v) => v == rep.etag || v == rep.last_modified,
        };
        if if_range_ok {
            match range::evaluate(range_value, rep.size) {
                RangeOutcome::Ignore => {}
                RangeOutcome::Unsatisfiable => {
                    let mut headers = HeaderMap::new();
                    if let Ok(cr) = HeaderValue::from_str(&format!("bytes */{}", rep.size)) {
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

    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    validators(&mut headers);
    let (status, offset, len) = match window {
        Some((start, end)) => {
            if let Ok(cr) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", rep.size)) {
                headers.insert(CONTENT_RANGE, cr);
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, rep.size),
    };
    caching(&mut headers);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));

    let body = if req.head || len == 0 {
        PreparedBody::Empty
    } else {
        match rep.source {
            Source::Memory(bytes) => {
                // On-the-fly results are never ranged (see above), but slice
                // defensively rather than trust that.
                let end = usize::try_from(offset + len)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(end);
                PreparedBody::Bytes(bytes.slice(start..end))
            }
            Source::File(file) if len <= CHUNK => match read_whole(&file, offset, len) {
                Ok(bytes) => PreparedBody::Bytes(bytes),
                Err(e) => {
                    tracing::warn!(error = %e, "static file read failed");
                    return simple(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
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
