//! The hyper service: one HTTP request through the runtime, entry to response
//! (docs/internals/architecture.md, "The request path"). This module takes the head
//! guard's verdict, runs the pipeline and finishes every response the same way
//! (`Connection`, `Server`, the HEAD length, the reason phrase, the access line).
//!
//! - [`pipeline`]: trusted host, CORS, rate limit, static files and the native
//!   route lookup — everything answered without Python;
//! - [`forward`]: the request record for Python, the push to the queue and the
//!   response built from its frames;
//! - [`stream_body`]: the body of a streamed response;
//! - [`access`]: the access line and the part of the runtime that answered.

mod access;
mod forward;
mod pipeline;
mod stream_body;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode, Version};

use crate::body::{RequestBody, ResponseBody};
use crate::head_guard::{ConnGuard, FinishOnEnd, Verdict};
use crate::server::Shared;
use crate::stats::ServerStats;
pub(crate) use access::log_refused_stream;
use access::{RequestLine, Source, SourceCell};
pub(crate) use forward::{peer_fields, push_request, ring_full};
use pipeline::{asterisk_options, route_request, untrusted_host};

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const KEEP_ALIVE: HeaderValue = HeaderValue::from_static("keep-alive");
const CLOSE: HeaderValue = HeaderValue::from_static("close");

/// Per-connection facts the service needs.
pub struct ConnInfo {
    /// Peer address.
    pub peer: SocketAddr,
    /// Requests served on this connection so far.
    pub requests: std::sync::atomic::AtomicUsize,
    /// Head guard state: one verdict per request, request lifecycle (docs/internals/http.md).
    pub guard: Arc<ConnGuard>,
    /// The connection is TLS (the app sees `https`).
    pub tls: bool,
    /// Set for plain-TCP HTTP/1 connections: static bodies go out with sendfile(2)
    /// (docs/internals/static-files.md#sendfile).
    pub sendfile: std::sync::OnceLock<Arc<crate::sendfile::SendfileJobs>>,
    /// Set by a WebSocket handshake answered `101`: where the connection loop sends the
    /// connection's IO once hyper has written the `101` and let go of it (`crate::http1`).
    pub upgrade: parking_lot::Mutex<Option<UpgradeTx>>,
}

/// An upgraded connection's IO, handed from the HTTP/1 connection loop to its new owner.
pub type UpgradedIo = Box<dyn UpgradeIo>;

/// The sending half of an upgrade hand-over.
pub type UpgradeTx = tokio::sync::oneshot::Sender<UpgradedIo>;

/// What an upgraded connection's IO can do (TCP or TLS, behind the head guard).
pub trait UpgradeIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> UpgradeIo for T {}

impl ConnInfo {
    /// The hand-over a `101` response asked for, if any.
    pub(crate) fn take_upgrade(&self) -> Option<UpgradeTx> {
        self.upgrade.lock().take()
    }
}

/// A native text response (docs/internals/http.md#responses-written-by-the-runtime): text/plain,
/// body = `text`.
pub fn simple_response(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    resp
}

/// `resp` with `Connection: close`.
pub(crate) fn closing(mut resp: Response<ResponseBody>) -> Response<ResponseBody> {
    resp.headers_mut().insert(CONNECTION, CLOSE);
    resp
}

/// Whether the client asked to keep the connection open after this request.
fn wants_keep_alive(headers: &http::HeaderMap, version: Version) -> bool {
    // Case-insensitive token search without lower-casing (no allocation per request).
    let has = |token: &[u8]| {
        headers.get_all(CONNECTION).iter().any(|v| {
            v.as_bytes()
                .windows(token.len())
                .any(|w| w.eq_ignore_ascii_case(token))
        })
    };
    match version {
        Version::HTTP_10 => has(b"keep-alive"),
        _ => !has(b"close"),
    }
}

