//! `FileResponse`, served natively (docs/internals/static-files.md#fileresponse): the app
//! returned a `RESP_FILE` record (docs/internals/ipc.md §2) naming a file; the runtime serves
//! it through the same functions as a static mount (`open.rs`: open, fstat, `.gz` sibling;
//! `representation.rs`: which bytes; `respond.rs`: conditionals, ranges, streamed body),
//! against the headers of the request it answers, then merges the app's status and headers.
//!
//! Differences from a mount, all deliberate (docs/internals/static-files.md#fileresponse):
//! no containment check (the app chose the path), no open-file cache and no on-the-fly gzip
//! (a `FileResponse` already went through Python; one blocking-pool hop is not what it
//! costs), no `Cache-Control`, and no 405: any method gets the file, conditionals and ranges
//! apply only to GET/HEAD with the app's status 200.
//!
//! The body goes out with sendfile(2) exactly when a mount's would
//! (docs/internals/static-files.md#sendfile): on a plain-TCP HTTP/1 connection, for a file
//! (and `.gz` sibling) that the mounts' open-file cache would not hold, so a file is sent the
//! same way whether a mount or a handler names it. Smaller ones are read as before.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::{HeaderName, CONTENT_RANGE, CONTENT_TYPE, VARY};
use http::{HeaderMap, Method, Response, StatusCode};

use super::cache::FileCache;
use super::content_type::content_type_for;
use super::gzip::{accepts_gzip, GzipCache};
use super::open::{open_contained, open_sibling};
use super::representation::{choose_representation, Conditions};
use super::respond::{not_found, respond, run_blocking, Prepared};
use super::StaticConfig;
use crate::body::ResponseBody;
use crate::sendfile::SendfileJobs;

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
///
/// `statics` is the server's static configuration: its open-file cache limits decide, as for
/// a mount, which files are too small for sendfile(2). `sendfile` is the connection's FIFO when
/// file bodies may go out with sendfile(2) ([`crate::service::ConnInfo::sendfile`]); `None`
/// reads them (TLS, HTTP/2).
pub async fn serve_file(
    statics: &StaticConfig,
    cache: &GzipCache,
    reply: FileReply,
    method: &Method,
    req_headers: &HeaderMap,
    sendfile: Option<&Arc<SendfileJobs>>,
) -> Response<ResponseBody> {
    let head = *method == Method::HEAD;
    // Conditionals and ranges only for GET/HEAD answered 200 (docs/internals/static-files.md
    // #fileresponse); any other status or method gets the whole representation.
    let conds = if reply.status == StatusCode::OK && (head || *method == Method::GET) {
        Conditions::from_headers(req_headers, head, false)
    } else {
        Conditions {
            head,
            accepts_gzip: accepts_gzip(req_headers),
            ..Conditions::default()
        }
    };
    let cache = cache.clone();
    let files = statics.file_cache.clone();
    let path = reply.path;
    let zero_copy = sendfile.is_some();
    let mut resp = run_blocking(sendfile.cloned(), move || {
        prepare_file(&path, conds, &cache, &files, zero_copy)
    })
    .await;
    merge(&mut resp, reply.status, reply.headers);
    resp
}

