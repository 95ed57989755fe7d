//! One HTTP request through the runtime (`runtime.md` §5 order): method check →
//! native route lookup (404/405 without Python) → body (limits) → request ring +
//! queue → wait for the response frames → hyper response. Static files, CORS,
//! trusted host and rate limits slot in before the route lookup.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode, Version};
use http_body::Frame as BodyFrame;
use hyper::body::Incoming;
use viperhttp_ipc::blob::{request_headers_len, response_headers, write_request_blob};
use viperhttp_ipc::message::proto;
use viperhttp_ipc::{flags, IpcMsg, Method, MsgType};

use crate::body::{BodyError, ResponseBody};
use crate::cors::CorsOutcome;
use crate::head_guard::{ConnGuard, FinishOnEnd, Verdict};
use crate::pending::{Frame, Slot, ABANDONED, TIMED_OUT};
use crate::rate_limit::too_many_requests;
use crate::request_body::read_body;
use crate::router::Lookup;
use crate::server::Shared;
use crate::static_files;
use crate::stats::ServerStats;

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const KEEP_ALIVE: HeaderValue = HeaderValue::from_static("keep-alive");
const CLOSE: HeaderValue = HeaderValue::from_static("close");

/// Per-connection facts the service needs.
pub struct ConnInfo {
    /// Peer address.
    pub peer: SocketAddr,
    /// Requests served on this connection so far.
    pub requests: std::sync::atomic::AtomicUsize,
    /// Head guard state: one verdict per request, request lifecycle (`runtime.md` §4.1 item 11).
    pub guard: Arc<ConnGuard>,
    /// The connection is TLS (the app sees `https`).
    pub tls: bool,
}

/// A native text response (`runtime.md` §4.6): text/plain, body = `text`.
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
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    ServerStats::bump(&shared.stats.requests_started);
    // Head guard: pop this request's verdict (in order); the token marks the
    // end of the response (it rides in streamed bodies, below).
    conn.guard.request_started();
    let done = conn.guard.finish_on_drop();
    let verdict = conn.guard.next_verdict();
    let served = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    // Keep-alive is dropped near the connection limit (runtime.md §4.3: open
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
    let access =
        crate::log_forward::access_enabled().then(|| (req.method().clone(), req.uri().clone()));
    let source = SourceCell::new(Source::Simple);
    let mut resp = match verdict {
        // hyper got a synthetic head in place of the refused one (§4.1 items 10, 11).
        Some(Verdict::Reject { status, reason, .. }) => closing(simple_response(status, reason)),
        Some(Verdict::AsteriskOptions) => match untrusted_host(&shared, &req, &source) {
            Some(refused) => refused,
            None => asterisk_options(),
        },
        _ => route_request(&shared, &conn, req, &source).await,
    };
    // Checked after routing: the stop may have begun while the request was in Python (§9.1
    // step 2: responses in progress carry `close`); hyper would append `close` to a `keep-alive`.
    if resp.headers().get(CONNECTION).is_some_and(|v| v == CLOSE)
        || shared.stopping.load(Ordering::Relaxed)
    {
        keep_alive = false;
    }
    // Say `close` whenever hyper will close, so the header never lies (runtime.md §4.3):
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
    if is_head {
        // hyper writes no body for HEAD; keep the GET Content-Length (api.md §3.4).
        // hyper omits an implicit `Content-Length: 0` on HEAD (it cannot know the GET
        // length); we can, so an empty GET body gives `Content-Length: 0` here too.
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
    if let Some((method, uri)) = access {
        // runtime.md §8: `<source> <METHOD> <raw-uri> -> <status> keep=<0|1>`.
        tracing::info!(
            target: "viperhttp::access",
            "{} {} {} -> {} keep={}",
            source.get().as_str(),
            method,
            uri,
            resp.status().as_u16(),
            u8::from(keep_alive)
        );
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

/// Which part of the runtime answered (the access line's `<source>`, runtime.md §8).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Source {
    Ipc,
    Static,
    Simple,
    Cors,
    CorsPreflight,
    TrustedHost,
    RateLimit,
}

/// Where the response came from, set along the pipeline. An atomic (not a
/// `Cell`) so the borrowing future stays `Send`; relaxed, it never leaves the task.
struct SourceCell(std::sync::atomic::AtomicU8);

impl SourceCell {
    fn new(source: Source) -> Self {
        Self(std::sync::atomic::AtomicU8::new(source as u8))
    }

    fn set(&self, source: Source) {
        self.0.store(source as u8, Ordering::Relaxed);
    }

    fn get(&self) -> Source {
        const ALL: [Source; 7] = [
            Source::Ipc,
            Source::Static,
            Source::Simple,
            Source::Cors,
            Source::CorsPreflight,
            Source::TrustedHost,
            Source::RateLimit,
        ];
        ALL.get(usize::from(self.0.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(Source::Simple)
    }
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Ipc => "ipc",
            Source::Static => "static",
            Source::Simple => "simple",
            Source::Cors => "cors",
            Source::CorsPreflight => "cors-preflight",
            Source::TrustedHost => "trusted-host",
            Source::RateLimit => "rate-limit",
        }
    }
}

/// `Expect: 100-continue` with a body announced: hyper sends the `100` only when
/// the body is first read, and closes the connection if it never is.
fn expects_continue(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
        && !http_body::Body::is_end_stream(req.body())
}

/// Status-line reason phrases (runtime.md §4.6, host decision): the IANA phrase
/// for every registered code, an empty phrase for unknown codes. hyper writes
/// the `http` crate's canonical reason, which is IANA's except for 203's missing
/// hyphen, and `<none>` for codes it does not know; both are corrected here.
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

/// `OPTIONS *` (§4.1 item 11): answered natively, never a preflight, never Python.
fn asterisk_options() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(
        ALLOW,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"),
    );
    resp
}

