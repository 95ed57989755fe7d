//! Head guard (docs/internals/http.md): a per-connection IO wrapper between the `TcpStream` and
//! hyper that applies the RFC 9112 checks hyper leaves to its user, keeps rejections in pipeline
//! order, and owns the header / keep-alive-idle deadlines.
//!
//! # How it works
//!
//! [`GuardedIo`] scans the incoming byte stream with a small state machine:
//! *head* (accumulated until its final CRLF, checked byte by byte), then the
//! *body* (`Content-Length` bytes, or a chunked body followed to its last
//! chunk and trailers), then the next head. Heads that pass are handed to
//! hyper unchanged, body bytes pass through as they come; hyper never sees a
//! byte the guard has not framed. Writes pass straight through.
//!
//! For every head it hands on, the guard pushes one [`Verdict`] onto the
//! connection's FIFO ([`ConnGuard`]); the service pops one per request, in
//! order ([`ConnGuard::next_verdict`]). A rejected head is replaced by a
//! synthetic minimal head ([`SYNTHETIC_HEAD`]) and a [`Verdict::Reject`]; the
//! service answers it natively (`Connection: close`), so hyper writes every
//! earlier pipelined response first, then the rejection, then closes. After a
//! rejection the guard reads nothing more from the client and reports EOF to
//! hyper once no request is in progress.
//!
//! # Integration contract (service side)
//!
//! 1. `ConnGuard::request_started()` then `next_verdict()` at the start of
//!    every request (`None` only if no guard is in front: treat as a pass).
//! 2. `Verdict::Reject { status, reason, .. }` → `text/plain; charset=utf-8`,
//!    body = `reason`, `Connection: close`, nothing else runs.
//! 3. `ConnGuard::request_finished()` exactly once when the response is over
//!    — for a streamed body, when the body ends or is dropped
//!    ([`ConnGuard::finish_on_drop`] gives an RAII token; [`FinishOnEnd`]
//!    carries it in a body). The keep-alive idle timer runs only while no
//!    request is in progress, and an upgrade request's hold is released then.
//! 5. hyper: `header_read_timeout(None)` (the guard owns the deadlines),
//!    `max_headers(knob.max(2))`, `max_buf_size(GuardLimits::hyper_max_buf_size())`.
//!
//! A chunked body with invalid framing reaches hyper up to the bad byte,
//! then EOF: hyper's body fails and the service answers 400 + close. A chunk
//! size past what `max_body_size` leaves is cut the same way, at its digit, with
//! [`ConnGuard::body_too_large`] set: the service answers 413 + close. A client
//! EOF is passed on at once (hyper drops a busy connection,
//! docs/internals/bridge.md#client-disconnect); only the EOF the guard itself produces after a
//! rejection waits. After a rejection, shutdown drains unread input briefly (lingering close, RFC
//! 9112 §9.6) so the client can read the rejection instead of a RST.
//! 4. When answering `101 Switching Protocols` (or a 2xx to CONNECT), call
//!    `ConnGuard::upgrade_accepted()` *before* `request_finished()`: the
//!    bytes after an upgrade request are held unscanned until then, and
//!    pass through raw afterwards.

mod chunked;
pub(crate) mod parse;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::config::{Limits, Timeouts};
use crate::stats::ServerStats;

use chunked::{ChunkStep, ChunkedTracker};
use parse::{Feed, Framing, HeadScanner, Rejection};
pub use parse::{RequestLineSeen, SEEN_TARGET_MAX};

/// The head handed to hyper in place of a rejected one. The service never
/// looks at it: it answers the matching [`Verdict::Reject`].
pub const SYNTHETIC_HEAD: &[u8] = b"GET / HTTP/1.1\r\nhost: reject\r\nconnection: close\r\n\r\n";

/// Bytes read from the socket per buffered read (partial heads, held bytes).
const READ_CHUNK: usize = 4096;
/// Largest read made straight into hyper's buffer.
const DIRECT_READ_MAX: usize = 64 * 1024;
/// Bytes read ahead (and held) after an upgrade request while the service decides.
const HOLD_CAP: usize = 64 * 1024;
/// Lingering close after a rejection: drain what the client still sends for at
/// most this long / this many bytes, so unread input does not turn the close
/// into a RST that destroys the rejection before the client reads it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Limits and deadlines the guard enforces (docs/internals/http.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardLimits {
    /// Longest request-target → 414.
    pub max_uri_len: usize,
    /// Most header fields → 431.
    pub max_headers: usize,
    /// Most header-line bytes (CRLFs excluded) → 431.
    pub max_header_size: usize,
    /// Largest `Content-Length` → 413 before the body is read.
    pub max_body_size: u64,
    /// New connection: accept → end of the first head; kept-alive connection:
    /// first byte → end of the head. 0 = none.
    pub header_timeout_ms: u64,
    /// End of a response → first byte of the next head. 0 = none (the service
    /// then disables keep-alive).
    pub keepalive_timeout_ms: u64,
    /// A write that makes no progress for this long fails, which closes the
    /// connection (`send_timeout_ms`; 0 = none).
    pub send_timeout_ms: u64,
}

