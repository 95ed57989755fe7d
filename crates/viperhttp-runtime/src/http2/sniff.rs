//! Telling HTTP/2 prior knowledge from HTTP/1.1 on one port (docs/internals/tls-http2.md,
//! "Cleartext HTTP/2"): the first bytes of a connection are read until they
//! either leave the 24-byte client preface or complete it; [`Prefixed`] then
//! hands those bytes to whichever protocol serves the connection, as if they
//! had never been read.
//!
//! With HTTP/2 off, a preface is answered the way the original answered it:
//! SETTINGS (`HEADER_TABLE_SIZE=0`, `ENABLE_PUSH=0`) and GOAWAY
//! `HTTP_1_1_REQUIRED`, then close ([`refuse_http2`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection are.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// The full HTTP/2 preface.
    Http2,
    /// Anything else (served as HTTP/1.x).
    Http1,
    /// EOF, an error, or the deadline passed while the bytes still matched the
    /// preface: close without an answer.
    Closed,
}

/// Bytes read per sniffing read (most requests fit in the first one).
const SNIFF_READ: usize = 4096;

/// Read from `io` into `buf` until the bytes diverge from [`PREFACE`] or
/// complete it, or until `deadline`. `waiting(true)` is called each time a
/// read finds the socket empty, `waiting(false)` when bytes arrive (the
/// connection-pressure idle rule, docs/internals/http.md).
pub async fn sniff<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
    deadline: Option<Instant>,
    waiting: &(dyn Fn(bool) + Send + Sync),
) -> Sniffed {
    loop {
        let n = buf.len().min(PREFACE.len());
        let seen = buf.get(..n).unwrap_or_default();
        if seen != PREFACE.get(..n).unwrap_or_default() {
            return Sniffed::Http1;
        }
        if n == PREFACE.len() {
            return Sniffed::Http2;
        }
        let read = std::future::poll_fn(|cx| {
            // On the stack of one poll only: a buffer held across the await would sit in
            // every connection task's future for the connection's whole life.
            let mut chunk = [0u8; SNIFF_READ];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Pending => {
                    waiting(true);
                    Poll::Pending
                }
                Poll::Ready(r) => {
                    waiting(false);
                    let got = rb.filled();
                    buf.extend_from_slice(got);
                    Poll::Ready(r.map(|()| got.len()))
                }
            }
        });
        let got = match deadline {
            None => read.await,
            Some(at) => match tokio::time::timeout_at(at, read).await {
                Ok(r) => r,
                Err(_) => return Sniffed::Closed,
            },
        };
        match got {
            Ok(0) | Err(_) => return Sniffed::Closed,
            Ok(_) => {}
        }
    }
}

/// An IO that first replays bytes already read from `inner`.
#[derive(Debug)]
pub struct Prefixed<IO> {
    prefix: Bytes,
    inner: IO,
}

impl<IO> Prefixed<IO> {
    /// `inner` with `prefix` in front of what it will read.
    pub fn new(prefix: Bytes, inner: IO) -> Self {
        Prefixed { prefix, inner }
    }

    /// The wrapped IO.
    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

/// Hands `out` as much of `read_ahead` (bytes read before the protocol was known, handed on
/// as if never read) as fits; the rest stays for the next read. Also [`super::upgrade`]'s.
pub(super) fn put_read_ahead(read_ahead: &mut impl Buf, out: &mut ReadBuf<'_>) {
    let n = read_ahead.remaining().min(out.remaining());
    out.put_slice(read_ahead.chunk().get(..n).unwrap_or_default());
    read_ahead.advance(n);
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            put_read_ahead(&mut this.prefix, out);
            if this.prefix.is_empty() {
                // An emptied `Bytes` still holds its whole allocation (the first read of the
                // connection): let it go, it would otherwise live as long as the connection.
                this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, out)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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

/// SETTINGS (HEADER_TABLE_SIZE=0, ENABLE_PUSH=0) then GOAWAY(last stream 0,
/// HTTP_1_1_REQUIRED = 0xd): the answer to a preface while HTTP/2 is off.
pub const HTTP11_REQUIRED: [u8; 21 + 17] = [
    // SETTINGS: length 12, type 0x4, flags 0, stream 0
    0, 0, 12, 0x4, 0, 0, 0, 0, 0, //
    0, 0x1, 0, 0, 0, 0, // HEADER_TABLE_SIZE = 0
    0, 0x2, 0, 0, 0, 0, // ENABLE_PUSH = 0
    // GOAWAY: length 8, type 0x7, flags 0, stream 0
    0, 0, 8, 0x7, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, // last stream id 0
    0, 0, 0, 0xd, // HTTP_1_1_REQUIRED
];

/// How long, and how much, to drain after the GOAWAY so the client reads it
/// instead of a reset caused by its own unread frames.
const DRAIN: Duration = Duration::from_millis(500);
const DRAIN_BYTES: usize = 64 * 1024;

/// Answer a preface with [`HTTP11_REQUIRED`] and close.
pub async fn refuse_http2<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) {
    if io.write_all(&HTTP11_REQUIRED).await.is_err() || io.flush().await.is_err() {
        return;
    }
    let _ = io.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let until = Instant::now() + DRAIN;
    while drained < DRAIN_BYTES {
        match tokio::time::timeout_at(until, io.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(input: &[u8]) -> (Sniffed, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(input).await.unwrap();
        drop(client);
        let mut buf = BytesMut::new();
        let s = sniff(&mut server, &mut buf, None, &|_| {}).await;
        (s, buf.to_vec())
    }

    #[tokio::test]
    async fn recognises_the_preface_and_keeps_every_byte() {
        let mut input = PREFACE.to_vec();
        input.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
        let (s, buf) = run(&input).await;
        assert_eq!(s, Sniffed::Http2);
        assert_eq!(buf, input);
    }

    #[tokio::test]
    async fn http1_is_told_apart_at_the_first_differing_byte() {
        assert_eq!(run(b"GET / HTTP/1.1\r\n\r\n").await.0, Sniffed::Http1);
        assert_eq!(run(b"PUT / HTTP/1.1\r\n\r\n").await.0, Sniffed::Http1);
        // A truncated preface then EOF: nothing to answer.
        assert_eq!(run(b"PRI * HTTP/2").await.0, Sniffed::Closed);
        assert_eq!(run(b"").await.0, Sniffed::Closed);
    }

    #[tokio::test]
    async fn a_stalled_preface_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"PRI * ").await.unwrap();
        let mut buf = BytesMut::new();
        let at = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            sniff(&mut server, &mut buf, Some(at), &|_| {}).await,
            Sniffed::Closed
        );
    }

    #[tokio::test]
    async fn prefixed_replays_then_reads_through() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut io = Prefixed::new(Bytes::from_static(b"hello"), server);
        let mut out = String::new();
        io.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }
}