/// RFC 9112 §3.2.2: with an absolute-form target (`GET http://a.example/ HTTP/1.1`) the
/// server ignores `Host` and uses the target's authority. It becomes the `Host` header
/// here, once, so the trusted-host check, CORS and the app all see the same authority
/// (docs/internals/http.md, "Absolute-form targets"). The head guard already refused userinfo and
/// any scheme but http/https; the scheme of the target is never reported to the app (the
/// connection decides it). The path handed on is the origin-form path and query.
fn adopt_target_authority(req: &mut Request<Incoming>) {
    let Some(authority) = req.uri().authority() else {
        return;
    };
    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
        req.headers_mut().insert(http::header::HOST, host);
    }
}

/// Trusted host (docs/internals/cors-hosts-ratelimit.md): `400 Invalid Host` when the `Host` the app
/// would see is not allowed. Before CORS, so the reject carries no CORS headers.
fn untrusted_host(
    shared: &Shared,
    req: &Request<Incoming>,
    source: &SourceCell,
) -> Option<Response<ResponseBody>> {
    let hosts = shared.config.trusted_hosts.as_ref()?;
    let host = req.headers().get(http::header::HOST).map(|v| v.as_bytes());
    if hosts.allows(host) {
        return None;
    }
    source.set(Source::TrustedHost);
    ServerStats::bump(&shared.stats.trusted_host_rejected);
    Some(simple_response(StatusCode::BAD_REQUEST, "Invalid Host"))
}