impl GuardLimits {
    /// From the runtime configuration.
    pub fn new(limits: &Limits, timeouts: &Timeouts) -> Self {
        GuardLimits {
            max_uri_len: limits.max_uri_len,
            max_headers: limits.max_headers,
            max_header_size: limits.max_header_size,
            max_body_size: limits.max_body_size as u64,
            header_timeout_ms: timeouts.header_timeout_ms,
            keepalive_timeout_ms: timeouts.keepalive_timeout_ms,
            send_timeout_ms: timeouts.send_timeout_ms,
        }
    }

    /// Longest head the guard can pass: leading empty lines, request line,
    /// field lines with their CRLFs, final CRLF.
    pub fn max_head_len(&self) -> usize {
        let request_line =
            parse::MAX_METHOD_LEN + 1 + self.max_uri_len.min(parse::MAX_HYPER_URI) + 1 + 8 + 2;
        let fields = self
            .max_header_size
            .saturating_add(self.max_headers.saturating_mul(2));
        (2 * parse::MAX_LEADING_EMPTY_LINES)
            .saturating_add(request_line)
            .saturating_add(fields)
            .saturating_add(2)
    }

    /// The value for hyper's `http1::Builder::max_buf_size`: room for the
    /// largest head the guard passes plus a read's worth of body bytes.
    pub fn hyper_max_buf_size(&self) -> usize {
        self.max_head_len()
            .saturating_add(DIRECT_READ_MAX)
            .max(8192)
    }
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits::new(&Limits::default(), &Timeouts::default())
    }
}

/// The guard's decision about one request head, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The head passed; hyper received it unchanged.
    Pass {
        /// absolute-form target (`http://authority/path?q`): its authority,
        /// which replaces `Host` for trusted-host and `Request.url`.
        absolute_authority: Option<String>,
        /// absolute-form target: the origin-form `path?q` to forward over IPC
        /// and match against mounts (fragment removed). `None` for origin-form
        /// (use `req.uri()`).
        origin_path: Option<String>,
        /// HTTP/1.0 request without `Host` (accepted, docs/internals/http.md).
        http10_without_host: bool,
        /// CONNECT or an HTTP/1.1 `Upgrade` request: later bytes are held
        /// until `upgrade_accepted()` or `request_finished()`.
        upgrade_hold: bool,
    },
    /// `OPTIONS *`: answer `204` with `Allow` natively (never a preflight,
    /// never Python).
    AsteriskOptions,
    /// The head was refused; hyper received [`SYNTHETIC_HEAD`] instead.
    /// Answer `status` with body `reason`, `text/plain; charset=utf-8`,
    /// `Connection: close`.
    Reject {
        /// 400, 408, 413, 414, 431, 501 or 505.
        status: StatusCode,
        /// The reason phrase, also the body.
        reason: &'static str,
        /// Which rule fired (logs, tests).
        detail: &'static str,
        /// The method and target as far as they were read (the access line).
        seen: RequestLineSeen,
    },
}

impl Verdict {
    fn from_rejection(r: Rejection, seen: RequestLineSeen) -> Self {
        Verdict::Reject {
            status: r.status,
            reason: r.reason,
            detail: r.detail,
            seen,
        }
    }
}

/// Per-connection state shared by the [`GuardedIo`] (producer of verdicts)
/// and the service (consumer, request lifecycle).
pub struct ConnGuard {
    verdicts: Mutex<VecDeque<Verdict>>,
    started: AtomicU64,
    finished: AtomicU64,
    upgraded: AtomicBool,
    /// Set by a response body that must end the connection once its bytes are
    /// out although hyper's framing is complete (docs/internals/ipc.md: a stream longer
    /// than its `total_len` is cut there and the connection closed).
    close_after_flush: AtomicBool,
    /// A chunk size went past `max_body_size`: the body was cut there (see
    /// [`ConnGuard::body_too_large`]).
    body_too_large: AtomicBool,
    /// Whether the connection may be closed to make room ([`Idle`] as a `u8`): set by
    /// the reader each time a read finds the socket empty, so a connection whose
    /// request sits unread in the kernel is never taken for idle.
    idle: AtomicU8,
    /// When `idle` last became idle ([`coarse_now_ms`]).
    idle_since_ms: AtomicU64,
    /// Set by [`ConnGuard::evict_if_idle`]: close at once if still idle.
    evict: AtomicBool,
    waker: Mutex<Option<Waker>>,
    stats: Arc<ServerStats>,
}

