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
//!
//! This module owns the mount's flow: the two paths above and the open-file cache entries they
//! read and (re)build. The steps it shares with `FileResponse` live beside it: opening a file
//! confined to its root (`open.rs`), choosing the representation (`representation.rs`) and
//! answering conditionals and ranges with a body (`respond.rs`).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{ALLOW, LOCATION};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::cache::{Cached, Entry, FileCache, OnTheFly};
use super::content_type::{content_type_for, is_compressible};
use super::gzip::{self, GzipCache, ON_THE_FLY_MAX, ON_THE_FLY_MIN};
use super::open::{open_contained, open_sibling, read_whole, Opened};
use super::representation::{
    choose_representation, http_date, mtime_secs, weak_etag, Conditions, Representation, Source,
};
use super::respond::{not_found, respond, run_blocking, simple, Prepared, PreparedBody};
use super::{StaticConfig, StaticFile, StaticMatch};
use crate::body::ResponseBody;
use crate::sendfile::SendfileJobs;

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

    if files.holds(size, sibling.as_ref().map(|s| s.meta.len())) {
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
