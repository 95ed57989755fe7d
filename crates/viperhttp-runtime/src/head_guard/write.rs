//! The writer side of [`GuardedIo`]: writes pass straight through, timed by `send_timeout_ms`;
//! `close_after_flush` and the lingering close after a rejection (RFC 9112 §9.6) live here
//! (docs/internals/http.md, "Slow, stuck and crowding clients").

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::stats::ServerStats;

use super::{GuardedIo, LINGER, LINGER_BYTES, LINGER_READS_PER_POLL};

impl<T> GuardedIo<T> {
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
}

impl<T: AsyncRead + AsyncWrite + Unpin> GuardedIo<T> {
    /// Lingering close: after our FIN, read and drop input until the client
    /// closes, `LINGER` passes or `LINGER_BYTES` were drained.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (until, mut drained) = *self
            .linger_state
            .get_or_insert_with(|| (Instant::now() + LINGER, 0));
        let mut scratch = [0u8; 16 * 1024];
        let mut reads = 0;
        loop {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                    drained += rb.filled().len();
                    self.linger_state = Some((until, drained));
                    if drained >= LINGER_BYTES || Instant::now() >= until {
                        return Poll::Ready(());
                    }
                    reads += 1;
                    if reads >= LINGER_READS_PER_POLL {
                        cx.waker().wake_by_ref(); // more may be readable: come back after others ran
                        return Poll::Pending;
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
        this.flushed = false;
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track_write(cx, res)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.flushed = false;
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track_write(cx, res)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        if !matches!(flushed, Poll::Ready(Ok(()))) {
            return flushed;
        }
        if !this.conn.close_after_flush.load(Ordering::Acquire) {
            // hyper flushes only once its own write buffer is empty: nothing of the
            // response is left in hyper (parking drops hyper's buffers).
            this.flushed = true;
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
        if this.park_requested {
            // hyper closing an idle connection we are parking: the IO is taken back from
            // hyper instead (docs/internals/http.md, "Parked connections").
            return Poll::Ready(Ok(()));
        }
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
