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
mod conn;
mod deadline;
mod field_rules;
mod framing;
mod park;
#[cfg(test)]
mod park_tests;
pub(crate) mod parse;
mod read;
pub(crate) mod target;
#[cfg(test)]
mod tests;
mod write;

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::StatusCode;
use tokio::time::{Instant, Sleep};

use crate::config::{Limits, Timeouts};

use chunked::ChunkedTracker;
pub use conn::{ConnGuard, FinishOnEnd, Idle, RequestDone, MIN_IDLE_MS};
use parse::{HeadScanner, Rejection};
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
/// into a RST that destroys the rejection before the client reads it. A client that
/// sends a whole body before it reads (Python's `http.client`, so `requests`) is
/// still sending an oversized upload when its 413 goes out: 1 MiB used to cut it
/// short for a 10 MiB body (docs/internals/http.md, "Lingering close"). The same bounds drain
/// an HTTP/2 request body answered unread ([`crate::body::RequestBody`]).
pub(crate) const LINGER: Duration = Duration::from_secs(2);
pub(crate) const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// Reads per poll while lingering, before the task yields (a fast sender must not
/// hold the runtime thread for the whole drain).
const LINGER_READS_PER_POLL: usize = 64;
/// How long a kept-alive connection waits for its next request with hyper in front before it
/// is parked (docs/internals/http.md, "Parked connections"): far above the gap between
/// back-to-back requests of a loaded client (well under 1 ms here, a few ms when the machine is
/// overloaded), so busy connections keep their hyper state, and short enough that a crowd of
/// idle connections holds few hyper buffers at once.
pub const PARK_AFTER_MS: u64 = 50;

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
    /// A connection idle this long between requests gives hyper back its IO and is parked
    /// ([`PARK_AFTER_MS`]; 0 = never).
    pub park_after_ms: u64,
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
            park_after_ms: PARK_AFTER_MS,
        }
    }

    /// Longest head the guard can pass: leading empty lines, request line,
    /// field lines with their CRLFs, final CRLF.
    pub fn max_head_len(&self) -> usize {
        let request_line =
            parse::MAX_METHOD_LEN + 1 + self.max_uri_len.min(target::MAX_HYPER_URI) + 1 + 8 + 2;
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
    /// Idle for `park_after_ms`: ask the connection loop to park the connection.
    Park,
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
    /// Shared by every connection of a server: a parked connection's state stays small.
    limits: Arc<GuardLimits>,
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
    /// No write since hyper's last completed flush: hyper holds no unsent bytes.
    flushed: bool,
    /// Parking asked for ([`Expiry::Park`]) and not yet done: hyper's shutdown of the IO is
    /// then not passed on (the IO is taken back, not closed).
    park_requested: bool,
    /// Parked: no hyper in front, waiting for the socket ([`GuardedIo::poll_parked`]).
    parked: bool,
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
    pub fn new(inner: T, conn: Arc<ConnGuard>, limits: impl Into<Arc<GuardLimits>>) -> Self {
        let now = Instant::now();
        GuardedIo {
            inner,
            conn,
            limits: limits.into(),
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
            flushed: true,
            park_requested: false,
            parked: false,
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
}
