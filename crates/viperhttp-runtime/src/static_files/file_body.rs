//! A streamed body over one opened file (docs/internals/static-files.md#transfer): positional 64
//! KiB reads on the blocking pool, from the handle opened for the request, so a concurrent replace
//! (rename over the file) never mixes two versions into one response.
//!
//! `pread` into a fresh buffer per chunk, handed to hyper as `Bytes` without
//! a copy; `tokio::fs::File` would copy each chunk once more out of its own
//! buffer and keep a seek position we do not need.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Bytes per read (docs/internals/static-files.md#transfer: 64 KiB reads).
pub(crate) const CHUNK: u64 = 64 * 1024;

/// `len` bytes of `file` from `offset`, read chunk by chunk as hyper polls.
/// A read error, or the file ending early (truncated meanwhile), fails the
/// body, which makes hyper close the connection (docs/internals/static-files.md#transfer).
pub(crate) struct FileBody {
    file: Arc<File>,
    handle: Handle,
    offset: u64,
    remaining: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    /// A body over `len` bytes from `offset`. `handle` runs the reads.
    pub(crate) fn new(file: File, handle: Handle, offset: u64, len: u64) -> Self {
        Self {
            file: Arc::new(file),
            handle,
            offset,
            remaining: len,
            pending: None,
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(pending) = this.pending.as_mut() {
                let joined = ready!(Pin::new(pending).poll(cx));
                this.pending = None;
                let chunk = match joined {
                    Ok(Ok(chunk)) => chunk,
                    Ok(Err(e)) => {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Err(join) => {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(io::Error::other(join))));
                    }
                };
                if chunk.is_empty() {
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "static file shrank while being sent",
                    ))));
                }
                let n = chunk.len() as u64;
                this.offset += n;
                this.remaining = this.remaining.saturating_sub(n);
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            if this.remaining == 0 {
                return Poll::Ready(None);
            }
            // At most CHUNK (64 KiB), so the cast cannot truncate.
            let want = this.remaining.min(CHUNK) as usize;
            let file = Arc::clone(&this.file);
            let offset = this.offset;
            this.pending = Some(this.handle.spawn_blocking(move || {
                let mut buf = vec![0u8; want];
                let got = file.read_at(&mut buf, offset)?;
                buf.truncate(got);
                Ok(Bytes::from(buf))
            }));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.pending.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
