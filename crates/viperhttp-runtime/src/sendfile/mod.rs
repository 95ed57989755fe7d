//! Zero-copy static bodies: sendfile(2) from the file to the socket, under hyper
//! (docs/internals/static-files.md#sendfile). Users: static mounts (`service/pipeline.rs`) and
//! `FileResponse` (`service/forward.rs`), both through `static_files`, which decides per file.
//!
//! hyper has no sendfile hook: hyperium/hyper#140 ("sendfile support", closed: "tricky with
//! non-blocking IO, and doesn't work over HTTPS or with HTTP/2") and hyperium/hyper#3026
//! ("non-`Buf` body chunks", open) are where it stands. We keep hyper for the HTTP/1 framing and
//! cut in below it, in the connection's IO:
//!
//! 1. [`SendfileBody`] yields, for each piece of a file range, a `Bytes` frame that points into
//!    the *sentinel region* (an anonymous read-only mapping that nothing ever reads, so it costs
//!    address space, not memory) and pushes the job `(file, offset, len)` onto the connection's
//!    [`SendfileJobs`] FIFO.
//! 2. hyper buffers the frame untouched (write strategy "queue", because [`SendfileIo`] is
//!    write-vectored) and hands it to `poll_write_vectored` as one `IoSlice`, after the head.
//! 3. [`SendfileIo`] writes ordinary slices with `writev` and turns each sentinel slice into
//!    sendfile(2) calls for the front job (`io.rs`), honouring partial writes and readiness.
//!
//! Only plain-TCP HTTP/1 connections get a FIFO ([`attach`]): TLS has no socket to send the
//! plaintext file to and HTTP/2 frames bodies itself, so both keep the read path (`FileBody`).
//! A sentinel slice that reaches a write with no matching job fails the write, which closes the
//! connection: the region's zeros are never sent.

mod io;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::File;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use memmap2::{Mmap, MmapOptions};
use parking_lot::Mutex;

use crate::service::ConnInfo;
use crate::stats::ServerStats;

pub(crate) use io::{SendfileIo, SendfileSocket};

/// Bytes one body frame stands for at most: the sentinel region's length. A 1 MiB frame keeps
/// hyper's per-frame work (poll, queue, flush) negligible next to the bytes it moves, and bounds
/// how long one write call keeps sending before it returns to hyper.
pub const FRAME_MAX: usize = 1 << 20;

static REGION: OnceLock<Option<Mmap>> = OnceLock::new();

/// The sentinel region, mapped on first use; `None` when the mapping failed (every connection
/// then keeps the read path, and a WARN line says why).
fn region() -> Option<&'static [u8]> {
    REGION
        .get_or_init(|| {
            // memmap2 rather than a `static [u8; N]`: a zeroed immutable static lands in
            // .rodata and would add FRAME_MAX bytes to the extension module.
            let mapped = MmapOptions::new()
                .len(FRAME_MAX)
                .map_anon()
                .and_then(|m| m.make_read_only());
            match mapped {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(error = %e, "sendfile region unavailable; static files use the read path");
                    None
                }
            }
        })
        .as_deref()
}

/// Where `slice` starts inside the sentinel region, if it points into it.
fn sentinel_offset(slice: &[u8]) -> Option<usize> {
    let region = REGION.get()?.as_deref()?;
    let start = region.as_ptr() as usize;
    let at = (slice.as_ptr() as usize).checked_sub(start)?;
    (at < region.len() && !slice.is_empty()).then_some(at)
}

/// One file piece a sentinel frame stands for.
struct Job {
    file: Arc<File>,
    offset: u64,
    len: usize,
    /// Bytes of it already sent (hyper advanced its frame by as many).
    sent: usize,
}

/// The piece the front sentinel slice stands for, ready to send.
pub(crate) struct Piece {
    pub(crate) file: Arc<File>,
    /// File offset of the next unsent byte.
    pub(crate) offset: u64,
    /// Bytes left in the piece.
    pub(crate) len: usize,
}

/// A connection's FIFO of file pieces, in the order their frames were yielded (= written: hyper
/// writes one response at a time and each body's frames in order). Shared by the bodies that push
/// and the [`SendfileIo`] that sends; both run in the connection's task, so the lock never waits.
pub struct SendfileJobs {
    queue: Mutex<VecDeque<Job>>,
    stats: Arc<ServerStats>,
}

