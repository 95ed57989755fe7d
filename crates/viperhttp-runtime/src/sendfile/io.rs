//! The IO layer under the head guard that sends sentinel slices with sendfile(2)
//! (docs/internals/static-files.md#sendfile).
//!
//! It sits directly above the socket (`GuardedIo<SendfileIo<Prefixed<TcpStream>>>`), so the
//! guard's send timeout and close-after-flush see its progress like any other write's.

use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{sentinel_offset, SendfileJobs};
use crate::http2::sniff::Prefixed;

/// The TCP socket under an IO, when writes reach it unchanged (plain TCP); `None` for TLS.
pub(crate) trait SendfileSocket {
    fn sendfile_socket(&self) -> Option<&TcpStream>;
}

impl SendfileSocket for TcpStream {
    fn sendfile_socket(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl<IO> SendfileSocket for tokio_rustls::server::TlsStream<IO> {
    fn sendfile_socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl<IO: SendfileSocket> SendfileSocket for Prefixed<IO> {
    // The prefix only replays read bytes; writes go to the inner IO as they are.
    fn sendfile_socket(&self) -> Option<&TcpStream> {
        self.get_ref().sendfile_socket()
    }
}

/// Where the mixed writer puts its pieces: the socket, or a test double (`tests.rs`).
pub(crate) trait Sink {
    /// `more`: file bytes follow at once, so the kernel may hold these for the same segment.
    fn poll_writev(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        more: bool,
    ) -> Poll<io::Result<usize>>;
    /// One sendfile(2) of up to `len` bytes of `file` from `offset`, once writable.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>>;
}

/// A write of `bufs` in which at least one slice is a sentinel slice. Ordinary runs go out with
/// `writev`, each sentinel slice with sendfile(2) of the front job; the bytes written are counted
/// across both, and the first short write, `Pending` or error ends the call (an error only when
/// nothing was written yet: hyper retries the rest and meets it again). So hyper's view of what
/// was written and the FIFO's always agree, and the next call's first sentinel slice is again the
/// front job.
pub(crate) fn poll_mixed<S: Sink>(
    sink: &mut S,
    jobs: &SendfileJobs,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let mut written = 0usize;
    // What to return when a step cannot go on: the bytes so far, else the step's own outcome.
    let stop = |written: usize, outcome: Poll<io::Result<usize>>| {
        if written > 0 {
            Poll::Ready(Ok(written))
        } else {
            outcome
        }
    };
    let mut i = 0;
    while let Some(first) = bufs.get(i) {
        let Some(at) = sentinel_offset(first) else {
            // An ordinary run up to the next sentinel slice.
            let end = bufs[i..]
                .iter()
                .position(|b| sentinel_offset(b).is_some())
                .map_or(bufs.len(), |p| i + p);
            let run = &bufs[i..end];
            let want: usize = run.iter().map(|b| b.len()).sum();
            if want > 0 {
                match sink.poll_writev(cx, run, end < bufs.len()) {
                    Poll::Ready(Ok(n)) => {
                        written += n;
                        if n < want {
                            return Poll::Ready(Ok(written));
                        }
                    }
                    other => return stop(written, other),
                }
            }
            i = end;
            continue;
        };
        let Some(mut piece) = jobs.front(at, first.len()) else {
            if written == 0 {
                jobs.clear();
                tracing::error!(
                    "sendfile frame without its file job; connection closed instead of sending it"
                );
            }
            return stop(
                written,
                Poll::Ready(Err(io::Error::other(
                    "sendfile frame without a matching job",
                ))),
            );
        };
        while piece.len > 0 {
            match sink.poll_sendfile(cx, &piece.file, piece.offset, piece.len) {
                Poll::Ready(Ok(0)) => {
                    if written == 0 {
                        jobs.clear();
                        tracing::warn!(
                            offset = piece.offset,
                            missing = piece.len,
                            "static file shrank while being sent; connection closed"
                        );
                    }
                    return stop(
                        written,
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "static file shrank while being sent",
                        ))),
                    );
                }
                Poll::Ready(Ok(n)) => {
                    let n = n.min(piece.len);
                    jobs.advance(n);
                    written += n;
                    piece.offset += n as u64;
                    piece.len -= n;
                }
                other => return stop(written, other),
            }
        }
        i += 1;
    }
    Poll::Ready(Ok(written))
}

