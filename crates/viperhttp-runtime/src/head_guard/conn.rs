//! The per-connection state the head guard shares with the service (docs/internals/http.md):
//! the verdict FIFO, the request lifecycle counters, upgrade and close flags, and the idle
//! state connection pressure reads; plus the tokens that mark the end of a response.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::stats::ServerStats;

use super::Verdict;

/// Per-connection state shared by the [`GuardedIo`] (producer of verdicts)
/// and the service (consumer, request lifecycle).
pub struct ConnGuard {
    pub(super) verdicts: Mutex<VecDeque<Verdict>>,
    pub(super) started: AtomicU64,
    pub(super) finished: AtomicU64,
    pub(super) upgraded: AtomicBool,
    /// Set by a response body that must end the connection once its bytes are
    /// out although hyper's framing is complete (docs/internals/ipc.md: a stream longer
    /// than its `total_len` is cut there and the connection closed).
    pub(super) close_after_flush: AtomicBool,
    /// A chunk size went past `max_body_size`: the body was cut there (see
    /// [`ConnGuard::body_too_large`]).
    pub(super) body_too_large: AtomicBool,
    /// Whether the connection may be closed to make room ([`Idle`] as a `u8`): set by
    /// the reader each time a read finds the socket empty, so a connection whose
    /// request sits unread in the kernel is never taken for idle.
    pub(super) idle: AtomicU8,
    /// When `idle` last became idle ([`coarse_now_ms`]).
    pub(super) idle_since_ms: AtomicU64,
    /// Set by [`ConnGuard::evict_if_idle`]: close at once if still idle.
    pub(super) evict: AtomicBool,
    /// Set by the reader when the connection has been idle long enough to park; taken by
    /// the connection loop right after hyper's poll ([`ConnGuard::take_park_request`]).
    pub(super) park_wanted: AtomicBool,
    /// Set once by [`ConnGuard::request_stop`] when the server stops.
    pub(super) stop: AtomicBool,
    pub(super) waker: Mutex<Option<Waker>>,
    pub(super) stats: Arc<ServerStats>,
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
            park_wanted: AtomicBool::new(false),
            stop: AtomicBool::new(false),
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

    /// The server is stopping: the connection finishes its request in progress and closes
    /// (docs/internals/http.md, "Stopping"). Delivered through the guard, not a shared
    /// `watch` channel, because the connection loop checks it on every poll: a flag costs a
    /// load there, a channel's waiter list a lock shared by every connection and thread.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// Whether [`request_stop`](Self::request_stop) was called.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
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

    /// Whether the reader asked, during hyper's last poll, for the connection to be parked
    /// (docs/internals/http.md, "Parked connections"); clears the request.
    pub fn take_park_request(&self) -> bool {
        // Asked on every poll of the connection and almost always false: a plain load first
        // spares the locked read-modify-write.
        self.park_wanted.load(Ordering::Acquire) && self.park_wanted.swap(false, Ordering::AcqRel)
    }

    /// A parked connection has no request in flight: give back the verdict queue's memory
    /// (the next request allocates it again).
    pub(super) fn release_idle_memory(&self) {
        let mut verdicts = self.verdicts.lock();
        if verdicts.is_empty() {
            *verdicts = VecDeque::new();
        }
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

    pub(super) fn push(&self, v: Verdict) {
        self.verdicts.lock().push_back(v);
    }

    pub(super) fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(super) fn park(&self, cx: &Context<'_>) {
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
pub(super) fn coarse_now_ms() -> u64 {
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
