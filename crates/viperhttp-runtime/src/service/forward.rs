//! Forwarding a request to Python: read the body within its limits, write the request
//! record (`IpcMsg` + blob in the request ring, docs/internals/ipc.md
//! docs/internals/framework.md#routing), push it to the request queue (parking while the queue is
//! full), wait on the request's pending slot, and turn the first response frame into a hyper
//! response — whole, or with a [`IpcStreamBody`] that yields the frames still to come.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use std::os::unix::ffi::OsStrExt;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, Request, Response, StatusCode, Version};
use viperhttp_ipc::blob::{
    request_headers_len, request_headers_offset, response_headers, write_request_blob,
};
use viperhttp_ipc::message::proto;
use viperhttp_ipc::{flags, IpcError, IpcMsg, Method, MsgType};

use super::pipeline::RouteMatch;
use super::stream_body::IpcStreamBody;
use super::{closing, simple_response, wants_keep_alive, ConnInfo};
use crate::body::{RequestBody, ResponseBody};
use crate::pending::{Frame, FrameKind, Slot};
use crate::request_body::read_body;
use crate::server::Shared;
use crate::static_files;
use crate::stats::ServerStats;

/// The peer address as the IPC record carries it: IPv6 (IPv4-mapped) octets and port.
pub(crate) fn peer_fields(peer: &SocketAddr) -> ([u8; 16], u16) {
    let ip = match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    (ip.octets(), peer.port())
}

/// Abandons the request id ([`Pending::abandon`](crate::pending::Pending::abandon)) unless the
/// response completed.
pub(super) struct InFlight {
    pub(super) shared: Arc<Shared>,
    pub(super) id: u32,
    /// The response completed (or was refused): nothing to cancel.
    pub(super) done: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            let shared = &self.shared;
            shared.pending.abandon(self.id, &shared.ipc, &shared.stats);
        }
    }
}

/// The request ring has no room for a record: `503 Backpressure`, connection closed, counted,
/// reported (at most once per 10 s). Shared by HTTP requests and WebSocket handshakes.
pub(crate) fn ring_full(shared: &Shared) -> Response<ResponseBody> {
    ServerStats::bump(&shared.stats.ipc_req_ring_alloc_fail);
    ServerStats::bump(&shared.stats.backpressure_503_sent);
    crate::overload::RING_FULL.refused();
    closing(simple_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "Backpressure",
    ))
}

/// Hand `req` to Python and wait for its response (`503`/`504` when it cannot be had).
pub(super) async fn forward_to_python(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    method: Method,
    req: Request<RequestBody>,
    matched: &RouteMatch,
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
        &conn.guard,
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
    // One lock hold for allocate + copy + publish (docs/internals/ipc.md#one-lock-hold-per-record-decision).
    let fill = |dst: &mut [u8]| write_request_blob(dst, uri.as_bytes(), headers(), &body);
    let mut written = ipc.request_ring.write(total, fill);
    if matches!(written, Err(IpcError::RingFull)) {
        written = write_when_room(shared, total, &fill).await;
    }
    let offset = match written {
        Ok(offset) => offset,
        Err(IpcError::RingFull) => return ring_full(shared),
        // Unreachable by construction (hyper rejects NUL in headers); answer, don't panic.
        Err(_) => return closing(simple_response(StatusCode::BAD_REQUEST, "Bad Request")),
    };
    // The body now lives in the ring: its share of max_body_memory is free again.
    drop(reservation);

    let id = ipc.next_request_id();
    let (peer, tls) = crate::forwarded::peer_and_tls(conn, &parts.extensions);
    let (peer_ip, peer_port) = peer_fields(&peer);
    let mut version_bits = match parts.version {
        Version::HTTP_10 => proto::HTTP10,
        Version::HTTP_2 => proto::HTTP2,
        _ => proto::HTTP11,
    };
    if tls {
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
    let mut msg = IpcMsg {
        request_id: id,
        msg_type: MsgType::ReqHttp as u8,
        method: method as u8,
        uri_len: uri.len() as u16,
        query_len: query_len as u16,
        headers_len: headers_len as u16,
        headers_offset: request_headers_offset(offset, uri.len(), headers_len),
        body_len: body.len() as u32,
        buffer_offset: offset,
        flags: msg_flags,
        peer_ip,
        peer_port,
        proto: version_bits,
        ..IpcMsg::default()
    };
    if let Some(route_id) = matched.route_id {
        // More spans than a record holds (rare): Python routes that request itself.
        msg.set_route_match(route_id, matched.spans());
    }

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
    match first.kind {
        FrameKind::Abandoned => {
            // The interpreter is gone (docs/internals/bridge.md#start-and-stop).
            guard.done = true;
            closing(simple_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
            ))
        }
        FrameKind::TimedOut => {
            ServerStats::bump(&shared.stats.ipc_wait_timeouts);
            // guard cancels the id and forgets the slot
            closing(simple_response(
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
            ))
        }
        FrameKind::File => {
            // Terminal by construction: the slot is already forgotten.
            guard.done = true;
            file_reply(shared, conn, guard.id, first, &parts.method, &parts.headers).await
        }
        FrameKind::Data => build_response(shared, conn, first, slot, guard),
    }
}

