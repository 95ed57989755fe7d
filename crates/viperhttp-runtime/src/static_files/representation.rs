//! The representation a static request gets, and the request headers that choose it
//! (docs/internals/static-files.md#responses, docs/internals/static-files.md#gzip).
//!
//! Owns [`Conditions`] (the conditional, range and `Accept-Encoding` headers, copied out of the
//! request so the blocking step owns them), the validators (weak ETag, `Last-Modified`, the
//! clamped mtime) and [`Representation`]: which bytes are served (`.gz` sibling, on-the-fly
//! gzip or identity) with their header values. A module of its own because two callers choose
//! through it, mounts (`serve.rs`, also for cached entries) and `FileResponse`
//! (`file_response.rs`), and `respond.rs` then evaluates the conditions against what was chosen:
//! the rules of docs/internals/static-files.md#gzip exist once.

use std::fs::{File, Metadata};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, RANGE};
use http::{HeaderMap, HeaderValue};

use super::cache::Cached;
use super::gzip::{self, accepts_gzip, GzipCache};
use super::open::{read_whole, Opened};

/// The last second `httpdate` can format (9999-12-31T23:59:59Z); later
/// mtimes are clamped so a bogus timestamp cannot make formatting fail.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// The request headers that matter here, copied out so the blocking step
/// owns them (no allocation unless a conditional or range header is sent).
#[derive(Debug, Default)]
pub(super) struct Conditions {
    pub(super) head: bool,
    pub(super) accepts_gzip: bool,
    /// Every `If-None-Match` line, joined with `,`.
    pub(super) if_none_match: Option<String>,
    /// `If-Modified-Since` in seconds; unparseable → `None` (ignored).
    pub(super) if_modified_since: Option<u64>,
    /// Every `Range` line joined with `,` (two lines = a multi-range → 416).
    pub(super) range: Option<String>,
    pub(super) if_range: Option<String>,
    /// A body read from the opened file goes out with sendfile(2)
    /// (docs/internals/static-files.md#sendfile): the connection can, and (`FileResponse`) the
    /// file is one a mount would not serve from the open-file cache.
    pub(super) zero_copy: bool,
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

/// Whole seconds of the mtime since the epoch (0 before it), clamped to
/// what an HTTP date can carry.
pub(super) fn mtime_secs(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
        .min(MAX_HTTP_DATE_SECS)
}

/// `W/"<size hex>-<mtime hex>"` plus an optional suffix (docs/internals/static-files.md#responses).
pub(super) fn weak_etag(size: u64, mtime: u64, suffix: &str) -> HeaderValue {
    HeaderValue::try_from(format!("W/\"{size:x}-{mtime:x}{suffix}\""))
        .unwrap_or(HeaderValue::from_static("W/\"0-0\""))
}

/// The IMF-fixdate of `secs` as a header value.
pub(super) fn http_date(secs: u64) -> HeaderValue {
    HeaderValue::try_from(httpdate::fmt_http_date(
        UNIX_EPOCH + Duration::from_secs(secs),
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// The representation chosen for this request (docs/internals/static-files.md#gzip), with its
/// header values ready.
pub(super) struct Representation {
    pub(super) source: Source,
    pub(super) size: u64,
    /// Whole seconds; `last_modified` is its IMF-fixdate.
    pub(super) mtime: u64,
    pub(super) etag: HeaderValue,
    pub(super) last_modified: HeaderValue,
    /// `Content-Length` of the whole representation when precomputed
    /// (cached entries); else formatted per response.
    pub(super) content_length: Option<HeaderValue>,
    pub(super) gzip: bool,
}

pub(super) enum Source {
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
    pub(super) fn from_cached(c: &Cached, gzip: bool) -> Self {
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