impl std::fmt::Debug for ConnGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnGuard")
            .field("queued", &self.verdicts.lock().len())
            .field("started", &self.started.load(Ordering::Relaxed))
            .field("finished", &self.finished.load(Ordering::Relaxed))
            .field("upgraded", &self.upgraded.load(Ordering::Relaxed))
            .finish()
    }
}

impl ConnGuard {
    /// A new connection's guard state; `stats.parse_errors` counts rejections.
    pub fn new(stats: Arc<ServerStats>) -> Arc<Self> {
        Arc::new(ConnGuard {
            verdicts: Mutex::new(VecDeque::with_capacity(2)),
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            close_after_flush: AtomicBool::new(false),
            body_too_large: AtomicBool::new(false),
            idle: AtomicU8::new(Idle::Busy as u8),
            idle_since_ms: AtomicU64::new(0),
            evict: AtomicBool::new(false),
            waker: Mutex::new(None),
            stats,
        })
    }

    /// Connection pressure (docs/internals/http.md, "Connection pressure"): when the
    /// connection is idle in the given way, ask it to close (its reader sees EOF);
    /// true when it was. A connection with a request in progress is left alone.
    /// Only a connection idle for at least [`MIN_IDLE_MS`] is taken: a fresh connection's
    /// request may still be in flight (sent, not yet in the socket) right after its first
    /// read found nothing, and closing it then would drop that request.
    pub fn evict_if_idle(&self, kind: Idle) -> bool {
        if kind == Idle::Busy || self.idle.load(Ordering::Acquire) != kind as u8 {
            return false;
        }
        let since = self.idle_since_ms.load(Ordering::Acquire);
        if coarse_now_ms().saturating_sub(since) < MIN_IDLE_MS {
            return false;
        }
        self.evict.store(true, Ordering::Release);
        self.wake();
        true
    }

    /// Ready once [`evict_if_idle`](Self::evict_if_idle) asked this connection
    /// to close, for the time before a [`GuardedIo`] reads it (the accept path
    /// looks at the first bytes to tell HTTP/2 from HTTP/1; docs/internals/tls-http2.md).
    /// Counts the eviction when it reports it.
    pub fn poll_evicted(&self, cx: &Context<'_>) -> Poll<()> {
        if self.evict.load(Ordering::Acquire) {
            ServerStats::bump(&self.stats.idle_evicted);
            return Poll::Ready(());
        }
        self.park(cx);
        if self.evict.load(Ordering::Acquire) {
            ServerStats::bump(&self.stats.idle_evicted);
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// For the reader in front of the [`GuardedIo`] (the first-bytes check): a
    /// read found the socket empty (`true`, [`Idle::NeverActive`]) or returned
    /// bytes (`false`, [`Idle::Busy`]), under the same rule as the guard's own reads.
    pub fn mark_first_read(&self, waiting: bool) {
        let kind = if waiting {
            Idle::NeverActive
        } else {
            Idle::Busy
        };
        self.idle.store(kind as u8, Ordering::Release);
    }

    /// Close the connection after the next flush: the bytes hyper has buffered
    /// go out, the write side shuts down (lingering so they are not lost to an
    /// RST), and the flush reports an error so hyper parses no further request.
    pub fn close_after_flush(&self) {
        self.close_after_flush.store(true, Ordering::Release);
    }

    /// Whether the guard cut a chunked body because a chunk size passed what
    /// `max_body_size` left: the body then fails (EOF inside it), and the reader
    /// answers `413` instead of the `400` of broken framing. The connection ends
    /// with that body, so the flag never outlives its request.
    pub fn body_too_large(&self) -> bool {
        self.body_too_large.load(Ordering::Acquire)
    }

    /// The verdict for the next request hyper hands to the service, in order.
    /// `None` only when no [`GuardedIo`] feeds this connection.
    pub fn next_verdict(&self) -> Option<Verdict> {
        self.verdicts.lock().pop_front()
    }

    /// A request reached the service (bookkeeping only).
    pub fn request_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// The response of one request is over: arms the keep-alive idle timer
    /// once every request handed to hyper has finished. Call it exactly once
    /// per request, after the response body ended (or was dropped).
    pub fn request_finished(&self) {
        self.finished.fetch_add(1, Ordering::AcqRel);
        self.wake();
    }

    /// An RAII token calling [`request_finished`](Self::request_finished) when
    /// dropped (put it in a streamed response body).
    pub fn finish_on_drop(self: &Arc<Self>) -> RequestDone {
        RequestDone(Some(self.clone()))
    }

    /// The service switched protocols (`101`, or a 2xx to CONNECT): every
    /// later byte passes through unscanned. Call before `request_finished`.
    pub fn upgrade_accepted(&self) {
        self.upgraded.store(true, Ordering::Release);
        self.wake();
    }

    /// Requests that reached the service so far.
    pub fn requests_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Requests whose response is over.
    pub fn requests_finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    fn push(&self, v: Verdict) {
        self.verdicts.lock().push_back(v);
    }

    fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn park(&self, cx: &Context<'_>) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
    }
}

/// How long a connection must have been idle before connection pressure may close it.
pub const MIN_IDLE_MS: u64 = 1000;

/// Milliseconds since the first call in this process (monotonic; for idle ages).
fn coarse_now_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How idle a connection is, for connection pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Idle {
    /// A request in progress, or not yet read from.
    Busy = 0,
    /// Never sent a byte, or in the middle of its first head: the cheapest to close
    /// (what an idle-socket flood is made of).
    NeverActive = 1,
    /// Kept alive between requests (closing it races with the client's next
    /// request, which RFC 9112 §9.3.1 lets clients retry when idempotent).
    KeptAlive = 2,
}

/// Calls [`ConnGuard::request_finished`] once, on drop or [`finish`](Self::finish).
#[derive(Debug)]
pub struct RequestDone(Option<Arc<ConnGuard>>);

impl RequestDone {
    /// Finish now.
    pub fn finish(mut self) {
        if let Some(c) = self.0.take() {
            c.request_finished();
        }
    }
}

impl Drop for RequestDone {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.request_finished();
        }
    }
}

