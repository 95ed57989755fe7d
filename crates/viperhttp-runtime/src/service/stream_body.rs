//! The body of a streamed response from Python: `STREAM` frames as the dispatcher delivers
//! them, until the `FINAL` frame (docs/internals/ipc.md docs/internals/static-files.md, "Framing of
//! `RESP_HTTP`"). It enforces the framing the runtime owns: a body longer than its `total_len` is
//! cut there, and a short or aborted stream closes the connection once the bytes already produced
//! went out (docs/internals/http.md, "`total_len` disagreements"). Dropped early (the client left),
//! its [`InFlight`] guard cancels the request id.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame as BodyFrame;
use viperhttp_ipc::flags;

use super::forward::InFlight;
use crate::body::BodyError;
use crate::head_guard::ConnGuard;
use crate::pending::Slot;
use crate::stats::ServerStats;
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
pub(super) struct IpcStreamBody {
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
    /// The body after the first frame: `first` (its bytes, possibly empty), then what
    /// `slot` delivers. `remaining` is the `total_len` still owed (`None`: chunked);
    /// `idle` the `stream_idle_timeout_ms` between frames.
    pub(super) fn new(
        conn: Arc<ConnGuard>,
        first: Bytes,
        slot: Arc<Slot>,
        guard: InFlight,
        remaining: Option<u64>,
        idle: Option<Duration>,
    ) -> Self {
        IpcStreamBody {
            cut: Cut::No,
            conn,
            pending_first: (!first.is_empty()).then_some(first),
            slot,
            guard: Some(guard),
            remaining,
            idle,
            sleep: None,
        }
    }

    fn emit(&mut self, mut data: Bytes) -> Result<Bytes, BodyError> {
        if let Some(rem) = self.remaining.as_mut() {
            if data.len() as u64 > *rem {
                // More than total_len: write exactly total_len bytes, then close
                // (docs/internals/ipc.md).
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
                        // docs/internals/ipc.md: log and close; the client gets every byte
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
