//! The reader side of [`GuardedIo`]: reads from the socket (straight into hyper's buffer when
//! nothing is pending, else through `rbuf`), frames what arrives, and decides what hyper sees
//! (bytes, the synthetic head of a rejection, or EOF).

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Buf;
use tokio::io::{AsyncRead, ReadBuf};

use crate::stats::ServerStats;

use super::conn::coarse_now_ms;
use super::{Expiry, GuardedIo, Idle, Phase, ReadOutcome, HOLD_CAP, READ_CHUNK, SYNTHETIC_HEAD};

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

impl<T> GuardedIo<T> {
    /// A read found the socket empty: publish how idle the connection is (connection
    /// pressure reads it), register the task's waker, and close the connection when it was
    /// asked to make room while idle. True when it was closed that way.
    pub(super) fn note_empty_read(&mut self, cx: &Context<'_>) -> bool {
        let idle = self.evictable();
        let was = self.conn.idle.swap(idle as u8, Ordering::AcqRel);
        if was != idle as u8 && idle != Idle::Busy {
            self.conn
                .idle_since_ms
                .store(coarse_now_ms(), Ordering::Release);
        }
        // Registered before the flag is read, so an eviction asked for from now on wakes us.
        self.conn.park(cx);
        if idle != Idle::Busy && self.conn.evict.load(Ordering::Acquire) {
            ServerStats::bump(&self.conn.stats.idle_evicted);
            tracing::debug!(target: "viperhttp::head_guard", "idle connection closed to make room");
            self.expire(Expiry::Silent);
            return true;
        }
        self.conn.evict.store(false, Ordering::Release);
        false
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
                    if this.note_empty_read(cx) {
                        continue;
                    }
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