/// The layer: `IO` with sentinel slices sent by sendfile(2). Without a FIFO (TLS, off Linux) it
/// only passes writes through, and refuses a sentinel slice rather than write the region's zeros.
#[derive(Debug)]
pub(crate) struct SendfileIo<IO> {
    inner: IO,
    jobs: Option<Arc<SendfileJobs>>,
}

impl<IO> SendfileIo<IO> {
    pub(crate) fn new(inner: IO, jobs: Option<Arc<SendfileJobs>>) -> Self {
        SendfileIo { inner, jobs }
    }
}

/// The real sink: `writev` through the IO, sendfile(2) to its TCP socket.
struct Socket<'a, IO>(&'a mut IO);

impl<IO: AsyncWrite + SendfileSocket + Unpin> Sink for Socket<'_, IO> {
    fn poll_writev(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        more: bool,
    ) -> Poll<io::Result<usize>> {
        // A head right before its file: MSG_MORE lets the kernel put it in the first data
        // segment rather than send it alone (TCP_NODELAY is on), as nginx's `tcp_nopush` does.
        let tcp = match self.0.sendfile_socket() {
            Some(tcp) if more && cfg!(target_os = "linux") => tcp,
            _ => return Pin::new(&mut *self.0).poll_write_vectored(cx, bufs),
        };
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_io(tokio::io::Interest::WRITABLE, || send_more(tcp, bufs)) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let Some(tcp) = self.0.sendfile_socket() else {
            return Poll::Ready(Err(io::Error::other("no TCP socket to sendfile to")));
        };
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            // `try_io` clears the readiness on WouldBlock, so the next poll waits for the socket.
            match tcp.try_io(tokio::io::Interest::WRITABLE, || {
                send_file(tcp, file, offset, len)
            }) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                done => return Poll::Ready(done),
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn send_file(tcp: &TcpStream, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut at = offset;
    Ok(rustix::fs::sendfile(tcp, file, Some(&mut at), len)?)
}

#[cfg(target_os = "linux")]
fn send_more(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendFlags};
    let flags = SendFlags::MORE | SendFlags::NOSIGNAL;
    Ok(sendmsg(
        tcp,
        bufs,
        &mut SendAncillaryBuffer::default(),
        flags,
    )?)
}

#[cfg(not(target_os = "linux"))]
fn send_more(_: &TcpStream, _: &[IoSlice<'_>]) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
fn send_file(_: &TcpStream, _: &File, _: u64, _: usize) -> io::Result<usize> {
    // `attach` gives no FIFO off Linux, so no sentinel frame is ever made there.
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

fn refuse_sentinel() -> Poll<io::Result<usize>> {
    tracing::error!("sendfile frame on a connection without sendfile; connection closed");
    Poll::Ready(Err(io::Error::other(
        "sendfile frame on a connection without sendfile",
    )))
}

impl<IO: AsyncRead + Unpin> AsyncRead for SendfileIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + SendfileSocket + Unpin> AsyncWrite for SendfileIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if sentinel_offset(buf).is_none() {
            return Pin::new(&mut self.get_mut().inner).poll_write(cx, buf);
        }
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !bufs.iter().any(|b| sentinel_offset(b).is_some()) {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        match &this.jobs {
            Some(jobs) => poll_mixed(&mut Socket(&mut this.inner), jobs, cx, bufs),
            None => refuse_sentinel(),
        }
    }

    fn is_write_vectored(&self) -> bool {
        // With a FIFO hyper must queue body frames (not copy them into its head buffer), or the
        // sentinel slices would turn into plain bytes.
        self.jobs.is_some() || self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