/// A response body that calls [`ConnGuard::request_finished`] when it ends,
/// fails or is dropped: the end of a streamed response, which is when the
/// keep-alive idle timer may start.
#[derive(Debug)]
pub struct FinishOnEnd<B> {
    inner: B,
    done: Option<RequestDone>,
}

impl<B> FinishOnEnd<B> {
    /// Wrap `inner`; `done` fires at its end.
    pub fn new(inner: B, done: RequestDone) -> Self {
        FinishOnEnd {
            inner,
            done: Some(done),
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for FinishOnEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(res, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.done = None;
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Debug)]
enum Body {
    Length(u64),
    Chunked(ChunkedTracker),
}

#[derive(Debug)]
enum Phase {
    /// Scanning a head (`rbuf` holds its scanned part, if any).
    Head,
    /// Passing a body through.
    Body(Body),
    /// After an upgrade request: bytes held unscanned in `rbuf`.
    Hold,
    /// After an accepted upgrade: everything passes.
    Raw,
    /// Serving [`SYNTHETIC_HEAD`], then EOF once idle.
    Rejected,
    /// EOF after the deliverable bytes.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    Silent,
    Timeout408,
}

enum ReadOutcome {
    /// Bytes were put in hyper's buffer.
    Delivered,
    /// Bytes were taken in; nothing deliverable yet.
    Progress,
    Eof,
}

/// The IO wrapper: `TokioIo::new(GuardedIo::new(stream, conn, limits))`.
pub struct GuardedIo<T> {
    inner: T,
    conn: Arc<ConnGuard>,
    limits: GuardLimits,
    /// Bytes taken from the socket and not yet given to hyper:
    /// `rbuf[..ready]` deliverable, the rest a partial head (phase `Head`) or
    /// held bytes (phase `Hold`).
    rbuf: BytesMut,
    ready: usize,
    phase: Phase,
    head: HeadScanner,
    /// Hold after the current body (upgrade request).
    hold_after_body: bool,
    synthetic_pos: usize,
    /// Verdicts pushed (= heads handed to hyper).
    delivered: u64,
    seen_finished: u64,
    accepted_at: Instant,
    idle_since: Instant,
    last_write: Instant,
    head_first_byte: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    timer_deadline: Option<Instant>,
    /// The socket reported EOF.
    eof: bool,
    /// Drain the socket on shutdown (we stopped reading with input pending).
    linger: bool,
    linger_state: Option<(Instant, usize)>,
    shutdown_done: bool,
    /// Since when writes return `Pending` without progress (`send_timeout_ms`).
    write_stalled_since: Option<Instant>,
    send_timer: Option<Pin<Box<Sleep>>>,
}

impl<T> std::fmt::Debug for GuardedIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedIo")
            .field("phase", &self.phase)
            .field("buffered", &self.rbuf.len())
            .field("ready", &self.ready)
            .field("delivered", &self.delivered)
            .field("eof", &self.eof)
            .finish()
    }
}

