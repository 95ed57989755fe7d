//! HTTP/2 connections (docs/internals/tls-http2.md): hyper's h2 server with the
//! project's settings, the per-stream checks the HTTP/1 head guard makes for
//! HTTP/1 (URI length, header count and size), and a per-connection watchdog
//! for the idle timeout, slow readers and the stop sequence.
//!
//! Every stream goes through the same service as an HTTP/1.1 request
//! ([`crate::service::handle`]), so routing, static files, CORS, limits and
//! the IPC hand-off are shared; this module only adds what is specific to a
//! multiplexed connection:
//!
//! - Rapid reset (CVE-2023-44487): a stream's service yields once before it
//!   does any work, so a stream whose RST_STREAM arrived in the same read as
//!   its HEADERS is dropped by hyper before anything reaches Python; h2 itself
//!   answers a flood of such streams with GOAWAY ENHANCE_YOUR_CALM.
//! - Header-block floods (CONTINUATION, HPACK bombs) are bounded by
//!   `SETTINGS_MAX_HEADER_LIST_SIZE` from `max_header_size`/`max_headers`.
//! - Slow readers: a connection with a response in progress and no byte
//!   written for `send_timeout_ms` is closed; a connection with no stream
//!   started for `http2_idle_timeout_ms` (or none in progress while the server
//!   is near `max_connections`) gets GOAWAY and is closed if it still holds
//!   streams after a grace period.

pub mod sniff;
pub mod upgrade;

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{CONNECTION, HOST};
use http::{Request, Response, StatusCode};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::body::{BodyError, RequestBody, ResponseBody};
use crate::config::RuntimeConfig;
use crate::server::Shared;
use crate::service::{handle, log_refused_stream, simple_response, ConnInfo};
use crate::stats::ServerStats;

/// Largest frame payload we accept (RFC 9113 default; larger → FRAME_SIZE_ERROR).
const MAX_FRAME_SIZE: u32 = 16_384;
/// HPACK dynamic table size we allow the client's encoder.
const HEADER_TABLE_SIZE: u32 = 4096;
/// Response bytes h2 buffers per stream beyond what the client's window lets out. hyper's
/// default, 400 KiB, let a client that opens large windows and never reads hold ~440 KiB per
/// stream (480 such streams: 210 MB); HTTP/1.1 holds a socket buffer's worth.
const MAX_SEND_BUF: usize = 64 * 1024;
/// After GOAWAY for idleness, streams still open get this long before the
/// connection is cut.
const IDLE_GRACE: Duration = Duration::from_secs(5);

/// HTTP/2 server settings of one running server.
#[derive(Clone)]
pub struct H2Server {
    builder: http2::Builder<TokioExecutor>,
    idle: Option<Duration>,
    send: Option<Duration>,
}

impl std::fmt::Debug for H2Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Server")
            .field("idle", &self.idle)
            .field("send", &self.send)
            .finish()
    }
}

/// `SETTINGS_MAX_HEADER_LIST_SIZE`: the header bytes `max_header_size` allows,
/// plus h2's 32-byte per-field overhead for `max_headers` fields and the
/// pseudo-headers (the URI up to `max_uri_len`).
fn max_header_list_size(config: &RuntimeConfig) -> u32 {
    let l = &config.limits;
    let fields = l.max_headers.saturating_add(4);
    let total = l
        .max_header_size
        .saturating_add(fields.saturating_mul(32))
        .saturating_add(l.max_uri_len)
        .saturating_add(64);
    u32::try_from(total).unwrap_or(u32::MAX)
}

impl H2Server {
    /// Settings from the runtime configuration.
    pub fn new(config: &RuntimeConfig) -> Self {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        let streams = if config.http2.http2_max_streams == 0 {
            crate::config::DEFAULT_HTTP2_MAX_STREAMS
        } else {
            config.http2.http2_max_streams
        };
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(streams)
            .max_frame_size(MAX_FRAME_SIZE)
            .header_table_size(HEADER_TABLE_SIZE)
            .max_header_list_size(max_header_list_size(config))
            .max_send_buf_size(MAX_SEND_BUF);
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        H2Server {
            builder,
            idle: ms(config.http2.http2_idle_timeout_ms),
            send: ms(config.timeouts.send_timeout_ms),
        }
    }