/// The hyper service entry point: never fails; every request gets one response.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<RequestBody>,
) -> Result<Response<ResponseBody>, Infallible> {
    ServerStats::bump(&shared.stats.requests_started);
    // Head guard: pop this request's verdict (in order); the token marks the
    // end of the response (it rides in streamed bodies, below).
    conn.guard.request_started();
    let done = conn.guard.finish_on_drop();
    let verdict = conn.guard.next_verdict();
    let served = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    // Keep-alive is dropped near the connection limit (docs/internals/http.md: open
    // connections ≥ 90 % of max_connections) so waiting clients get a turn.
    let open = shared.stats.connections_open.load(Ordering::Relaxed) as usize;
    let crowded = open * 10 >= shared.config.limits.max_connections * 9;
    let mut keep_alive = wants_keep_alive(req.headers(), req.version())
        && served < shared.config.limits.max_keepalive_requests
        && shared.config.timeouts.keepalive_timeout_ms > 0
        && !crowded;
    let is_head = req.method() == http::Method::HEAD;
    let is_http10 = req.version() == Version::HTTP_10;
    let expects_continue = expects_continue(&req);
    // The access line needs the request line; copied only while someone listens.
    let access = crate::log_forward::access_enabled().then(|| match &verdict {
        // hyper saw the synthetic head: the line is what the guard read of the real one.
        Some(Verdict::Reject { seen, .. }) => RequestLine::Refused(seen.clone()),
        _ => RequestLine::Parsed(req.method().clone(), req.uri().clone()),
    });
    let source = SourceCell::new(Source::Simple);
    let mut resp = match verdict {
        // hyper got a synthetic head in place of the refused one (docs/internals/http.md, 11).
        Some(Verdict::Reject { status, reason, .. }) => closing(simple_response(status, reason)),
        Some(Verdict::AsteriskOptions) => match untrusted_host(&shared, &req, &source) {
            Some(refused) => refused,
            None => asterisk_options(),
        },
        // The same `OPTIONS *` over HTTP/2 (`:path *`, RFC 9113 §8.3.1), where no head guard
        // reads the request line.
        None if req.version() == Version::HTTP_2
            && req.method() == http::Method::OPTIONS
            && req.uri().path() == "*" =>
        {
            match untrusted_host(&shared, &req, &source) {
                Some(refused) => refused,
                None => asterisk_options(),
            }
        }
        _ => route_request(&shared, &conn, req, &source).await,
    };
    // Checked after routing: the stop may have begun while the request was in Python
    // (docs/internals/bridge.md#start-and-stop step 2: responses in progress carry `close`); hyper
    // would append `close` to a `keep-alive`.
    if resp.headers().get(CONNECTION).is_some_and(|v| v == CLOSE)
        || shared.stopping.load(Ordering::Relaxed)
    {
        keep_alive = false;
    }
    // Say `close` whenever hyper will close, so the header never lies (docs/internals/http.md):
    // - an HTTP/1.0 body of unknown length is delimited by the close itself;
    // - a request that asked for `100-continue` and was answered without its body being
    //   read: hyper cannot tell whether the body will still come, so it closes.
    if is_http10
        && !resp.headers().contains_key(CONTENT_LENGTH)
        && http_body::Body::size_hint(resp.body()).exact().is_none()
    {
        keep_alive = false;
    }
    // Only the IPC path reads a request body; its refusals (413, 408, …) already say close.
    if expects_continue && source.get() != Source::Ipc {
        keep_alive = false;
    }
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        resp.headers_mut()
            .insert(CONNECTION, if keep_alive { KEEP_ALIVE } else { CLOSE });
    }
    if is_http10 {
        // Answer in the client's version ourselves: hyper's 1.0 fix-up then honours our
        // `close` (with a 1.1 head it would append `keep-alive` to it).
        *resp.version_mut() = Version::HTTP_10;
    }
    if let Some(server) = &shared.server_header {
        resp.headers_mut()
            .insert(http::header::SERVER, server.clone());
    }
    let status = resp.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::RESET_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        // These answers have no content (RFC 9110 §15.3.5, §15.3.6, §15.4.5) even when the app
        // gave some, over every protocol: hyper's HTTP/1.1 writer dropped it for 204 and 304
        // only, its HTTP/2 one sent it (curl and nghttp2 refuse such a stream as malformed).
        *resp.body_mut() = ResponseBody::empty();
        resp.headers_mut().remove(CONTENT_LENGTH);
    }
    if is_head {
        // hyper writes no body for HEAD; keep the GET Content-Length
        // (docs/internals/framework.md#routing). hyper omits an implicit `Content-Length: 0` on
        // HEAD (it cannot know the GET length); we can, so an empty GET body gives `Content-Length:
        // 0` here too.
        let status = resp.status();
        let may_have_length = !status.is_informational()
            && status != StatusCode::NO_CONTENT
            && status != StatusCode::NOT_MODIFIED;
        if let Some(len) = http_body::Body::size_hint(resp.body()).exact() {
            if !resp.headers().contains_key(CONTENT_LENGTH) && (len > 0 || may_have_length) {
                resp.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(len));
            }
        }
    }
    set_reason_phrase(&mut resp);
    if let Some(line) = access {
        access::log(source.get(), &line, resp.status(), keep_alive);
    }
    ServerStats::bump(&shared.stats.requests_handled);
    // A streamed response is over when its body ends; the others when hyper has them.
    let resp = match resp.body() {
        ResponseBody::Stream(_) => resp.map(|b| ResponseBody::stream(FinishOnEnd::new(b, done))),
        _ => {
            drop(done);
            resp
        }
    };
    Ok(resp)
}

/// `Expect: 100-continue` with a body announced: hyper sends the `100` only when
/// the body is first read, and closes the connection if it never is.
fn expects_continue(req: &Request<RequestBody>) -> bool {
    req.headers()
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
        && !http_body::Body::is_end_stream(req.body())
}

/// Status-line reason phrases (docs/internals/http.md#responses-written-by-the-runtime, host
/// decision): the IANA phrase for every registered code, an empty phrase for unknown codes. hyper
/// writes the `http` crate's canonical reason, which is IANA's except for 203's missing hyphen, and
/// `<none>` for codes it does not know; both are corrected here.
fn set_reason_phrase(resp: &mut Response<ResponseBody>) {
    let status = resp.status();
    let phrase: &'static [u8] = match status.canonical_reason() {
        Some(_) if status != StatusCode::NON_AUTHORITATIVE_INFORMATION => return,
        Some(_) => b"Non-Authoritative Information",
        None => b"",
    };
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(phrase));
}