/// The blocking step: open, fstat, sibling, representation, conditionals, range.
/// `zero_copy`: the connection sends file bodies with sendfile(2).
fn prepare_file(
    path: &Path,
    mut req: Conditions,
    cache: &GzipCache,
    files: &FileCache,
    zero_copy: bool,
) -> Prepared {
    let Some(opened) = open_contained(path, None).filter(|o| o.meta.is_file()) else {
        tracing::warn!(path = %path.display(), "FileResponse: no regular file at the path; answered 404");
        return not_found();
    };
    let sibling = open_sibling(path, None);
    let has_variant = sibling.is_some();
    // sendfile(2) exactly when a mount would use it: a file the open-file cache would hold is
    // served from memory there, so it is read here (docs/internals/static-files.md#sendfile).
    req.zero_copy =
        zero_copy && !files.holds(opened.meta.len(), sibling.as_ref().map(|s| s.meta.len()));
    // `compressible` false: a FileResponse gets a `.gz` sibling, never on-the-fly gzip.
    let rep = choose_representation(opened, sibling, false, &req, cache);
    respond(rep, content_type_for(path), has_variant, &req, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, ETAG, LAST_MODIFIED};
    use http::HeaderValue;
    use http_body_util::BodyExt;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(tag: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("viperhttp-fileresp-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        Dir(d)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    async fn call(
        path: PathBuf,
        status: u16,
        app: &[(&'static str, &'static str)],
        method: Method,
        req: &[(&'static str, &'static str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let reply = FileReply {
            path,
            status: StatusCode::from_u16(status).unwrap(),
            headers: headers(app),
        };
        let resp = serve_file(
            &StaticConfig::default(),
            &GzipCache::default(),
            reply,
            &method,
            &headers(req),
            None,
        )
        .await;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn file_conditionals_range_sibling_and_merge() {
        let d = dir("main");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let file = d.0.join("a.txt");
        std::fs::write(&file, &data).unwrap();
        let (s, h, b) = call(file.clone(), 200, &[], Method::GET, &[]).await;
        assert_eq!((s, b.len()), (StatusCode::OK, data.len()), "streamed whole");
        assert_eq!(b, data);
        assert_eq!(h[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(h[CONTENT_LENGTH], data.len().to_string().as_str());
        assert!(h.contains_key(LAST_MODIFIED) && !h.contains_key(VARY));
        let etag: &'static str = Box::leak(h[ETAG].to_str().unwrap().to_owned().into_boxed_str());

        let (s, _, b) = call(
            file.clone(),
            200,
            &[],
            Method::GET,
            &[("if-none-match", etag)],
        )
        .await;
        assert_eq!((s, b.len()), (StatusCode::NOT_MODIFIED, 0));
        let (s, h, b) = call(
            file.clone(),
            200,
            &[],
            Method::GET,
            &[("range", "bytes=10-19")],
        )
        .await;
        assert_eq!((s, &b[..]), (StatusCode::PARTIAL_CONTENT, &data[10..20]));
        assert_eq!(
            h[CONTENT_RANGE],
            format!("bytes 10-19/{}", data.len()).as_str()
        );
        // Another status or method: no conditionals, no range.
        let (s, _, b) = call(
            file.clone(),
            203,
            &[],
            Method::GET,
            &[("if-none-match", etag)],
        )
        .await;
        assert_eq!(
            (s, b.len()),
            (StatusCode::NON_AUTHORITATIVE_INFORMATION, data.len())
        );
        let (s, _, b) = call(
            file.clone(),
            200,
            &[],
            Method::POST,
            &[("range", "bytes=0-0")],
        )
        .await;
        assert_eq!((s, b.len()), (StatusCode::OK, data.len()));
        let (s, h, b) = call(file.clone(), 200, &[], Method::HEAD, &[]).await;
        assert_eq!((s, b.len()), (StatusCode::OK, 0));
        assert_eq!(h[CONTENT_LENGTH], data.len().to_string().as_str());

        // Merge: app headers replace, Vary appends, Content-Range dropped, type only with a body.
        let app = [
            ("content-type", "text/x"),
            ("etag", "\"mine\""),
            ("vary", "Origin"),
            ("content-range", "bytes 0-0/1"),
            ("x-a", "1"),
            ("x-a", "2"),
        ];
        std::fs::write(d.0.join("a.txt.gz"), b"gz-bytes").unwrap();
        let req = [("accept-encoding", "gzip"), ("range", "bytes=0-1")];
        let (s, h, b) = call(file.clone(), 200, &app, Method::GET, &req).await;
        assert_eq!((s, &b[..]), (StatusCode::PARTIAL_CONTENT, &b"gz"[..]));
        assert_eq!(h[CONTENT_ENCODING], "gzip");
        assert_eq!(h[CONTENT_RANGE], "bytes 0-1/8");
        assert_eq!(h[CONTENT_TYPE], "text/x");
        assert_eq!(h[ETAG], "\"mine\"");
        let vary: Vec<_> = h.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
        let xa: Vec<_> = h.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        let (s, h, _) = call(
            file.clone(),
            200,
            &app,
            Method::GET,
            &[("if-none-match", "*")],
        )
        .await;
        assert_eq!(s, StatusCode::NOT_MODIFIED);
        assert!(!h.contains_key(CONTENT_TYPE) && h["x-a"] == "1");
    }

    #[tokio::test]
    async fn not_a_regular_file_is_the_native_404_without_app_headers() {
        let d = dir("missing");
        for path in [d.0.join("nope"), d.0.join("sub"), d.0.join("nope/x")] {
            let (s, h, b) = call(path, 201, &[("x-a", "1")], Method::GET, &[]).await;
            assert_eq!((s, &b[..]), (StatusCode::NOT_FOUND, &b"Not Found"[..]));
            assert!(!h.contains_key("x-a"));
        }
    }

    /// A body that went out with sendfile(2) carries sentinel frames (never the file's bytes,
    /// they leave at write time); the FIFO then holds one job per frame.
    #[tokio::test]
    async fn sendfile_exactly_where_a_mount_would_use_it() {
        use crate::sendfile::SendfileJobs;
        use crate::stats::ServerStats;
        use std::sync::atomic::Ordering::Relaxed;

        let d = dir("sendfile");
        let limit = crate::static_files::MAX_CACHED_FILE_BYTES;
        let write = |name: &str, len: u64| {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            std::fs::write(d.0.join(name), &data).unwrap();
            (d.0.join(name), data)
        };
        let (at_limit, at_limit_data) = write("limit.bin", limit);
        let (above, above_data) = write("above.bin", limit + 1);
        let (big_sibling, _) = write("small.txt", 10);
        write("small.txt.gz", limit + 1);

        let stats = Arc::new(ServerStats::default());
        let jobs = Arc::new(SendfileJobs::new(Arc::clone(&stats)));
        let sent = || stats.static_sendfile_responses.load(Relaxed);
        let run = |statics: StaticConfig,
                   path: PathBuf,
                   status: u16,
                   method: Method,
                   req: &'static [(&'static str, &'static str)],
                   fifo: bool| {
            let jobs = Arc::clone(&jobs);
            async move {
                let reply = FileReply {
                    path,
                    status: StatusCode::from_u16(status).unwrap(),
                    headers: HeaderMap::new(),
                };
                let fifo = fifo.then_some(&jobs);
                let resp = serve_file(
                    &statics,
                    &GzipCache::default(),
                    reply,
                    &method,
                    &headers(req),
                    fifo,
                )
                .await;
                let status = resp.status();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                (status, body)
            }
        };
        let on = StaticConfig::default;

        // Above the cache limit: sendfile, whole or ranged, for any status or method.
        let (s, b) = run(on(), above.clone(), 200, Method::GET, &[], true).await;
        assert_eq!((s, b.len() as u64, sent()), (StatusCode::OK, limit + 1, 1));
        assert_eq!(jobs.len(), 1);
        jobs.clear();
        let range = &[("range", "bytes=5-1004")];
        let (s, b) = run(on(), above.clone(), 200, Method::GET, range, true).await;
        assert_eq!((s, b.len(), sent()), (StatusCode::PARTIAL_CONTENT, 1000, 2));
        jobs.clear();
        let (s, _) = run(on(), above.clone(), 201, Method::POST, &[], true).await;
        assert_eq!((s, sent()), (StatusCode::CREATED, 3));
        jobs.clear();
        // A sibling above the limit keeps a small file out of the cache: sendfile too.
        let gz = &[("accept-encoding", "gzip")];
        run(on(), big_sibling.clone(), 200, Method::GET, gz, true).await;
        assert_eq!(sent(), 4);
        jobs.clear();
        run(on(), big_sibling.clone(), 200, Method::GET, &[], true).await;
        assert_eq!(sent(), 5);
        jobs.clear();

        // No body, a file the cache would hold, or no FIFO: the read path, the file's bytes.
        let (s, b) = run(on(), above.clone(), 200, Method::HEAD, &[], true).await;
        assert_eq!((s, b.len()), (StatusCode::OK, 0));
        let (s, b) = run(on(), at_limit.clone(), 200, Method::GET, &[], true).await;
        assert_eq!((s, &b[..]), (StatusCode::OK, &at_limit_data[..]));
        let (s, b) = run(on(), above.clone(), 200, Method::GET, &[], false).await;
        assert_eq!((s, &b[..]), (StatusCode::OK, &above_data[..]));
        assert_eq!((sent(), jobs.len()), (5, 0));

        // With the cache off a mount sends every file by sendfile; so does a FileResponse.
        let off = StaticConfig::default().with_file_cache(crate::static_files::FileCacheLimits {
            capacity_bytes: 0,
            ..Default::default()
        });
        let (s, b) = run(off, at_limit, 200, Method::GET, &[], true).await;
        assert_eq!((s, b.len() as u64, sent()), (StatusCode::OK, limit, 6));
    }
}