    /// Serve one HTTP/2 connection until it ends, the watchdog closes it, or
    /// the server stops (`stop` changes: GOAWAY, in-flight streams finish).
    pub async fn serve<IO>(
        &self,
        shared: Arc<Shared>,
        conn: Arc<ConnInfo>,
        io: IO,
        mut stop: watch::Receiver<bool>,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        ServerStats::bump(&shared.stats.http2_preface_seen);
        let activity = Arc::new(Activity::default());
        let io = Counted {
            inner: io,
            activity: activity.clone(),
        };
        let s = shared.clone();
        let c = conn.clone();
        let a = activity.clone();
        // Boxed: hyper spawns one task per stream and moves the future into it; the request
        // pipeline's future is large, and moving it inline cost more than one allocation.
        let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
            Box::pin(stream_request(
                s.clone(),
                c.clone(),
                a.clone(),
                req.map(RequestBody::http2),
            ))
        });
        let connection = self.builder.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(connection);

        let tick = [self.idle, self.send]
            .into_iter()
            .flatten()
            .min()
            .map(|d| (d / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(1));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_started = conn.guard.requests_started();
        let mut last_written = activity.written.load(Ordering::Relaxed);
        let mut moved_at = Instant::now();
        let mut wrote_at = Instant::now();
        let mut goaway_at: Option<Instant> = None;
        let mut stopping = *stop.borrow();
        if stopping {
            connection.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                end = connection.as_mut() => {
                    if let Err(e) = end {
                        record_error(&shared.stats, &e);
                    }
                    return;
                }
                changed = stop.changed(), if !stopping => {
                    stopping = true;
                    if changed.is_ok() {
                        ServerStats::bump(&shared.stats.http2_goaway_sent);
                        connection.as_mut().graceful_shutdown();
                    }
                }
                _ = ticker.tick() => {
                    let now = Instant::now();
                    let written = activity.written.load(Ordering::Relaxed);
                    if written != last_written {
                        last_written = written;
                        wrote_at = now;
                    }
                    let responding = activity.open_bodies.load(Ordering::Relaxed) > 0;
                    if let Some(send) = self.send {
                        if responding && now.duration_since(wrote_at) >= send {
                            ServerStats::bump(&shared.stats.http2_stall_closed);
                            tracing::info!(target: "viperhttp::http2", peer = %conn.peer, "no response bytes accepted for send_timeout_ms; connection closed");
                            return;
                        }
                    }
                    if let Some(at) = goaway_at {
                        if now >= at {
                            return;
                        }
                        continue;
                    }
                    // Idle means no stream since the last one ended: frames without a request
                    // (PINGs, SETTINGS, WINDOW_UPDATEs) do not keep a connection open, or a
                    // client pinging every second held its slot forever.
                    let started = conn.guard.requests_started();
                    let busy = started > conn.guard.requests_finished() || responding;
                    if busy || started != last_started {
                        last_started = started;
                        moved_at = now;
                    }
                    // Near `max_connections` an idle connection gives its slot back at once, as
                    // HTTP/1.1 keep-alive is dropped there (docs/internals/http.md): HTTP/2
                    // connections that only sent the preface held every slot.
                    let open = shared.stats.connections_open.load(Ordering::Relaxed) as usize;
                    let crowded = open * 10 >= shared.config.limits.max_connections * 9;
                    let idle_for = now.duration_since(moved_at);
                    if !busy && !stopping && (crowded || self.idle.is_some_and(|idle| idle_for >= idle)) {
                        ServerStats::bump(&shared.stats.http2_goaway_sent);
                        connection.as_mut().graceful_shutdown();
                        goaway_at = Some(now + if crowded { Duration::ZERO } else { IDLE_GRACE });
                    }
                }
            }
        }
    }
}

