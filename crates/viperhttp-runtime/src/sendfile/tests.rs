//! The job FIFO and the sentinel mapping: a test sink that takes a few bytes per call (partial
//! writes across slice and job boundaries, `Pending` in between), then the real layer over a
//! loopback socket.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, Bytes};
use http_body::Body;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::io::{poll_mixed, Sink};
use super::*;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A file with `data`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(data: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!(
            "viperhttp-sendfile-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        TempFile(path)
    }

    fn open(&self) -> File {
        File::open(&self.0).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn jobs() -> Arc<SendfileJobs> {
    assert!(region().is_some(), "the sentinel region maps");
    Arc::new(SendfileJobs::new(Arc::new(ServerStats::default())))
}

/// Every frame of a body, as hyper would take them.
fn frames(body: SendfileBody) -> Vec<Bytes> {
    let mut body = std::pin::pin!(body);
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    let mut out = Vec::new();
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        out.push(frame.unwrap().into_data().unwrap());
    }
    out
}

/// A sink that takes `steps` in turn: `Some(cap)` accepts up to `cap` bytes, `None` is
/// `Pending`. It never looks into a sentinel slice: getting one is a failure of the split.
struct Steps {
    steps: Vec<Option<usize>>,
    at: usize,
    out: Vec<u8>,
    calls: usize,
    /// Per writev: its first byte, and whether file bytes were said to follow.
    more: Vec<(u8, bool)>,
}

impl Steps {
    fn new(steps: Vec<Option<usize>>) -> Self {
        Steps {
            steps,
            at: 0,
            out: Vec::new(),
            calls: 0,
            more: Vec::new(),
        }
    }

    fn next(&mut self) -> Option<usize> {
        let step = self.steps[self.at % self.steps.len()];
        self.at += 1;
        self.calls += 1;
        step
    }
}

impl Sink for Steps {
    fn poll_writev(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        more: bool,
    ) -> Poll<io::Result<usize>> {
        self.more.push((bufs[0][0], more));
        assert!(
            bufs.iter().all(|b| sentinel_offset(b).is_none()),
            "a sentinel slice reached writev"
        );
        let Some(mut cap) = self.next() else {
            return Poll::Pending;
        };
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(cap);
            self.out.extend_from_slice(&b[..take]);
            n += take;
            cap -= take;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_sendfile(
        &mut self,
        _: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let Some(cap) = self.next() else {
            return Poll::Pending;
        };
        let mut buf = vec![0u8; len.min(cap)];
        let n = file.read_at(&mut buf, offset)?;
        self.out.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
}

/// hyper's side: offer what is left as slices, advance by what was written, until all is out
/// or the write fails. Returns the error, if any.
fn drive(sink: &mut Steps, jobs: &SendfileJobs, bufs: Vec<Bytes>) -> Option<io::Error> {
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    let mut bufs: VecDeque<Bytes> = bufs.into();
    let mut idle = 0;
    while !bufs.is_empty() {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        match poll_mixed(sink, jobs, &mut cx, &slices) {
            Poll::Pending => {
                idle += 1;
                assert!(idle < 1000, "no progress");
            }
            Poll::Ready(Err(e)) => return Some(e),
            Poll::Ready(Ok(mut n)) => {
                assert!(n > 0, "Ok(0) would make hyper fail with WriteZero");
                idle = 0;
                while n > 0 {
                    let front = bufs.front_mut().unwrap();
                    let take = front.len().min(n);
                    front.advance(take);
                    n -= take;
                    if front.is_empty() {
                        bufs.pop_front();
                    }
                }
            }
        }
    }
    None
}

#[test]
fn head_and_file_pieces_in_order_whatever_the_write_sizes() {
    let a_data = pattern(FRAME_MAX + FRAME_MAX / 2 + 7, 1); // two frames
    let b_data = pattern(1000, 2);
    let (a, b) = (TempFile::new(&a_data), TempFile::new(&b_data));
    let step_sets: Vec<Vec<Option<usize>>> = vec![
        vec![Some(usize::MAX)],
        vec![Some(4096), None, Some(1)],
        vec![Some(65_539), None],
        vec![None, Some(300_001), Some(3)],
    ];
    for steps in step_sets {
        let jobs = jobs();
        // Two responses on one connection, as hyper queues them: head, frames, head, frames.
        let mut bufs = vec![Bytes::from_static(b"HEAD-A\r\n\r\n")];
        bufs.extend(frames(SendfileBody::new(
            jobs.clone(),
            a.open(),
            0,
            a_data.len() as u64,
        )));
        bufs.push(Bytes::from_static(b"HEAD-B\r\n\r\n"));
        // A range: bytes 10..=509 of b.
        bufs.extend(frames(SendfileBody::new(jobs.clone(), b.open(), 10, 500)));
        assert_eq!(jobs.len(), 3);
        let mut sink = Steps::new(steps.clone());
        assert!(drive(&mut sink, &jobs, bufs).is_none(), "{steps:?}");
        let mut want = b"HEAD-A\r\n\r\n".to_vec();
        want.extend_from_slice(&a_data);
        want.extend_from_slice(b"HEAD-B\r\n\r\n");
        want.extend_from_slice(&b_data[10..510]);
        assert!(sink.out == want, "bytes differ with steps {steps:?}");
        assert_eq!(jobs.len(), 0, "every job done and gone");
        let sent = jobs.stats.static_sendfile_bytes.load(Ordering::Relaxed);
        assert_eq!(sent, (a_data.len() + 500) as u64);
        assert_eq!(
            jobs.stats.static_sendfile_responses.load(Ordering::Relaxed),
            2
        );
    }
}

#[test]
fn one_byte_writes_cross_every_boundary() {
    let data = pattern(37, 9);
    let file = TempFile::new(&data);
    let jobs = jobs();
    let mut bufs = vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")];
    bufs.extend(frames(SendfileBody::new(jobs.clone(), file.open(), 0, 20)));
    bufs.extend(frames(SendfileBody::new(jobs.clone(), file.open(), 20, 17)));
    bufs.push(Bytes::from_static(b"z"));
    let mut sink = Steps::new(vec![Some(1), None]);
    assert!(drive(&mut sink, &jobs, bufs).is_none());
    let mut want = b"abc".to_vec();
    want.extend_from_slice(&data);
    want.push(b'z');
    assert_eq!(sink.out, want);
    // The head before the file is sent with "more to come"; the bytes after it are not.
    let more: Vec<(u8, bool)> = sink.more.iter().copied().filter(|(_, m)| *m).collect();
    assert!(more.iter().all(|(b, _)| b"abc".contains(b)) && !more.is_empty());
    assert_eq!(sink.more.last(), Some(&(b'z', false)));
}

#[test]
fn pending_before_any_byte_is_pending_and_sends_nothing() {
    let file = TempFile::new(&pattern(10, 0));
    let jobs = jobs();
    let bufs = frames(SendfileBody::new(jobs.clone(), file.open(), 0, 10));
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let mut sink = Steps::new(vec![None]);
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    assert!(poll_mixed(&mut sink, &jobs, &mut cx, &slices).is_pending());
    assert!(sink.out.is_empty());
    assert_eq!(jobs.len(), 1, "the job waits for the next write");
}

#[test]
fn sentinel_slice_without_a_job_fails_after_the_bytes_before_it() {
    let file = TempFile::new(&pattern(10, 0));
    let made = jobs();
    let frame = frames(SendfileBody::new(made, file.open(), 0, 10));
    let empty = jobs(); // a FIFO that never saw the frame
    let bufs = vec![Bytes::from_static(b"head"), frame[0].clone()];
    let mut sink = Steps::new(vec![Some(usize::MAX)]);
    let err = drive(&mut sink, &empty, bufs).expect("the write fails");
    assert_eq!(err.to_string(), "sendfile frame without a matching job");
    assert_eq!(
        sink.out, b"head",
        "the head went out, never the region's zeros"
    );
}

#[test]
fn slice_that_disagrees_with_its_job_fails() {
    let file = TempFile::new(&pattern(100, 0));
    let jobs = jobs();
    let frame = frames(SendfileBody::new(jobs.clone(), file.open(), 0, 100));
    // hyper would never cut a frame short; if anything did, the lengths no longer match.
    let bufs = vec![frame[0].slice(0..50)];
    let mut sink = Steps::new(vec![Some(usize::MAX)]);
    assert!(drive(&mut sink, &jobs, bufs).is_some());
    assert!(sink.out.is_empty());
    assert_eq!(jobs.len(), 0, "the failing connection's files are released");
}

#[test]
fn file_that_shrank_fails_the_write_after_what_was_there() {
    let data = pattern(100, 3);
    let file = TempFile::new(&data);
    let jobs = jobs();
    let bufs = frames(SendfileBody::new(jobs.clone(), file.open(), 0, 100));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file.0)
        .unwrap()
        .set_len(60)
        .unwrap();
    let mut sink = Steps::new(vec![Some(usize::MAX)]);
    let err = drive(&mut sink, &jobs, bufs).expect("the write fails");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(sink.out, &data[..60]);
    assert_eq!(jobs.len(), 0);
}

#[test]
fn ordinary_bytes_are_never_taken_for_sentinel() {
    assert!(region().is_some());
    let heap = vec![0u8; 64];
    assert_eq!(sentinel_offset(&heap), None);
    assert_eq!(sentinel_offset(&[]), None);
    let r = region().unwrap();
    assert_eq!(sentinel_offset(&r[5..9]), Some(5));
    assert_eq!(sentinel_offset(&r[FRAME_MAX - 1..]), Some(FRAME_MAX - 1));
}

async fn socket_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    (accepted.unwrap().0, client.unwrap())
}

/// Write `bufs` through the layer the way hyper does (vectored, advancing by what was written).
async fn write_all_vectored<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bufs: Vec<Bytes>,
) -> io::Result<()> {
    let mut bufs: VecDeque<Bytes> = bufs.into();
    while !bufs.is_empty() {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let mut n = w.write_vectored(&slices).await?;
        assert!(n > 0);
        while n > 0 {
            let front = bufs.front_mut().unwrap();
            let take = front.len().min(n);
            front.advance(take);
            n -= take;
            if front.is_empty() {
                bufs.pop_front();
            }
        }
    }
    w.flush().await
}