async fn route_request(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    mut req: Request<Incoming>,
    source: &SourceCell,
) -> Response<ResponseBody> {
    let Some(method) = Method::from_bytes(req.method().as_str().as_bytes()) else {
        // Unknown method: 405 without Allow, keep-alive kept (runtime.md §4.2).
        return simple_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    };
    adopt_target_authority(&mut req);
    if let Some(refused) = untrusted_host(shared, &req, source) {
        return refused;
    }
    // CORS (§7.1): preflights answered here; otherwise remember the headers to add.
    let cors = match &shared.config.cors {
        None => None,
        Some(cfg) => match cfg.evaluate(req.method(), req.headers()) {
            CorsOutcome::NotCors => None,
            CorsOutcome::Preflight(resp) => {
                if resp.status() == StatusCode::FORBIDDEN {
                    source.set(Source::Cors);
                    ServerStats::bump(&shared.stats.cors_forbidden);
                } else {
                    source.set(Source::CorsPreflight);
                    ServerStats::bump(&shared.stats.cors_preflight);
                }
                return resp;
            }
            CorsOutcome::Simple(headers) => headers,
        },
    };
    let mut resp = route_checked(shared, conn, method, req, source).await;
    if let Some(cors) = cors {
        cors.apply(resp.headers_mut());
    }
    resp
}

async fn route_checked(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    method: Method,
    req: Request<Incoming>,
    source: &SourceCell,
) -> Response<ResponseBody> {
    // Rate limit (§7.3): every request past parsing, trusted host and CORS.
    let verdict = if let Some(store) = &shared.shared_limiter {
        store.check(conn.peer.ip(), &shared.stats).await
    } else if let Some(limiter) = &shared.rate_limiter {
        limiter.check(conn.peer.ip(), std::time::Instant::now())
    } else {
        Ok(())
    };
    if let Err(retry_after) = verdict {
        source.set(Source::RateLimit);
        ServerStats::bump(&shared.stats.ratelimit_rejected);
        return too_many_requests(retry_after);
    }
    // WebSocket upgrades (docs/internals/websocket.md) after the guards above, before static mounts.
    if crate::ws::handshake::is_upgrade(&req) {
        source.set(Source::Ipc);
        return crate::ws::handshake::handshake(shared, conn, req).await;
    }
    // Static mounts (§6) before Python routes; served natively, never via Python.
    let statics = &shared.config.static_files;
    if !statics.is_empty() {
        let target = statics.resolve(req.uri().path(), req.uri().query());
        if target.is_static() {
            source.set(Source::Static);
            let resp = static_files::serve(
                statics,
                &shared.gzip_cache,
                target,
                req.method(),
                req.headers(),
            )
            .await;
            match resp.status() {
                StatusCode::OK | StatusCode::PARTIAL_CONTENT => {
                    ServerStats::bump(&shared.stats.static_served)
                }
                StatusCode::NOT_MODIFIED => ServerStats::bump(&shared.stats.static_not_modified),
                _ => {}
            }
            return resp;
        }
    }
    let path = req.uri().path();
    if !shared.python_middleware.load(Ordering::Relaxed) {
        match shared.routes.snapshot().lookup(method, path.as_bytes()) {
            Lookup::NotFound => return simple_response(StatusCode::NOT_FOUND, "Not Found"),
            Lookup::MethodNotAllowed { allow } => {
                let mut resp =
                    simple_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                if let Ok(v) = HeaderValue::from_str(allow) {
                    resp.headers_mut().insert(ALLOW, v);
                }
                return resp;
            }
            Lookup::Found { .. } => {}
        }
    }
    source.set(Source::Ipc);
    forward_to_python(shared, conn, method, req).await
}

pub(crate) fn peer_fields(peer: &SocketAddr) -> ([u8; 16], u16) {
    let ip = match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    (ip.octets(), peer.port())
}

/// Cancels the request id and forgets its slot unless the response completed.
struct InFlight {
    shared: Arc<Shared>,
    id: u32,
    done: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.shared.ipc.cancel(self.id);
            self.shared.pending.remove(self.id, &self.shared.stats);
        }
    }
}

