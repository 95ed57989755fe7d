//! `FileResponse`, served natively (docs/internals/static-files.md#fileresponse): the app
//! returned a `RESP_FILE` record (docs/internals/ipc.md §2) naming a file; the runtime serves
//! it through the same functions as a static mount (`serve.rs`: open, fstat, `.gz` sibling,
//! conditionals, ranges, streamed body), against the headers of the request it answers,
//! then merges the app's status and headers.
//!
//! Differences from a mount, all deliberate (docs/internals/static-files.md#fileresponse):
//! no containment check (the app chose the path), no open-file cache and no on-the-fly gzip
//! (a `FileResponse` already went through Python; one blocking-pool hop is not what it
//! costs), no `Cache-Control`, and no 405: any method gets the file, conditionals and ranges
//! apply only to GET/HEAD with the app's status 200.

use std::path::{Path, PathBuf};

use http::header::{HeaderName, CONTENT_RANGE, CONTENT_TYPE, VARY};
use http::{HeaderMap, Method, Response, StatusCode};

use super::content_type::content_type_for;
use super::gzip::{accepts_gzip, GzipCache};
use super::serve::{
    choose_representation, not_found, open_contained, open_sibling, respond, run_blocking,
    Conditions, Prepared,
};
use crate::body::ResponseBody;

/// What the app asked for: the record's path, status and headers (the runtime-owned framing
/// headers already dropped by the caller).
#[derive(Debug)]
pub struct FileReply {
    /// Absolute host path (the binding mapped `vfs_root` and made it absolute).
    pub path: PathBuf,
    /// The app's status code.
    pub status: StatusCode,
    /// The app's headers, in order (a `Content-Type` among them overrides the table's type).
    pub headers: HeaderMap,
}

/// Serve a `FileResponse` for a request with `method` and `req_headers`. Must run inside a
/// tokio runtime (500 otherwise). A path that is not an openable regular file → the native
/// `404 Not Found` (logged), as a missing file under a mount.
pub async fn serve_file(
    cache: &GzipCache,
    reply: FileReply,
    method: &Method,
    req_headers: &HeaderMap,
) -> Response<ResponseBody> {
    let head = *method == Method::HEAD;
    // Conditionals and ranges only for GET/HEAD answered 200 (docs/internals/static-files.md
    // #fileresponse); any other status or method gets the whole representation.
    let conds = if reply.status == StatusCode::OK && (head || *method == Method::GET) {
        Conditions::from_headers(req_headers, head)
    } else {
        let mut plain = Conditions::default();
        plain.head = head;
        plain.accepts_gzip = accepts_gzip(req_headers);
        plain
    };
    let cache = cache.clone();
    let path = reply.path;
    let mut resp = run_blocking(move || prepare_file(&path, &conds, &cache)).await;
    merge(&mut resp, reply.status, reply.headers);
    resp
}

/// The blocking step: open, fstat, sibling, representation, conditionals, range.
fn prepare_file(path: &Path, req: &Conditions, cache: &GzipCache) -> Prepared {
    let Some(opened) = open_contained(path, None).filter(|o| o.meta.is_file()) else {
        tracing::warn!(path = %path.display(), "FileResponse: no regular file at the path; answered 404");
        return not_found();
    };
    let sibling = open_sibling(path, None);
    let has_variant = sibling.is_some();
    // `compressible` false: a FileResponse gets a `.gz` sibling, never on-the-fly gzip.
    let rep = choose_representation(opened, sibling, false, req, cache);
    respond(rep, content_type_for(path), has_variant, req, None)
}

/// Apply the app's status and headers to the native answer
/// (docs/internals/static-files.md#fileresponse):
/// - the status replaces a native 200; 206/304/416 (only reached with status 200) stay;
///   any other native answer (404, 500) is sent as it is, without the app's headers;
/// - each app header replaces the native header of that name, except `Vary`, which is
///   appended, and `Content-Range`, which the runtime owns (it describes the bytes sent);
/// - a `Content-Type` applies only where the native answer has one (200/206, not 304/416).
fn merge(resp: &mut Response<ResponseBody>, status: StatusCode, user: HeaderMap) {
    match resp.status() {
        StatusCode::OK => *resp.status_mut() = status,
        StatusCode::PARTIAL_CONTENT
        | StatusCode::NOT_MODIFIED
        | StatusCode::RANGE_NOT_SATISFIABLE => {}
        _ => return,
    }
    let headers = resp.headers_mut();
    let typed = headers.contains_key(CONTENT_TYPE);
    let mut current: Option<HeaderName> = None;
    for (name, value) in user {
        if let Some(name) = name {
            let keep = name != CONTENT_RANGE && (name != CONTENT_TYPE || typed);
            if keep && name != VARY {
                headers.remove(&name);
            }
            current = keep.then_some(name);
        }
        if let Some(name) = &current {
            headers.append(name.clone(), value);
        }
    }
}