#[tokio::test]
async fn real_socket_gets_head_and_file_through_sendfile() {
    let data = pattern(3 * FRAME_MAX + 12_345, 7);
    let file = TempFile::new(&data);
    let (server, mut client) = socket_pair().await;
    let jobs = jobs();
    let mut io = SendfileIo::new(server, Some(jobs.clone()));
    assert!(tokio::io::AsyncWrite::is_write_vectored(&io));
    let mut bufs = vec![Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n")];
    bufs.extend(frames(SendfileBody::new(
        jobs.clone(),
        file.open(),
        0,
        data.len() as u64,
    )));
    bufs.push(Bytes::from_static(b"after"));
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        got
    });
    write_all_vectored(&mut io, bufs).await.unwrap();
    drop(io);
    let got = reader.await.unwrap();
    let mut want = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    want.extend_from_slice(&data);
    want.extend_from_slice(b"after");
    assert!(
        got == want,
        "{} bytes received, {} expected",
        got.len(),
        want.len()
    );
    assert_eq!(
        jobs.stats.static_sendfile_bytes.load(Ordering::Relaxed),
        data.len() as u64
    );
}

#[tokio::test]
async fn layer_without_fifo_refuses_a_sentinel_slice() {
    let file = TempFile::new(&pattern(10, 0));
    let frame = frames(SendfileBody::new(jobs(), file.open(), 0, 10));
    let (server, mut client) = socket_pair().await;
    let mut io = SendfileIo::new(server, None);
    assert!(io.write_all(b"plain").await.is_ok(), "ordinary bytes pass");
    assert!(io.write_all(&frame[0]).await.is_err());
    assert!(io.write_vectored(&[IoSlice::new(&frame[0])]).await.is_err());
    drop(io);
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"plain");
}