async fn forward_to_python(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    method: Method,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let (body, reservation) = match read_body(
        &shared.config,
        &shared.body_budget,
        &shared.stats,
        body,
        declared,
    )
    .await
    {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let uri = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let query_len = parts.uri.query().map(str::len).unwrap_or(0);
    let headers = || {
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
    };
    let headers_len = request_headers_len(headers());
    let total = uri.len() + headers_len + body.len();
    if uri.len() > u16::MAX as usize || headers_len > u16::MAX as usize || total > u32::MAX as usize
    {
        return closing(simple_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        ));
    }

    let ipc = &shared.ipc;
    let offset = match ipc.request_ring.alloc(total) {
        Ok(mut grant) => {
            if write_request_blob(grant.as_mut_slice(), uri.as_bytes(), headers(), &body).is_err() {
                // Unreachable by construction (hyper rejects NUL in headers); answer, don't panic.
                return closing(simple_response(StatusCode::BAD_REQUEST, "Bad Request"));
            }
            let offset = grant.publish();
            // The body now lives in the ring: its share of max_body_memory is free again.
            drop(reservation);
            offset
        }
        Err(_) => {
            ServerStats::bump(&shared.stats.ipc_req_ring_alloc_fail);
            ServerStats::bump(&shared.stats.backpressure_503_sent);
            return closing(simple_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Backpressure",
            ));
        }
    };

    let id = ipc.next_request_id();
    let (peer_ip, peer_port) = peer_fields(&conn.peer);
    let mut version_bits = match parts.version {
        Version::HTTP_10 => proto::HTTP10,
        Version::HTTP_2 => proto::HTTP2,
        _ => proto::HTTP11,
    };
    if conn.tls {
        version_bits |= proto::TLS;
    }
    let mut msg_flags = 0u8;
    if wants_keep_alive(&parts.headers, parts.version) {
        msg_flags |= flags::KEEPALIVE;
    }
    if parts
        .headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .any(|v| {
            v.as_bytes()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"gzip"))
        })
    {
        msg_flags |= flags::GZIP_OK;
    }
    let msg = IpcMsg {
        request_id: id,
        msg_type: MsgType::ReqHttp as u8,
        method: method as u8,
        uri_len: uri.len() as u16,
        query_len: query_len as u16,
        headers_len: headers_len as u16,
        headers_offset: if headers_len > 0 {
            offset + uri.len() as u32
        } else {
            0
        },
        body_len: body.len() as u32,
        buffer_offset: offset,
        flags: msg_flags,
        peer_ip,
        peer_port,
        proto: version_bits,
        ..IpcMsg::default()
    };

    let slot = shared.pending.register(id, &shared.stats);
    let mut guard = InFlight {
        shared: shared.clone(),
        id,
        done: false,
    };
    if let Err(resp) = push_request(shared, msg).await {
        ipc.request_ring.release(offset);
        guard.done = true;
        shared.pending.remove(id, &shared.stats);
        return resp;
    }

    // response_timeout_ms is enforced by the pending-map sweeper (no timer per request).
    let first = slot.next().await;
    if first.flags & ABANDONED != 0 {
        // The interpreter is gone (runtime.md §9.4).
        guard.done = true;
        return closing(simple_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
        ));
    }
    if first.flags & TIMED_OUT != 0 {
        ServerStats::bump(&shared.stats.ipc_wait_timeouts);
        // guard cancels the id and forgets the slot
        return closing(simple_response(
            StatusCode::GATEWAY_TIMEOUT,
            "Gateway Timeout",
        ));
    }
    build_response(shared, conn, first, slot, guard)
}

