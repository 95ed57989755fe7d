//! Parking idle connections (docs/internals/http.md, "Parked connections"): a kept-alive
//! connection idle for `park_after_ms` asks the connection loop (`crate::http1`) to take its IO
//! back from hyper, which frees hyper's buffers; the guard drops its own read buffer and waits
//! for the socket with no buffer at all. The guard's state (verdicts, counts, deadlines,
//! eviction) lives on across parks, so the next hyper connection continues where the last
//! one stopped.
//!
//! The steps, each owned here:
//! 1. the reader's deadline [`Expiry::Park`](super::Expiry) fires → [`GuardedIo::request_park`];
//! 2. the loop sees [`ConnGuard::take_park_request`](super::ConnGuard::take_park_request), calls
//!    hyper's `graceful_shutdown` (on an idle hyper connection: closed without a write), hyper's
//!    shutdown of the IO is not passed on while the park is requested;
//! 3. with hyper's `into_parts`, [`GuardedIo::park`] takes what hyper read and did not process;
//! 4. [`GuardedIo::poll_parked`] waits; when it returns, the loop builds a new hyper connection.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

use super::{GuardedIo, Phase, READ_CHUNK};

impl<T> GuardedIo<T> {
    /// When the connection may be parked, if it is parkable now: waiting for the next head
    /// with nothing of it read, every request answered, hyper's writes flushed, nothing
    /// buffered. Counted from the later of the last response's end and the last write.
    pub(super) fn park_deadline(&self) -> Option<Instant> {
        let parkable = self.limits.park_after_ms > 0
            && !self.park_requested
            && !self.parked
            && matches!(self.phase, Phase::Head)
            && self.delivered > 0
            && self.idle()
            && self.flushed
            && !self.eof
            && self.rbuf.is_empty()
            && !self.head.has_content()
            && !self.conn.close_after_flush.load(Ordering::Acquire);
        parkable.then(|| {
            self.idle_since.max(self.last_write) + Duration::from_millis(self.limits.park_after_ms)
        })
    }

    /// Step 1: ask the connection loop to park this connection after hyper's current poll.
    pub(super) fn request_park(&mut self) {
        self.park_requested = true;
        self.conn.park_wanted.store(true, Ordering::Release);
    }

    /// Whether the socket's write side was shut down (the connection is over).
    pub fn is_shut_down(&self) -> bool {
        self.shutdown_done
    }

    /// The connection is not parked after all (hyper ended it, or the server stops): later
    /// shutdowns reach the socket again.
    pub fn cancel_park(&mut self) {
        self.park_requested = false;
        self.conn.park_wanted.store(false, Ordering::Release);
    }

    /// Step 3, after hyper was taken apart: `unread` is what hyper had read and not processed
    /// (already framed by the guard, so it is replayed to the next hyper connection as it is).
    /// Afterwards [`is_parked`](Self::is_parked) tells whether to wait for the socket, or
    /// to serve bytes already there at once.
    pub fn park(&mut self, unread: Bytes) {
        self.park_requested = false;
        if !unread.is_empty() {
            let mut rbuf = BytesMut::with_capacity(unread.len() + self.rbuf.len());
            rbuf.extend_from_slice(&unread);
            rbuf.extend_from_slice(&self.rbuf);
            self.rbuf = rbuf;
            self.ready += unread.len();
            return;
        }
        if !self.rbuf.is_empty() || self.ready > 0 {
            return;
        }
        // Release the capacity of past buffered reads; the next read allocates what it needs.
        self.rbuf = BytesMut::new();
        self.head.release();
        self.conn.release_idle_memory();
        self.parked = true;
        self.conn
            .stats
            .connections_parked
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Parked: waiting for the socket with no hyper in front ([`poll_parked`](Self::poll_parked)).
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    fn unpark(&mut self) {
        if std::mem::take(&mut self.parked) {
            self.conn
                .stats
                .connections_parked
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<T: AsyncRead + Unpin> GuardedIo<T> {
    /// Step 4: wait, holding no buffer, until the socket has bytes or EOF, the keep-alive
    /// deadline passes, or connection pressure asks the connection to close. Every case ends
    /// the park; the next hyper connection then reads what the guard decided (the bytes, or
    /// EOF for a closed connection), so closing works exactly as for an unparked connection.
    pub fn poll_parked(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // On the stack only during this call: a parked connection keeps no read buffer.
        let mut chunk = [0u8; READ_CHUNK];
        let mut rb = ReadBuf::new(&mut chunk);
        match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                self.eof = true;
                self.linger = false;
            }
            Poll::Ready(Ok(())) => {
                self.rbuf.extend_from_slice(rb.filled());
                self.rescan();
            }
            Poll::Ready(Err(e)) => {
                // As hyper would: the connection is over; nothing is left to answer.
                tracing::debug!(target: "viperhttp::head_guard", "parked connection: {e}");
                self.eof = true;
                self.linger = false;
            }
            Poll::Pending => {
                if let Some(kind) = self.poll_deadline(cx) {
                    self.expire(kind);
                } else if !self.note_empty_read(cx) {
                    return Poll::Pending;
                }
            }
        }
        self.unpark();
        Poll::Ready(())
    }
}

/// Stops counting a connection dropped while parked (server stop, runtime shutdown).
impl<T> Drop for GuardedIo<T> {
    fn drop(&mut self) {
        self.unpark();
    }
}