impl<T> GuardedIo<T> {
    /// Wrap a freshly accepted stream (the header deadline starts now).
    pub fn new(inner: T, conn: Arc<ConnGuard>, limits: GuardLimits) -> Self {
        let now = Instant::now();
        GuardedIo {
            inner,
            conn,
            limits,
            rbuf: BytesMut::new(),
            ready: 0,
            phase: Phase::Head,
            head: HeadScanner::new(),
            hold_after_body: false,
            synthetic_pos: 0,
            delivered: 0,
            seen_finished: 0,
            accepted_at: now,
            idle_since: now,
            last_write: now,
            head_first_byte: None,
            timer: None,
            timer_deadline: None,
            eof: false,
            linger: false,
            linger_state: None,
            shutdown_done: false,
            write_stalled_since: None,
            send_timer: None,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The connection's shared guard state.
    pub fn conn(&self) -> &Arc<ConnGuard> {
        &self.conn
    }

    fn idle(&self) -> bool {
        self.conn.finished.load(Ordering::Acquire) >= self.delivered
    }

    /// Waiting for a head with no request in progress: the state in which
    /// connection pressure may close the connection.
    fn evictable(&self) -> Idle {
        if !matches!(self.phase, Phase::Head) || !self.idle() {
            Idle::Busy
        } else if self.delivered == 0 {
            Idle::NeverActive
        } else {
            Idle::KeptAlive
        }
    }

    /// A write's outcome for `send_timeout_ms`: progress clears the stall clock;
    /// `Pending` starts it and, once it ran out, turns into an error (hyper then
    /// drops the connection, whatever the response was: static, Python or stream).
    fn track_write(
        &mut self,
        cx: &mut Context<'_>,
        res: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match &res {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.last_write = Instant::now();
                self.write_stalled_since = None;
            }
            Poll::Pending if self.limits.send_timeout_ms > 0 => {
                let since = *self.write_stalled_since.get_or_insert_with(Instant::now);
                let at = since + Duration::from_millis(self.limits.send_timeout_ms);
                let timer = self
                    .send_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    ServerStats::bump(&self.conn.stats.send_timeout_closed);
                    tracing::info!(
                        target: "viperhttp::head_guard",
                        send_timeout_ms = self.limits.send_timeout_ms,
                        "client stopped reading the response; connection closed"
                    );
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "send timeout: no write progress",
                    )));
                }
            }
            _ => {}
        }
        res
    }

    fn push_verdict(&mut self, v: Verdict) {
        self.delivered += 1;
        self.conn.push(v);
    }

    /// The partial head in `rbuf` (after the deliverable bytes), as far as scanned.
    fn seen_in_rbuf(&self) -> RequestLineSeen {
        let head = self.rbuf.get(self.ready..).unwrap_or_default();
        self.head.seen(head, self.head.scanned())
    }

    fn reject(&mut self, r: Rejection, seen: RequestLineSeen) {
        if r.status != StatusCode::REQUEST_TIMEOUT {
            ServerStats::bump(&self.conn.stats.parse_errors);
        }
        tracing::debug!(target: "viperhttp::head_guard", status = r.status.as_u16(), detail = r.detail, "request head rejected");
        self.push_verdict(Verdict::from_rejection(r, seen));
        self.phase = Phase::Rejected;
        self.synthetic_pos = 0;
        self.head.reset();
        self.head_first_byte = None;
        self.linger = !self.eof;
    }

    fn after_body(&mut self) -> Phase {
        if std::mem::take(&mut self.hold_after_body) {
            Phase::Hold
        } else {
            Phase::Head
        }
    }

    /// Frame `s[pos..]` in the current phase. In phase `Head`,
    /// `s[pos - head.scanned()..pos]` is the part of the head scanned before.
    /// Returns how many bytes of `s` (from its start) hyper may receive; the
    /// rest is a partial head (`Head`), held (`Hold`) or dropped (other phases).
    fn advance(&mut self, s: &[u8], mut pos: usize) -> usize {
        loop {
            match &mut self.phase {
                Phase::Head => {
                    let start = pos.saturating_sub(self.head.scanned());
                    let head = s.get(start..).unwrap_or_default();
                    match self.head.feed(head, &self.limits) {
                        Feed::NeedMore => return start,
                        Feed::Complete(acc) => {
                            self.push_verdict(acc.verdict);
                            self.head.reset();
                            self.head_first_byte = None;
                            self.hold_after_body = acc.hold;
                            pos = start + acc.len;
                            self.phase = match acc.framing {
                                Framing::None => self.after_body(),
                                Framing::Length(n) => Phase::Body(Body::Length(n)),
                                Framing::Chunked => {
                                    Phase::Body(Body::Chunked(ChunkedTracker::new(
                                        self.limits.max_headers,
                                        self.limits.max_body_size,
                                    )))
                                }
                            };
                        }
                        Feed::Reject(r, seen) => {
                            self.reject(r, seen);
                            return start;
                        }
                    }
                }
                Phase::Body(Body::Length(n)) => {
                    let avail = s.len().saturating_sub(pos) as u64;
                    let take = (*n).min(avail);
                    // take <= avail, which came from a usize.
                    pos += take as usize;
                    *n -= take;
                    if *n > 0 {
                        return pos;
                    }
                    self.phase = self.after_body();
                }
                Phase::Body(Body::Chunked(t)) => match t.feed(s.get(pos..).unwrap_or_default()) {
                    ChunkStep::NeedMore => return s.len(),
                    ChunkStep::Done(k) => {
                        pos += k;
                        self.phase = self.after_body();
                    }
                    ChunkStep::Error { consumed, detail } => {
                        // hyper gets the valid prefix, then EOF: its body errors
                        // and the service answers 400 + close.
                        ServerStats::bump(&self.conn.stats.parse_errors);
                        tracing::debug!(target: "viperhttp::head_guard", detail, "invalid chunked framing");
                        self.phase = Phase::Closed;
                        self.linger = !self.eof;
                        return pos + consumed;
                    }
                    ChunkStep::TooLarge { consumed } => {
                        // The same cut as invalid framing, at once (not when the data or
                        // the body timeout comes); the flag turns the service's answer
                        // into 413 (docs/internals/http.md, "Request bodies").
                        self.conn.body_too_large.store(true, Ordering::Release);
                        tracing::debug!(target: "viperhttp::head_guard", "chunk size over max_body_size");
                        self.phase = Phase::Closed;
                        self.linger = !self.eof;
                        return pos + consumed;
                    }
                },
                Phase::Hold | Phase::Rejected | Phase::Closed => return pos,
                Phase::Raw => return s.len(),
            }
        }
    }

    /// Re-frame `rbuf` (nothing in it is deliverable yet) after new bytes
    /// arrived or the phase changed.
    fn rescan(&mut self) {
        let buf = std::mem::take(&mut self.rbuf);
        let base = self.ready;
        let pos = match self.phase {
            Phase::Head => self.head.scanned(),
            _ => 0,
        };
        let deliver = base + self.advance(buf.get(base..).unwrap_or_default(), pos);
        self.rbuf = buf;
        self.ready = deliver;
        if !matches!(self.phase, Phase::Head | Phase::Hold) {
            self.rbuf.truncate(deliver);
        }
        self.note_head_start();
    }

    fn note_head_start(&mut self) {
        if matches!(self.phase, Phase::Head)
            && self.head.has_content()
            && self.head_first_byte.is_none()
        {
            self.head_first_byte = Some(Instant::now());
        }
    }

    /// Pick up what the service did (finished requests, upgrade).
    fn absorb_events(&mut self) {
        let finished = self.conn.finished.load(Ordering::Acquire);
        if finished != self.seen_finished {
            self.seen_finished = finished;
            if finished >= self.delivered {
                self.idle_since = Instant::now();
            }
        }
        if matches!(self.phase, Phase::Hold) {
            if self.conn.upgraded.load(Ordering::Acquire) {
                self.phase = Phase::Raw;
                self.ready = self.rbuf.len();
            } else if finished >= self.delivered && self.ready == 0 {
                self.phase = Phase::Head;
                self.rescan();
            }
        }
    }

    /// The socket ended: decide what hyper sees.
    fn on_eof(&mut self) {
        match self.phase {
            Phase::Head => {
                if self.head.has_content() {
                    let seen = self.seen_in_rbuf();
                    self.rbuf.truncate(self.ready);
                    self.reject(
                        Rejection::bad("connection closed inside a request head"),
                        seen,
                    );
                } else {
                    self.rbuf.truncate(self.ready);
                    self.phase = Phase::Closed;
                }
            }
            Phase::Body(_) | Phase::Raw => self.phase = Phase::Closed,
            Phase::Hold => {
                if self.rbuf.is_empty() {
                    self.phase = Phase::Closed;
                }
            }
            Phase::Rejected | Phase::Closed => {}
        }
    }

    /// The active deadline, if any: only while scanning a head with no
    /// request in progress.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        if !matches!(self.phase, Phase::Head) || !self.idle() {
            return None;
        }
        let ms = |v: u64| Duration::from_millis(v);
        let content = self.head.has_content();
        let header = self.limits.header_timeout_ms;
        let keepalive = self.limits.keepalive_timeout_ms;
        if self.delivered == 0 {
            let kind = if content {
                Expiry::Timeout408
            } else {
                Expiry::Silent
            };
            (header > 0).then(|| (self.accepted_at + ms(header), kind))
        } else if !content {
            (keepalive > 0).then(|| {
                (
                    self.idle_since.max(self.last_write) + ms(keepalive),
                    Expiry::Silent,
                )
            })
        } else {
            let from = self
                .head_first_byte
                .unwrap_or(self.idle_since)
                .max(self.idle_since);
            (header > 0).then(|| (from + ms(header), Expiry::Timeout408))
        }
    }

    /// Arm / poll the deadline; `Some` when it expired.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<Expiry> {
        let Some((at, kind)) = self.deadline() else {
            self.timer_deadline = None;
            return None;
        };
        if self.timer_deadline != Some(at) {
            match self.timer.as_mut() {
                Some(t) => t.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.timer_deadline = Some(at);
        }
        let timer = self.timer.as_mut()?;
        if timer.as_mut().poll(cx).is_ready() {
            self.timer_deadline = None;
            Some(kind)
        } else {
            None
        }
    }

    fn expire(&mut self, kind: Expiry) {
        match kind {
            Expiry::Silent => {
                tracing::trace!(target: "viperhttp::head_guard", "idle timeout, closing");
                self.rbuf.clear();
                self.ready = 0;
                self.phase = Phase::Closed;
            }
            Expiry::Timeout408 => {
                let seen = self.seen_in_rbuf();
                self.rbuf.clear();
                self.ready = 0;
                self.reject(Rejection::timeout(), seen);
            }
        }
    }
}