/// A `RESP_FILE` record (docs/internals/ipc.md §2): the runtime serves the file the app
/// named, against this request's own method and headers (they never left this task,
/// docs/internals/static-files.md#fileresponse), with sendfile(2) where a static mount's body
/// would use it (`conn.sendfile`, docs/internals/static-files.md#sendfile). A bad record is the
/// app's 500, logged.
async fn file_reply(
    shared: &Shared,
    conn: &ConnInfo,
    id: u32,
    first: Frame,
    method: &http::Method,
    req_headers: &http::HeaderMap,
) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(first.status)
        .ok()
        .filter(|s| !s.is_informational());
    let path = viperhttp_ipc::blob::file_path(&first.body);
    let (Some(status), Ok(path)) = (status, path) else {
        tracing::error!(
            target: "viperhttp::ipc",
            id,
            status = first.status,
            "malformed FileResponse record (status or path); answered 500"
        );
        return simple_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let reply = static_files::FileReply {
        path: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(path)),
        status,
        headers: app_headers(&first.headers, id),
    };
    static_files::serve_file(
        &shared.config.static_files,
        &shared.gzip_cache,
        reply,
        method,
        req_headers,
        conn.sendfile.get(),
    )
    .await
}

/// Push to the request queue; when full, retry twice at once, then wait for
/// queue space up to `ipc_enqueue_retry_ms` (deferred push,
/// docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol), never blocking the event
/// loop. Gives up with `503 Queue Full`.
pub(crate) async fn push_request(
    shared: &Shared,
    msg: IpcMsg,
) -> Result<(), Response<ResponseBody>> {
    let ipc = &shared.ipc;
    let mut msg = msg;
    // While connections are parked, newcomers queue behind them (FIFO,
    // docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol decision).
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
    crate::overload::QUEUE_FULL.refused();
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

/// The request ring has no room for this record: wait for room up to `ipc_enqueue_retry_ms`
/// (host decision, docs/internals/ipc.md "A full request ring"; the original answered
/// `503 Backpressure` at once, which on a host refused uploads well inside the body limits
/// whenever a few arrived together). The interpreter frees a blob right after it pops its
/// record, so its pops (`queue_space`) wake the wait; the 5 ms cap covers the release that
/// follows a pop. A record larger than the whole ring, or a stop, gives up at once.
async fn write_when_room(
    shared: &Shared,
    total: usize,
    fill: &impl Fn(&mut [u8]) -> Result<(), IpcError>,
) -> Result<u32, IpcError> {
    let ring = &shared.ipc.request_ring;
    let retry = Duration::from_millis(shared.config.timeouts.ipc_enqueue_retry_ms);
    if retry.is_zero() || total > ring.capacity() {
        return Err(IpcError::RingFull);
    }
    let deadline = tokio::time::Instant::now() + retry;
    loop {
        if shared.stopping.load(Ordering::Relaxed) {
            return Err(IpcError::RingFull);
        }
        let notified = shared.queue_space.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        shared.ipc.requests.want_space_notification();
        match ring.write(total, fill) {
            Err(IpcError::RingFull) => {}
            done => return done,
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(IpcError::RingFull);
        }
        let step = now + Duration::from_millis(5);
        let _ = tokio::time::timeout_at(step.min(deadline), notified).await;
    }
}

/// Headers Python may not set: the runtime owns framing (docs/internals/ipc.md).
fn runtime_owned(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"connection")
        || name.eq_ignore_ascii_case(b"date")
}

/// The app's header block as a header map, in order, without the headers the runtime owns.
fn app_headers(block: &Bytes, id: u32) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for item in response_headers(block) {
        let Ok((name, value)) = item else {
            tracing::error!(target: "viperhttp::ipc", id, "malformed response header block");
            break;
        };
        if runtime_owned(name) {
            continue;
        }
        // The value is a slice of the frame's own buffer: no copy per header. Spaces around
        // it are not part of a field value (RFC 9110 §5.5); HTTP/2 peers built on nghttp2
        // refuse a value that starts or ends with one (RFC 9113 §8.2.1).
        let value = block.slice_ref(value.trim_ascii());
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(value),
        ) {
            headers.append(n, v);
        }
    }
    headers
}

/// The hyper response for the first frame of a Python response.
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
    *resp.headers_mut() = app_headers(&first.headers, guard.id);
    let is_stream = first.flags & flags::STREAM != 0;
    let terminal = first.is_terminal();
    if !is_stream || terminal {
        guard.done = true;
        if first.flags & flags::ABORT != 0 {
            // The producer failed before it sent a byte of body: nothing has reached the
            // client yet, so the honest answer is the app's 500, not an empty 200
            // (docs/internals/ipc.md, flags).
            tracing::error!(
                target: "viperhttp::ipc",
                id = guard.id,
                status = first.status,
                "the response was aborted in its first frame; answered 500"
            );
            return closing(simple_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ));
        }
        *resp.body_mut() = ResponseBody::full(first.body);
        return resp;
    }
    // Streamed: Content-Length from total_len unless chunked (docs/internals/ipc.md).
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
    let body = IpcStreamBody::new(conn.guard.clone(), first.body, slot, guard, remaining, idle);
    *resp.body_mut() = ResponseBody::stream(body);
    resp
}
