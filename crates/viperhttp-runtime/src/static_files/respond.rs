//! The answer to a static request once its representation is chosen
//! (docs/internals/static-files.md#responses, docs/internals/static-files.md#transfer).
//!
//! Owns [`respond`] (`If-None-Match` / `If-Modified-Since` → 304, `Range` + `If-Range` →
//! 206 / 416, else 200, with the headers of docs/internals/static-files.md#responses), the
//! [`Prepared`] response it returns (decided on a blocking thread, file bodies not yet streams),
//! the native simple answers (404, 500, 405), and [`run_blocking`], which runs the file-system
//! step on the blocking pool and turns its result into a hyper response with the body going
//! out from memory, by 64 KiB reads or by sendfile(2). Its own module so that mounts, cached or
//! not, and `FileResponse` share one implementation of the conditional and range rules.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, LAST_MODIFIED, VARY,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio::runtime::Handle;

use super::file_body::{FileBody, CHUNK};
use super::open::read_whole;
use super::range::{self, RangeOutcome};
use super::representation::{Conditions, Representation, Source};
use crate::body::ResponseBody;
use crate::sendfile::{SendfileBody, SendfileJobs};

/// `text/plain; charset=utf-8`, the type of every native simple response
/// (docs/internals/http.md#responses-written-by-the-runtime).
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// A response decided on either path; a file body (large files only) is
/// turned into a stream on the async side.
pub(super) struct Prepared {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: PreparedBody,
}

pub(super) enum PreparedBody {
    Empty,
    Bytes(Bytes),
    /// Streamed by 64 KiB reads (`FileBody`).
    File {
        file: File,
        offset: u64,
        len: u64,
    },
    /// Sent with sendfile(2) (`SendfileBody`): what [`respond`] gives when
    /// [`Conditions::zero_copy`] is set; read like `File` should no FIFO be given after all.
    Sendfile {
        file: File,
        offset: u64,
        len: u64,
    },
}

impl Prepared {
    /// `sendfile`: the connection's FIFO when its file bodies go out with sendfile(2); only a
    /// [`PreparedBody::Sendfile`] body uses it.
    fn into_response(
        self,
        handle: Handle,
        sendfile: Option<Arc<SendfileJobs>>,
    ) -> Response<ResponseBody> {
        let body = match (self.body, sendfile) {
            (PreparedBody::Empty, _) => ResponseBody::empty(),
            (PreparedBody::Bytes(b), _) => ResponseBody::full(b),
            (PreparedBody::Sendfile { file, offset, len }, Some(jobs)) => {
                ResponseBody::stream(SendfileBody::new(jobs, file, offset, len))
            }
            (
                PreparedBody::File { file, offset, len }
                | PreparedBody::Sendfile { file, offset, len },
                _,
            ) => ResponseBody::stream(FileBody::new(file, handle, offset, len)),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }

    /// For responses whose body is never a file (simple ones, cached
    /// entries): no runtime handle needed.
    pub(super) fn into_plain_response(self) -> Response<ResponseBody> {
        let body = match self.body {
            PreparedBody::Bytes(b) => ResponseBody::full(b),
            PreparedBody::Empty | PreparedBody::File { .. } | PreparedBody::Sendfile { .. } => {
                ResponseBody::empty()
            }
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }
}

/// A native simple response: `text/plain; charset=utf-8`, body = `text`.
pub(super) fn simple(status: StatusCode, text: &'static str) -> Prepared {
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

/// Run `f` on the blocking pool and turn its result into a response (500
/// outside a runtime or when the task fails); a file body that [`respond`] marked for
/// sendfile(2) goes out through `sendfile` when given.
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
            Source::File(file) if req.zero_copy => PreparedBody::Sendfile { file, offset, len },
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
