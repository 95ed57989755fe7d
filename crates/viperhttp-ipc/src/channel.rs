//! `Ipc`: the two rings, the two queues, the request-id counter, the cancelled
//! ids and the counters, shared by the runtime and the binding as one `Arc<Ipc>`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::{ByteRing, MsgQueue};

/// Sizes, from `app.run()` knobs (docs/internals/ipc.md#7-byte-ring-bytering).
#[derive(Clone, Debug)]
pub struct IpcConfig {
    /// Bytes of each ring (`ipc_ring_size`).
    pub ipc_ring_size: usize,
    /// Request queue bound (`ipc_request_queue_len`).
    pub ipc_request_queue_len: usize,
    /// Response queue bound (`ipc_response_queue_len`).
    pub ipc_response_queue_len: usize,
}

impl Default for IpcConfig {
    fn default() -> Self {
        Self {
            ipc_ring_size: 8 * 1024 * 1024,
            ipc_request_queue_len: 256,
            ipc_response_queue_len: 256,
        }
    }
}

/// IPC counters (`ipc_stats()` keys, docs/internals/logging.md).
#[derive(Debug, Default)]
pub struct IpcCounters {
    /// Request pushes that failed for good.
    pub dropped_requests: AtomicU64,
    /// Response pushes that failed for good.
    pub dropped_responses: AtomicU64,
}

/// Everything both sides share.
///
/// Each part one thread writes while the other thread writes another sits on its own cache line
/// (`CachePadded`, docs/internals/ipc.md#false-sharing): packed together, every lock taken or
/// counter bumped by the runtime invalidated the line the interpreter thread was using, and back.
/// The fields deref to their types, so `ipc.request_ring.write(..)` reads as before.
pub struct Ipc {
    /// runtime → Python payloads.
    pub request_ring: CachePadded<ByteRing>,
    /// Python → runtime payloads.
    pub response_ring: CachePadded<ByteRing>,
    /// runtime → Python records.
    pub requests: CachePadded<MsgQueue>,
    /// Python → runtime records.
    pub responses: CachePadded<MsgQueue>,
    /// Counters.
    pub counters: IpcCounters,
    /// Set at stop: blocking waits return `Stopped`.
    pub stopping: AtomicBool,
    next_id: AtomicU32,
    cancelled: CachePadded<Cancelled>,
}

/// The cancelled ids and their count, written together under the set's lock.
struct Cancelled {
    set: Mutex<HashSet<u32>>,
    /// `set.len()`, stored under its lock: both threads ask `is_cancelled` for every
    /// request and almost always of an empty set, which then costs one atomic load instead of
    /// a lock whose cache line moves between the runtime and interpreter threads.
    count: AtomicUsize,
}

impl Ipc {
    /// Build the channel.
    pub fn new(cfg: &IpcConfig) -> Self {
        Self {
            request_ring: CachePadded::new(ByteRing::new(cfg.ipc_ring_size)),
            response_ring: CachePadded::new(ByteRing::new(cfg.ipc_ring_size)),
            requests: CachePadded::new(MsgQueue::new(cfg.ipc_request_queue_len)),
            responses: CachePadded::new(MsgQueue::new(cfg.ipc_response_queue_len)),
            counters: IpcCounters::default(),
            stopping: AtomicBool::new(false),
            next_id: AtomicU32::new(0),
            cancelled: CachePadded::new(Cancelled {
                set: Mutex::new(HashSet::new()),
                count: AtomicUsize::new(0),
            }),
        }
    }

    /// Next request id: pre-incremented, 0 skipped on wrap (docs/internals/ipc.md#9-request-ids).
    pub fn next_request_id(&self) -> u32 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 {
                return id;
            }
        }
    }

    /// Mark an id cancelled (client gone, timeout): late frames are dropped.
    pub fn cancel(&self, id: u32) {
        let mut set = self.cancelled.set.lock();
        set.insert(id);
        self.cancelled.count.store(set.len(), Ordering::Release);
    }

    /// Whether `id` was cancelled. A cancellation made concurrently may be missed, exactly as
    /// when the lock is taken just before it (docs/internals/ipc.md#9-request-ids).
    pub fn is_cancelled(&self, id: u32) -> bool {
        self.cancelled.count.load(Ordering::Acquire) != 0 && self.cancelled.set.lock().contains(&id)
    }

    /// Forget a cancellation (its terminal frame arrived, or it was never used).
    pub fn clear_cancelled(&self, id: u32) -> bool {
        if self.cancelled.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut set = self.cancelled.set.lock();
        let removed = set.remove(&id);
        self.cancelled.count.store(set.len(), Ordering::Release);
        removed
    }

    /// Ids cancelled and not yet cleared.
    pub fn cancelled_len(&self) -> usize {
        self.cancelled.set.lock().len()
    }

    /// Begin stopping: every blocking wait on rings and queues returns early.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.request_ring.wake_all();
        self.response_ring.wake_all();
        self.requests.wake_all();
        self.responses.wake_all();
    }

    /// Sum of both rings' allocation failures (`ring_full`).
    pub fn ring_full(&self) -> u64 {
        self.request_ring.full_count() + self.response_ring.full_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lock-free answer for an empty set and the set itself agree through every change.
    #[test]
    fn cancellation_marks_and_their_count() {
        let ipc = Ipc::new(&IpcConfig::default());
        assert!(!ipc.is_cancelled(1));
        assert!(!ipc.clear_cancelled(1), "nothing to clear");
        ipc.cancel(1);
        ipc.cancel(2);
        ipc.cancel(2);
        assert!(ipc.is_cancelled(1) && ipc.is_cancelled(2) && !ipc.is_cancelled(3));
        assert_eq!(ipc.cancelled_len(), 2);
        assert!(ipc.clear_cancelled(2));
        assert!(!ipc.clear_cancelled(2), "cleared once");
        assert!(ipc.is_cancelled(1) && !ipc.is_cancelled(2));
        assert!(ipc.clear_cancelled(1));
        assert_eq!(ipc.cancelled_len(), 0);
        assert!(!ipc.is_cancelled(1));
        ipc.cancel(7);
        assert!(ipc.is_cancelled(7), "marked again after the set was empty");
    }
}
