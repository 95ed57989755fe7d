//! Response demultiplexing (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol host
//! decision): one slot per in-flight request id, filled by the dispatcher task that drains the
//! response queue, awaited by the connection task that owns the request.
//!
//! The dispatcher copies each frame's header block and body out of the
//! response ring into `Bytes` and releases the ring region at once, so ring
//! space never waits on a slow socket; memory per request stays bounded by the
//! producer-side frame credit (`MAX_BUFFERED_FRAMES`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;
use viperhttp_ipc::{flags, Ipc, IpcMsg, MsgType};

use crate::stats::ServerStats;

/// What a [`Frame`] is. The two markers are the runtime's own and live outside `flags`,
/// which carries the producer's IPC flag bits unchanged (all eight are the wire's to use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A `RESP_HTTP` record: status, headers, body, flags.
    Data,
    /// A `RESP_FILE` record (docs/internals/ipc.md §2): `body` is the file's path, the
    /// runtime serves the file (`static_files::serve_file`). Always terminal.
    File,
    /// Synthetic: the response timeout fired before the first frame (`504`).
    TimedOut,
    /// Synthetic: the interpreter is gone (docs/internals/bridge.md#start-and-stop), answer
    /// `503 Service Unavailable` and close.
    Abandoned,
}

/// Period of the response-timeout sweep: a 504 comes at most this late.
pub const SWEEP_PERIOD: std::time::Duration = std::time::Duration::from_millis(25);

/// Frames a streaming producer may have buffered in the runtime per request
/// before it must wait (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol: 64).
pub const MAX_BUFFERED_FRAMES: usize = 64;

/// One response frame, copied out of the ring.
#[derive(Debug)]
pub struct Frame {
    /// HTTP status (first frame).
    pub status: u16,
    /// Raw `Name: value\r\n` header block (first frame).
    pub headers: Bytes,
    /// Body bytes of this frame.
    pub body: Bytes,
    /// IPC flags (`STREAM`, `FINAL`, `CHUNKED`, `ABORT`).
    pub flags: u8,
    /// Declared total length (first stream frame; 0 = unknown).
    pub total_len: u32,
    /// A response record, a file record, or one of the runtime's markers.
    pub kind: FrameKind,
}

impl Frame {
    /// Whether this frame ends its response.
    pub fn is_terminal(&self) -> bool {
        self.kind != FrameKind::Data
            || self.flags & flags::STREAM == 0
            || self.flags & (flags::FINAL | flags::ABORT) != 0
    }
}

/// Frames for one request, and the waker of the connection task that reads them.
#[derive(Default)]
pub struct Slot {
    state: Mutex<SlotState>,
    /// Coarse deadline (ms on the sweeper's clock) for the first frame; 0 = none.
    deadline_ms: AtomicU64,
    /// A frame arrived (the response has begun).
    started: AtomicBool,
}

#[derive(Default)]
struct SlotState {
    frames: Frames,
    waker: Option<Waker>,
}

/// The frames waiting in a slot, in order. Most responses are one frame, which waits in
/// `first`: a `VecDeque` allocates on its first push, one allocation per request for nothing.
#[derive(Default)]
struct Frames {
    first: Option<Frame>,
    rest: VecDeque<Frame>,
}