/// Push to the request queue; when full, retry twice at once, then wait for
/// queue space up to `ipc_enqueue_retry_ms` (deferred push, `runtime.md` §2.7),
/// never blocking the event loop. Gives up with `503 Queue Full`.
pub(crate) async fn push_request(
    shared: &Shared,
    msg: IpcMsg,
) -> Result<(), Response<ResponseBody>> {
    let ipc = &shared.ipc;
    let mut msg = msg;
    // While connections are parked, newcomers queue behind them (FIFO, §2.7 decision).
    if shared.parked.load(Ordering::Acquire) == 0 {
        for _ in 0..3 {
            match ipc.requests.push(msg) {
                Ok(()) => return Ok(()),
                Err(back) => msg = back,
            }
        }
    }
    let retry = Duration::from_millis(shared.config.timeouts.ipc_enqueue_retry_ms);
    if !retry.is_zero() {
        let deadline = tokio::time::Instant::now() + retry;
        shared.parked.fetch_add(1, Ordering::AcqRel);
        let parked = Parked(&shared.parked); // un-counted even if the client leaves meanwhile
        let pushed = park_until_pushed(shared, &mut msg, deadline).await;
        drop(parked);
        if pushed {
            return Ok(());
        }
    }
    ipc.counters
        .dropped_requests
        .fetch_add(1, Ordering::Relaxed);
    ServerStats::bump(&shared.stats.ipc_req_queue_push_fail);
    ServerStats::bump(&shared.stats.backpressure_503_sent);
    Err(closing(simple_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "Queue Full",
    )))
}

struct Parked<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Parked connections take turns through a fair (FIFO) lock: the holder waits for
/// queue space (woken by the interpreter's pops), bounded by its own deadline.
async fn park_until_pushed(
    shared: &Shared,
    msg: &mut IpcMsg,
    deadline: tokio::time::Instant,
) -> bool {
    let Ok(_turn) = tokio::time::timeout_at(deadline, shared.park_gate.lock()).await else {
        return false;
    };
    let ipc = &shared.ipc;
    loop {
        let notified = shared.queue_space.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        ipc.requests.want_space_notification();
        match ipc.requests.push(*msg) {
            Ok(()) => return true,
            Err(back) => *msg = back,
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        // The space hook wakes us; the 5 ms cap covers a missed edge.
        let step = tokio::time::Instant::now() + Duration::from_millis(5);
        let _ = tokio::time::timeout_at(step.min(deadline), notified).await;
    }
}

/// Headers Python may not set: the runtime owns framing (`runtime.md` §2.9).
fn runtime_owned(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"connection")
        || name.eq_ignore_ascii_case(b"date")
}

fn build_response(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    first: Frame,
    slot: Arc<Slot>,
    mut guard: InFlight,
) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_informational() {
        // HTTP/1.1 has no final 1xx response (RFC 9110 §15.2); hyper would turn it into
        // a bare 500 silently. Say why in the log and send the usual 500 text.
        tracing::error!(
            target: "viperhttp::ipc",
            id = guard.id,
            status = first.status,
            "a 1xx status cannot be a final response; answered 500"
        );
        // A stream still open is cancelled when the guard drops (done stays false).
        guard.done = first.flags & flags::STREAM == 0 || first.is_terminal();
        return simple_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    let mut resp = Response::new(ResponseBody::empty());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    for item in response_headers(&first.headers) {
        let Ok((name, value)) = item else {
            tracing::error!(target: "viperhttp::ipc", id = guard.id, "malformed response header block");
            break;
        };
        if runtime_owned(name) {
            continue;
        }
        // The value is a slice of the frame's own buffer: no copy per header.
        let value = first.headers.slice_ref(value);
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(value),
        ) {
            headers.append(n, v);
        }
    }
    let is_stream = first.flags & flags::STREAM != 0;
    let terminal = first.is_terminal();
    if !is_stream || terminal {
        guard.done = true;
        if first.flags & flags::ABORT != 0 {
            return closing(resp);
        }
        *resp.body_mut() = ResponseBody::full(first.body);
        return resp;
    }
    // Streamed: Content-Length from total_len unless chunked (runtime.md §2.9).
    let chunked = first.flags & flags::CHUNKED != 0 || first.total_len == 0;
    let remaining = if chunked {
        None
    } else {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(first.total_len));
        Some(u64::from(first.total_len))
    };
    let idle = match shared.config.timeouts.stream_idle_timeout_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let body = IpcStreamBody {
        cut: Cut::No,
        conn: conn.guard.clone(),
        pending_first: if first.body.is_empty() {
            None
        } else {
            Some(first.body)
        },
        slot,
        guard: Some(guard),
        remaining,
        idle,
        sleep: None,
    };
    *resp.body_mut() = ResponseBody::stream(body);
    resp
}