impl<T: AsyncRead + Unpin> GuardedIo<T> {
    /// Read straight into hyper's buffer (nothing pending in `rbuf`).
    fn read_direct(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<ReadOutcome>> {
        let start = buf.filled().len();
        // Straight into hyper's (uninitialised) buffer: a sub-`ReadBuf` made with
        // `initialize_unfilled_to` would zero it on every read (measured: ~5 % of the
        // runtime thread). What is read past a rejected head moves to `rbuf`, so
        // `rbuf` stays bounded by hyper's `max_buf_size`.
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        if buf.filled().len() == start {
            return Poll::Ready(Ok(ReadOutcome::Eof));
        }
        let deliver = {
            let fresh = buf.filled().get(start..).unwrap_or_default();
            let deliver = self.advance(fresh, 0);
            if matches!(self.phase, Phase::Head | Phase::Hold) {
                self.rbuf
                    .extend_from_slice(fresh.get(deliver..).unwrap_or_default());
            }
            deliver
        };
        buf.set_filled(start + deliver);
        self.note_head_start();
        Poll::Ready(Ok(if deliver > 0 {
            ReadOutcome::Delivered
        } else {
            ReadOutcome::Progress
        }))
    }

    /// Read into `rbuf` behind the pending bytes, then re-frame.
    fn read_buffered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ReadOutcome>> {
        let old = self.rbuf.len();
        self.rbuf.resize(old + READ_CHUNK, 0);
        let res = {
            let mut rb = ReadBuf::new(self.rbuf.get_mut(old..).unwrap_or_default());
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        };
        match res {
            Poll::Pending => {
                self.rbuf.truncate(old);
                Poll::Pending
            }
            Poll::Ready(Err(e)) => {
                self.rbuf.truncate(old);
                Poll::Ready(Err(e))
            }
            Poll::Ready(Ok(0)) => {
                self.rbuf.truncate(old);
                Poll::Ready(Ok(ReadOutcome::Eof))
            }
            Poll::Ready(Ok(n)) => {
                self.rbuf.truncate(old + n);
                if !matches!(self.phase, Phase::Hold) {
                    self.rescan();
                }
                Poll::Ready(Ok(ReadOutcome::Progress))
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            this.absorb_events();
            if this.ready > 0 {
                let n = this.ready.min(buf.remaining());
                buf.put_slice(this.rbuf.get(..n).unwrap_or_default());
                this.rbuf.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            match this.phase {
                Phase::Rejected => {
                    let rest = SYNTHETIC_HEAD.get(this.synthetic_pos..).unwrap_or_default();
                    if !rest.is_empty() {
                        let n = rest.len().min(buf.remaining());
                        buf.put_slice(rest.get(..n).unwrap_or_default());
                        this.synthetic_pos += n;
                        return Poll::Ready(Ok(()));
                    }
                    // EOF only once the rejection is answered: hyper drops a
                    // busy connection on EOF without writing its response.
                    if this.idle() {
                        return Poll::Ready(Ok(()));
                    }
                    this.conn.park(cx);
                    if this.idle() {
                        continue;
                    }
                    return Poll::Pending;
                }
                Phase::Closed => return Poll::Ready(Ok(())),
                Phase::Hold
                    if (this.eof && !this.rbuf.is_empty()) || this.rbuf.len() >= HOLD_CAP =>
                {
                    this.conn.park(cx);
                    if this.conn.upgraded.load(Ordering::Acquire) || this.idle() {
                        continue;
                    }
                    return Poll::Pending;
                }
                _ => {}
            }
            if this.eof {
                this.on_eof();
                continue;
            }
            let direct = this.rbuf.is_empty() && !matches!(this.phase, Phase::Hold);
            let res = if direct {
                this.read_direct(cx, buf)
            } else {
                this.read_buffered(cx)
            };
            match res {
                Poll::Ready(Ok(ReadOutcome::Delivered)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(ReadOutcome::Progress)) => continue,
                Poll::Ready(Ok(ReadOutcome::Eof)) => {
                    this.eof = true;
                    this.linger = false;
                    continue;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if let Some(kind) = this.poll_deadline(cx) {
                        this.expire(kind);
                        continue;
                    }
                    let idle = this.evictable();
                    let was = this.conn.idle.swap(idle as u8, Ordering::AcqRel);
                    if was != idle as u8 && idle != Idle::Busy {
                        this.conn
                            .idle_since_ms
                            .store(coarse_now_ms(), Ordering::Release);
                    }
                    if idle != Idle::Busy && this.conn.evict.load(Ordering::Acquire) {
                        ServerStats::bump(&this.conn.stats.idle_evicted);
                        tracing::debug!(target: "viperhttp::head_guard", "idle connection closed to make room");
                        this.expire(Expiry::Silent);
                        continue;
                    }
                    this.conn.evict.store(false, Ordering::Release);
                    this.conn.park(cx);
                    let finished = this.conn.finished.load(Ordering::Acquire);
                    let upgrade = matches!(this.phase, Phase::Hold)
                        && this.conn.upgraded.load(Ordering::Acquire);
                    if finished != this.seen_finished || upgrade {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> GuardedIo<T> {
    /// Lingering close: after our FIN, read and drop input until the client
    /// closes, `LINGER` passes or `LINGER_BYTES` were drained.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (until, mut drained) = *self
            .linger_state
            .get_or_insert_with(|| (Instant::now() + LINGER, 0));
        let mut scratch = [0u8; 2048];
        loop {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                    drained += rb.filled().len();
                    self.linger_state = Some((until, drained));
                    if drained >= LINGER_BYTES {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {
                    let deadline_changed = self.timer_deadline != Some(until);
                    if deadline_changed {
                        match self.timer.as_mut() {
                            Some(t) => t.as_mut().reset(until),
                            None => self.timer = Some(Box::pin(tokio::time::sleep_until(until))),
                        }
                        self.timer_deadline = Some(until);
                    }
                    let pending = match self.timer.as_mut() {
                        Some(t) => t.as_mut().poll(cx).is_pending(),
                        None => false,
                    };
                    return if pending {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    };
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track_write(cx, res)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track_write(cx, res)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        if !matches!(flushed, Poll::Ready(Ok(())))
            || !this.conn.close_after_flush.load(Ordering::Acquire)
        {
            return flushed;
        }
        this.linger = !this.eof;
        if Pin::new(&mut *this).poll_shutdown(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Err(io::Error::other(
            "connection closed after a response cut at its total_len",
        )))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shutdown_done {
            match Pin::new(&mut this.inner).poll_shutdown(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => this.shutdown_done = true,
            }
        }
        if this.linger && !this.eof {
            if this.poll_linger(cx).is_pending() {
                return Poll::Pending;
            }
            this.linger = false;
        }
        Poll::Ready(Ok(()))
    }
}