impl Frames {
    fn push_back(&mut self, frame: Frame) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(frame);
        } else {
            self.rest.push_back(frame);
        }
    }

    fn pop_front(&mut self) -> Option<Frame> {
        self.first.take().or_else(|| self.rest.pop_front())
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

impl Slot {
    /// Poll for the next frame (registers the task's waker when none is there).
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Frame> {
        let mut state = self.state.lock();
        match state.frames.pop_front() {
            Some(frame) => Poll::Ready(frame),
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// Wait for the next frame.
    pub async fn next(&self) -> Frame {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Frames buffered now.
    pub fn buffered(&self) -> usize {
        self.state.lock().frames.len()
    }

    /// Deliver the timeout marker if the deadline passed and no frame came —
    /// decided under the lock `push` takes, so a real first frame and the
    /// marker can never both be queued.
    fn expire(&self, now_ms: u64) {
        let waker = {
            let mut state = self.state.lock();
            let deadline = self.deadline_ms.load(Ordering::Relaxed);
            if deadline == 0 || deadline > now_ms {
                return;
            }
            self.deadline_ms.store(0, Ordering::Relaxed);
            state.frames.push_back(Frame {
                status: 0,
                headers: Bytes::new(),
                body: Bytes::new(),
                flags: 0,
                total_len: 0,
                kind: FrameKind::TimedOut,
            });
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The interpreter stopped: a request still waiting for its first frame gets
    /// the [`FrameKind::Abandoned`] marker; a stream in progress is cut (ABORT).
    fn abandon(&self) {
        let waker = {
            let mut state = self.state.lock();
            self.deadline_ms.store(0, Ordering::Relaxed);
            let waiting = !self.started.load(Ordering::Relaxed);
            state.frames.push_back(Frame {
                status: 0,
                headers: Bytes::new(),
                body: Bytes::new(),
                flags: if waiting {
                    0
                } else {
                    flags::STREAM | flags::ABORT | flags::FINAL
                },
                total_len: 0,
                kind: if waiting {
                    FrameKind::Abandoned
                } else {
                    FrameKind::Data
                },
            });
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn push(&self, frame: Frame) {
        let waker = {
            let mut state = self.state.lock();
            self.deadline_ms.store(0, Ordering::Relaxed); // a frame arrived: no 504 any more
            self.started.store(true, Ordering::Relaxed);
            state.frames.push_back(frame);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The map of in-flight request ids.
#[derive(Default)]
pub struct Pending {
    slots: Mutex<HashMap<u32, Arc<Slot>>>,
    /// Milliseconds since the server started, advanced by the sweeper: a
    /// request's deadline costs one atomic read instead of a clock read and a
    /// timer registration.
    clock_ms: AtomicU64,
    /// `response_timeout_ms` (0 = none).
    timeout_ms: AtomicU64,
}

impl Pending {
    /// Register a request before its message is pushed (so no frame can beat it).
    pub fn register(&self, id: u32, stats: &ServerStats) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        let timeout = self.timeout_ms.load(Ordering::Relaxed);
        if timeout > 0 {
            // +SWEEP_PERIOD: the clock lags real time by up to one period.
            let deadline =
                self.clock_ms.load(Ordering::Relaxed) + timeout + SWEEP_PERIOD.as_millis() as u64;
            slot.deadline_ms.store(deadline, Ordering::Relaxed);
        }
        let mut slots = self.slots.lock();
        slots.insert(id, slot.clone());
        let used = slots.len() as u64;
        drop(slots);
        stats.ipc_pending_used.store(used, Ordering::Relaxed);
        stats.ipc_pending_peak.fetch_max(used, Ordering::Relaxed);
        slot
    }

    /// Forget a request (terminal frame consumed, or aborted).
    pub fn remove(&self, id: u32, stats: &ServerStats) {
        let mut slots = self.slots.lock();
        slots.remove(&id);
        let used = slots.len() as u64;
        drop(slots);
        stats.ipc_pending_used.store(used, Ordering::Relaxed);
    }

    /// The connection task gave up on `id` before its terminal frame (client gone, timeout,
    /// aborted body): forget the slot and, only if a terminal frame is still to come, mark the
    /// id cancelled so the interpreter skips it and the dispatcher drops its late frames
    /// (docs/internals/ipc.md#9-request-ids). Decided under the map's lock, the one `deliver`
    /// takes to hand over a terminal frame: if that frame was already delivered (the slot is
    /// gone from the map, the frame waits unread in it), nothing will ever arrive to clear the
    /// mark, so none is set. Marking it anyway leaked one id per client that reset the
    /// connection just as its response came.
    pub fn abandon(&self, id: u32, ipc: &Ipc, stats: &ServerStats) {
        let mut slots = self.slots.lock();
        if slots.remove(&id).is_some() {
            ipc.cancel(id);
        }
        let used = slots.len() as u64;
        drop(slots);
        stats.ipc_pending_used.store(used, Ordering::Relaxed);
    }

    /// Number of ids waiting.
    pub fn len(&self) -> usize {
        self.slots.lock().len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames buffered for `id` (0 when unknown). Used for the producer credit.
    pub fn buffered(&self, id: u32) -> usize {
        self.slots
            .lock()
            .get(&id)
            .map(|s| s.buffered())
            .unwrap_or(0)
    }

    /// Set `response_timeout_ms` (0 = none).
    pub fn set_timeout_ms(&self, ms: u64) {
        self.timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// Advance the clock and time out every request still waiting for its
    /// first frame past its deadline (`504`, docs/internals/http.md).
    pub fn sweep(&self, now_ms: u64) {
        self.clock_ms.store(now_ms, Ordering::Relaxed);
        let expired: Vec<Arc<Slot>> = self
            .slots
            .lock()
            .values()
            .filter(|s| {
                let d = s.deadline_ms.load(Ordering::Relaxed);
                d != 0 && d <= now_ms
            })
            .cloned()
            .collect();
        for slot in expired {
            slot.expire(now_ms);
        }
    }

    /// Fail every request still in flight (docs/internals/bridge.md#start-and-stop: the interpreter
    /// died).
    pub fn abandon_all(&self, stats: &ServerStats) {
        let slots: Vec<Arc<Slot>> = self.slots.lock().drain().map(|(_, s)| s).collect();
        stats.ipc_pending_used.store(0, Ordering::Relaxed);
        for slot in slots {
            slot.abandon();
        }
    }

    fn deliver(&self, id: u32, frame: Frame) -> bool {
        let terminal = frame.is_terminal();
        let slot = {
            let mut slots = self.slots.lock();
            if terminal {
                slots.remove(&id)
            } else {
                slots.get(&id).cloned()
            }
        };
        match slot {
            Some(slot) => {
                slot.push(frame);
                true
            }
            None => false,
        }
    }
}

/// Copy one response record's bytes out of the ring and release the region.
/// One allocation holds `[headers][body]` (docs/internals/ipc.md), so it is copied with
/// one `Bytes` allocation and split, in one lock hold of the ring (`take_with`).
fn take_frame(ipc: &Ipc, msg: &IpcMsg) -> Frame {
    let headers_len = u32::from(msg.headers_len);
    let start = if headers_len > 0 {
        msg.headers_offset
    } else {
        msg.buffer_offset
    };
    let total = headers_len + msg.body_len;
    let contiguous = headers_len == 0
        || msg.body_len == 0
        || msg.buffer_offset == msg.headers_offset + headers_len;
    let (headers, body) = if total == 0 {
        (Bytes::new(), Bytes::new())
    } else if contiguous {
        let mut all = ipc
            .response_ring
            .take_with(start, total, Bytes::copy_from_slice)
            .unwrap_or_default();
        let body = all.split_off((headers_len as usize).min(all.len()));
        (all, body)
    } else {
        // Not written by our binding; still accepted, copied piecewise.
        let read = |offset: u32, len: u32| {
            ipc.response_ring
                .read_with(offset, len, Bytes::copy_from_slice)
                .unwrap_or_default()
        };
        let parts = (
            read(msg.headers_offset, headers_len),
            read(msg.buffer_offset, msg.body_len),
        );
        ipc.response_ring.release(start);
        parts
    };
    Frame {
        status: msg.status_code,
        headers,
        body,
        flags: msg.flags,
        total_len: msg.total_len,
        kind: if msg.msg_type == MsgType::RespFile as u8 {
            FrameKind::File
        } else {
            FrameKind::Data
        },
    }
}

/// The response-timeout sweeper: every `SWEEP_PERIOD` until the runtime stops.
pub async fn sweep_timeouts(pending: Arc<Pending>) {
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(SWEEP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        pending.sweep(start.elapsed().as_millis() as u64);
    }
}

/// The dispatcher: drains the response queue into the slots, forever (until
/// the runtime shuts down). Parks on `wake` when the queue is empty.
pub async fn dispatch_responses(
    ipc: Arc<Ipc>,
    pending: Arc<Pending>,
    stats: Arc<ServerStats>,
    ws: Arc<crate::ws::Registry>,
    wake: Arc<Notify>,
) {
    let mut batch: Vec<IpcMsg> = Vec::with_capacity(256);
    loop {
        batch.clear();
        if ipc.responses.pop_batch(&mut batch, 256) == 0 {
            if ipc.responses.park() {
                wake.notified().await;
                ipc.responses.unpark();
            }
            continue;
        }
        for msg in &batch {
            let for_request =
                msg.msg_type == MsgType::RespHttp as u8 || msg.msg_type == MsgType::RespFile as u8;
            if !for_request {
                // RESP_WS_*: to the connection (docs/internals/websocket.md); unknown ids are dropped.
                let frame = take_frame(&ipc, msg);
                if !ws.deliver(msg, frame.headers, frame.body) {
                    ServerStats::bump(&stats.ipc_pending_dropped);
                }
                continue;
            }
            let frame = take_frame(&ipc, msg);
            let terminal = frame.is_terminal();
            if !pending.deliver(msg.request_id, frame) {
                // Unknown or cancelled id: the frame is dropped (its bytes are already released).
                ServerStats::bump(&stats.ipc_pending_dropped);
                if terminal {
                    ipc.clear_cancelled(msg.request_id);
                }
            }
        }
        // Yield between batches so the connection tasks just woken get to run.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u32) -> Frame {
        Frame {
            status: 200,
            headers: Bytes::new(),
            body: Bytes::new(),
            flags: flags::STREAM,
            total_len: n,
            kind: FrameKind::Data,
        }
    }

    /// FIFO whichever of `first` and `rest` a frame waits in, with pops between pushes.
    #[test]
    fn frames_stay_in_order() {
        let mut f = Frames::default();
        assert!(f.pop_front().is_none());
        f.push_back(frame(1));
        f.push_back(frame(2));
        f.push_back(frame(3));
        assert_eq!(f.len(), 3);
        assert_eq!(f.pop_front().map(|x| x.total_len), Some(1));
        f.push_back(frame(4)); // `first` is free, but 2 and 3 wait in `rest`
        let order: Vec<u32> = std::iter::from_fn(|| f.pop_front().map(|x| x.total_len)).collect();
        assert_eq!(order, [2, 3, 4]);
        assert_eq!(f.len(), 0);
        f.push_back(frame(5));
        assert_eq!(f.len(), 1);
        assert_eq!(f.pop_front().map(|x| x.total_len), Some(5));
    }
}