/// Count the error a connection ended with under its `http2_err_*` key.
fn record_error(stats: &ServerStats, err: &hyper::Error) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(h2e) = e.downcast_ref::<h2::Error>() {
            let Some(reason) = h2e.reason() else {
                return; // an IO error: the client went away
            };
            if h2e.is_go_away() && !h2e.is_remote() {
                ServerStats::bump(&stats.http2_goaway_sent);
            }
            let counter = match reason {
                h2::Reason::PROTOCOL_ERROR => &stats.http2_err_protocol,
                h2::Reason::FLOW_CONTROL_ERROR => &stats.http2_err_flow_control,
                h2::Reason::FRAME_SIZE_ERROR => &stats.http2_err_frame_size,
                h2::Reason::COMPRESSION_ERROR => &stats.http2_err_compression,
                h2::Reason::REFUSED_STREAM => &stats.http2_err_refused_stream,
                h2::Reason::STREAM_CLOSED => &stats.http2_err_stream_closed,
                h2::Reason::INTERNAL_ERROR | h2::Reason::ENHANCE_YOUR_CALM => {
                    &stats.http2_err_internal
                }
                _ => return,
            };
            ServerStats::bump(counter);
            tracing::debug!(target: "viperhttp::http2", "connection ended: {h2e}");
            return;
        }
        source = e.source();
    }
}

/// The checks the head guard makes for HTTP/1 (docs/internals/http.md, limits), made per
/// stream: `max_uri_len` → 414, `max_headers` / `max_header_size` → 431, a second `host` or
/// one that differs from `:authority` → 400.
fn check_head(
    config: &RuntimeConfig,
    req: &Request<RequestBody>,
) -> Option<Response<ResponseBody>> {
    let limits = &config.limits;
    let uri_len = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
    if uri_len > limits.max_uri_len {
        return Some(simple_response(StatusCode::URI_TOO_LONG, "URI Too Long"));
    }
    let headers = req.headers();
    // One `host` at most, and the same authority as `:authority` when both are sent (RFC
    // 9110 §7.2, RFC 9113 §8.3.1): over HTTP/1.1 the head guard refuses a second Host; here two
    // were joined into one value the trusted-host check read only the first name of.
    let mut hosts = headers.get_all(HOST).iter();
    if let Some(host) = hosts.next() {
        let differs = req
            .uri()
            .authority()
            .is_some_and(|a| !a.as_str().as_bytes().eq_ignore_ascii_case(host.as_bytes()));
        if hosts.next().is_some() || differs {
            return Some(simple_response(StatusCode::BAD_REQUEST, "Bad Request"));
        }
    }
    let size: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len())
        .sum();
    if headers.len() > limits.max_headers || size > limits.max_header_size {
        return Some(simple_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        ));
    }
    None
}

/// One stream: the head checks, one yield (rapid reset, see the module docs),
/// then the shared service. `Connection` is not a field HTTP/2 may carry, and
/// a HEAD answer carries no DATA.
async fn stream_request(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    activity: Arc<Activity>,
    req: Request<RequestBody>,
) -> Result<Response<ResponseBody>, Infallible> {
    if let Some(resp) = check_head(&shared.config, &req) {
        ServerStats::bump(&shared.stats.parse_errors);
        let max_uri_len = shared.config.limits.max_uri_len;
        log_refused_stream(req.method(), req.uri(), resp.status(), max_uri_len);
        return Ok(resp);
    }
    tokio::task::yield_now().await;
    let is_head = req.method() == http::Method::HEAD;
    let Ok(mut resp) = handle(shared, conn, req).await;
    resp.headers_mut().remove(CONNECTION);
    // (A 1xx, 204, 205 or 304 answer lost its content in the service, for both protocols.)
    if is_head {
        // hyper's HTTP/1 writer drops a HEAD body itself, its HTTP/2 one does not;
        // the service already set the GET Content-Length.
        *resp.body_mut() = ResponseBody::empty();
    }
    if http_body::Body::is_end_stream(resp.body()) {
        return Ok(resp);
    }
    Ok(resp.map(|body| ResponseBody::stream(Tracked::new(body, activity))))
}

/// What one connection's IO and responses did, for the watchdog.
#[derive(Debug, Default)]
struct Activity {
    written: AtomicU64,
    /// Response bodies hyper still sends.
    open_bodies: AtomicUsize,
}

/// A response body counted in [`Activity::open_bodies`] until dropped.
struct Tracked {
    inner: ResponseBody,
    activity: Arc<Activity>,
}

impl Tracked {
    fn new(inner: ResponseBody, activity: Arc<Activity>) -> Self {
        activity.open_bodies.fetch_add(1, Ordering::Relaxed);
        Tracked { inner, activity }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.open_bodies.fetch_sub(1, Ordering::Relaxed);
    }
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, BodyError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's IO, counting the bytes written (relaxed adds; the watchdog
/// only compares successive values).
struct Counted<IO> {
    inner: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Counted<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Counted<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.activity.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.activity.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
