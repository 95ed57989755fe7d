//! `Ipc`: the two rings, the two queues, the request-id counter, the cancelled
//! ids and the counters, shared by the runtime and the binding as one `Arc<Ipc>`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

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
pub struct Ipc {
    /// runtime → Python payloads.
    pub request_ring: ByteRing,
    /// Python → runtime payloads.
    pub response_ring: ByteRing,
    /// runtime → Python records.
    pub requests: MsgQueue,
    /// Python → runtime records.
    pub responses: MsgQueue,
    /// Counters.
    pub counters: IpcCounters,
    /// Set at stop: blocking waits return `Stopped`.
    pub stopping: AtomicBool,
    next_id: AtomicU32,
    cancelled: Mutex<HashSet<u32>>,
    /// `cancelled.len()`, stored under its lock: both threads ask `is_cancelled` for every
    /// request and almost always of an empty set, which then costs one atomic load instead of
    /// a lock whose cache line moves between the runtime and interpreter threads.
    cancelled_count: AtomicUsize,
}

impl Ipc {
    /// Build the channel.
    pub fn new(cfg: &IpcConfig) -> Self {
        Self {
            request_ring: ByteRing::new(cfg.ipc_ring_size),
            response_ring: ByteRing::new(cfg.ipc_ring_size),
            requests: MsgQueue::new(cfg.ipc_request_queue_len),
            responses: MsgQueue::new(cfg.ipc_response_queue_len),
            counters: IpcCounters::default(),
            stopping: AtomicBool::new(false),
            next_id: AtomicU32::new(0),
            cancelled: Mutex::new(HashSet::new()),
            cancelled_count: AtomicUsize::new(0),
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
        let mut set = self.cancelled.lock();
        set.insert(id);
        self.cancelled_count.store(set.len(), Ordering::Release);
    }

    /// Whether `id` was cancelled. A cancellation made concurrently may be missed, exactly as
    /// when the lock is taken just before it (docs/internals/ipc.md#9-request-ids).
    pub fn is_cancelled(&self, id: u32) -> bool {
        self.cancelled_count.load(Ordering::Acquire) != 0 && self.cancelled.lock().contains(&id)
    }

    /// Forget a cancellation (its terminal frame arrived, or it was never used).
    pub fn clear_cancelled(&self, id: u32) -> bool {
        if self.cancelled_count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut set = self.cancelled.lock();
        let removed = set.remove(&id);
        self.cancelled_count.store(set.len(), Ordering::Release);
        removed
    }

    /// Ids cancelled and not yet cleared.
    pub fn cancelled_len(&self) -> usize {
        self.cancelled.lock().len()
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