/// How a streamed body ends early. The error that makes hyper close the
/// connection is returned only after hyper had a chance to flush the bytes it
/// already holds (else the client loses data the producer did send).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    No,
    /// Data was just handed over: yield once (hyper flushes), then fail.
    AfterFlush,
    /// Fail on this poll.
    Now,
}

/// Body of a streamed IPC response: yields frames as the dispatcher delivers
/// them. Dropped early (client gone) → the guard cancels the id.
struct IpcStreamBody {
    cut: Cut,
    /// The connection, to close it after a response cut at `total_len`.
    conn: Arc<ConnGuard>,
    pending_first: Option<Bytes>,
    slot: Arc<Slot>,
    guard: Option<InFlight>,
    remaining: Option<u64>,
    idle: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl IpcStreamBody {
    fn emit(&mut self, mut data: Bytes) -> Result<Bytes, BodyError> {
        if let Some(rem) = self.remaining.as_mut() {
            if data.len() as u64 > *rem {
                // More than total_len: write exactly total_len bytes, then close (§2.9).
                tracing::error!(target: "viperhttp::ipc", "stream body longer than total_len; truncated, closing the connection");
                data.truncate(*rem as usize);
                // hyper's framing ends with these bytes; the connection must not carry another
                // response after a producer that disagreed with its own total_len.
                self.conn.close_after_flush();
            }
            *rem -= data.len() as u64;
        }
        if let Some(g) = &self.guard {
            ServerStats::bump(&g.shared.stats.stream_chunks_sent);
        }
        Ok(data)
    }
}

impl http_body::Body for IpcStreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match this.cut {
            Cut::No => {}
            Cut::AfterFlush => {
                this.cut = Cut::Now;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Cut::Now => {
                return Poll::Ready(Some(Err(std::io::Error::other(
                    "stream cut short (producer error or fewer bytes than total_len)",
                ))));
            }
        }
        if let Some(first) = this.pending_first.take() {
            return Poll::Ready(Some(this.emit(first).map(BodyFrame::data)));
        }
        if this.guard.is_none() {
            return Poll::Ready(None);
        }
        match this.slot.poll_next(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                let terminal = frame.is_terminal();
                if frame.flags & flags::ABORT != 0 {
                    // Producer failed: cut the response (no terminator) and close —
                    // in two steps, so hyper first flushes the bytes it buffered.
                    if let Some(mut g) = this.guard.take() {
                        g.done = true;
                    }
                    this.cut = Cut::Now;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if terminal {
                    if let Some(mut g) = this.guard.take() {
                        g.done = true;
                    }
                    if this.remaining.is_some_and(|r| r > frame.body.len() as u64) {
                        // runtime.md §2.9: log and close; the client gets every byte
                        // produced (a short body), then the close.
                        tracing::error!(target: "viperhttp::ipc", "stream ended short of total_len; closing");
                        if frame.body.is_empty() {
                            this.cut = Cut::Now;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        this.cut = Cut::AfterFlush;
                    }
                }
                if frame.body.is_empty() {
                    if terminal {
                        return Poll::Ready(None);
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(this.emit(frame.body).map(BodyFrame::data)))
            }
            Poll::Pending => {
                if let Some(idle) = this.idle {
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(std::io::Error::other(
                            "stream idle timeout",
                        ))));
                    }
                }
                Poll::Pending
            }
        }
    }
}