impl std::fmt::Debug for SendfileJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendfileJobs")
            .field("queued", &self.queue.lock().len())
            .finish()
    }
}

impl SendfileJobs {
    /// An empty FIFO; `stats` counts `static_sendfile_bytes`.
    pub fn new(stats: Arc<ServerStats>) -> Self {
        SendfileJobs {
            queue: Mutex::new(VecDeque::new()),
            stats,
        }
    }

    fn push(&self, file: Arc<File>, offset: u64, len: usize) {
        self.queue.lock().push_back(Job {
            file,
            offset,
            len,
            sent: 0,
        });
    }

    /// The front job, checked against the sentinel slice that stands for it: the slice must start
    /// where the job's unsent part starts and be exactly as long. `None` when there is no job or
    /// they disagree (the caller fails the write).
    pub(crate) fn front(&self, slice_at: usize, slice_len: usize) -> Option<Piece> {
        let queue = self.queue.lock();
        let job = queue.front()?;
        (slice_at == job.sent && slice_len == job.len - job.sent).then(|| Piece {
            file: Arc::clone(&job.file),
            offset: job.offset + job.sent as u64,
            len: slice_len,
        })
    }

    /// `n` more bytes of the front job went out; a finished job leaves the FIFO.
    pub(crate) fn advance(&self, n: usize) {
        ServerStats::add(&self.stats.static_sendfile_bytes, n as u64);
        let mut queue = self.queue.lock();
        if let Some(job) = queue.front_mut() {
            job.sent += n;
            if job.sent >= job.len {
                queue.pop_front();
            }
        }
    }

    /// Drop every job (the connection is failing; release the files now).
    pub(crate) fn clear(&self) {
        self.queue.lock().clear();
    }

    /// Jobs waiting (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.lock().len()
    }
}

/// Give `io` its sendfile layer. On a plain-TCP connection (and on Linux, with the sentinel
/// region mapped) the connection gets a job FIFO, stored in `conn` for static-file bodies (mounts
/// and `FileResponse`);
/// anywhere else the layer only passes writes through and `conn` gets none, so static bodies
/// keep the read path.
pub(crate) fn attach<IO: SendfileSocket>(
    io: IO,
    conn: &ConnInfo,
    stats: &Arc<ServerStats>,
) -> SendfileIo<IO> {
    let capable = cfg!(target_os = "linux") && io.sendfile_socket().is_some() && region().is_some();
    let jobs = capable.then(|| Arc::new(SendfileJobs::new(Arc::clone(stats))));
    if let Some(jobs) = &jobs {
        // Set once per connection, here only; an HTTP/2 connection never gets here.
        let _ = conn.sendfile.set(Arc::clone(jobs));
    }
    SendfileIo::new(io, jobs)
}

/// `len` bytes of `file` from `offset` as sentinel frames of at most [`FRAME_MAX`] bytes, each
/// pushed as a job onto the connection's FIFO when hyper takes it. No read, no copy: the bytes
/// leave with sendfile(2) when hyper writes the frame. A file that shrinks meanwhile fails the
/// write, not the body (`io.rs`).
pub(crate) struct SendfileBody {
    jobs: Arc<SendfileJobs>,
    file: Arc<File>,
    offset: u64,
    remaining: u64,
}

impl SendfileBody {
    /// Counts the response in `static_sendfile_responses`.
    pub(crate) fn new(jobs: Arc<SendfileJobs>, file: File, offset: u64, len: u64) -> Self {
        ServerStats::bump(&jobs.stats.static_sendfile_responses);
        SendfileBody {
            jobs,
            file: Arc::new(file),
            offset,
            remaining: len,
        }
    }
}

impl http_body::Body for SendfileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        // A FIFO exists only where the region was mapped (`attach`).
        let Some(region) = region() else {
            this.remaining = 0;
            return Poll::Ready(Some(Err(std::io::Error::other(
                "sendfile region unavailable",
            ))));
        };
        // At most FRAME_MAX, so the cast cannot truncate.
        let len = this.remaining.min(region.len() as u64) as usize;
        this.jobs.push(Arc::clone(&this.file), this.offset, len);
        this.offset += len as u64;
        this.remaining -= len as u64;
        let frame = Bytes::from_static(region.get(..len).unwrap_or_default());
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
