//! Bounded FIFO of `IpcMsg` records
//! (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol) with the parked-consumer
//! wake-up protocol of docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol: a consumer
//! sets `parked` before it sleeps and re-checks; a producer that finds `parked` set clears it and
//! calls the waker (an eventfd write, or a tokio `Notify`). While the consumer is busy, pushes cost
//! no syscall and no wake-up.
//!
//! Why no wake-up is lost: the consumer stores `parked = true` and *then* takes
//! the lock to look at the queue; a producer pushes under the lock and, still
//! under it, tests-and-clears `parked`. Either the consumer's look comes after
//! the push (it sees the record and does not sleep), or its store came before the
//! producer's critical section (the producer sees `parked` and calls the waker).
//!
//! Condvars are only notified when a thread is actually blocked on them (a
//! waiter count is kept under the lock), so the hot path makes no syscall.
//! Hooks and wakers are always called after the lock is released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::{IpcError, IpcMsg};

/// Longest single condvar wait; blocking calls re-check their stop flag this often.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Largest up-front reservation (records); bigger queues grow on demand.
const MAX_PREALLOC: usize = 4096;

type Hook = Arc<dyn Fn() + Send + Sync>;

struct Inner {
    q: VecDeque<IpcMsg>,
    /// Threads blocked in `wait_nonempty`.
    empty_waiters: usize,
    /// Threads blocked in `push_wait`.
    full_waiters: usize,
    waker: Option<Hook>,
    space_hook: Option<Hook>,
}

/// A bounded multi-producer queue of records.
pub struct MsgQueue {
    inner: Mutex<Inner>,
    cap: usize,
    not_empty: Condvar,
    not_full: Condvar,
    parked: AtomicBool,
    want_space: AtomicBool,
}

impl MsgQueue {
    /// A queue holding at most `capacity` (≥ 1) records (0 is treated as 1).
    pub fn new(capacity: usize) -> Self {
        let cap = capacity.max(1);
        Self {
            inner: Mutex::new(Inner {
                q: VecDeque::with_capacity(cap.min(MAX_PREALLOC)),
                empty_waiters: 0,
                full_waiters: 0,
                waker: None,
                space_hook: None,
            }),
            cap,
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            parked: AtomicBool::new(false),
            want_space: AtomicBool::new(false),
        }
    }

    /// The consumer's waker, called by a push that finds the consumer parked.
    pub fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.inner.lock().waker = Some(waker);
    }

    /// The consumer's waker, if one is set. The runtime wraps the request queue's to defer
    /// wake-ups to the end of its pass (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol).
    pub fn waker(&self) -> Option<Arc<dyn Fn() + Send + Sync>> {
        self.inner.lock().waker.clone()
    }

    /// Non-blocking push; gives the record back when full.
    pub fn push(&self, msg: IpcMsg) -> Result<(), IpcMsg> {
        let mut inner = self.inner.lock();
        if inner.q.len() >= self.cap {
            return Err(msg);
        }
        let waker = self.push_locked(&mut inner, msg);
        drop(inner);
        if let Some(w) = waker {
            w();
        }
        Ok(())
    }

    /// Blocking push: waits for room up to `timeout` (slices ≤ 100 ms), `Stopped`
    /// once `stop` is set, `QueueFull` after the timeout.
    pub fn push_wait(
        &self,
        msg: IpcMsg,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<(), IpcError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.inner.lock();
        loop {
            if inner.q.len() < self.cap {
                let waker = self.push_locked(&mut inner, msg);
                drop(inner);
                if let Some(w) = waker {
                    w();
                }
                return Ok(());
            }
            if stop.load(Ordering::SeqCst) {
                return Err(IpcError::Stopped);
            }
            let slice = match slice_until(deadline) {
                Some(s) => s,
                None => return Err(IpcError::QueueFull),
            };
            inner.full_waiters += 1;
            self.not_full.wait_for(&mut inner, slice);
            inner.full_waiters -= 1;
        }
    }

    /// Take one record.
    pub fn pop(&self) -> Option<IpcMsg> {
        let mut inner = self.inner.lock();
        let msg = inner.q.pop_front()?;
        let hook = self.after_pop_locked(&mut inner, 1);
        drop(inner);
        if let Some(h) = hook {
            h();
        }
        Some(msg)
    }

    /// Take up to `max` records in FIFO order, appending to `out`; returns how many.
    pub fn pop_batch(&self, out: &mut Vec<IpcMsg>, max: usize) -> usize {
        let mut inner = self.inner.lock();
        let n = inner.q.len().min(max);
        if n == 0 {
            return 0;
        }
        out.extend(inner.q.drain(..n));
        let hook = self.after_pop_locked(&mut inner, n);
        drop(inner);
        if let Some(h) = hook {
            h();
        }
        n
    }

    /// Consumer: announce that it is about to sleep. Returns true when the queue
    /// is still empty (the consumer must now wait for its waker); false when a
    /// record is already there (the flag is cleared again and the consumer goes on).
    pub fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        let empty = self.inner.lock().q.is_empty();
        if !empty {
            self.parked.store(false, Ordering::SeqCst);
        }
        empty
    }

    /// Consumer: clear the parked flag (it woke for another reason).
    pub fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    /// Whether the consumer is parked (for tests and stats).
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst)
    }

    /// Block (condvar) until a record is queued, `timeout` passes or `stop` is
    /// set; slices of at most 100 ms. Returns true when a record is there.
    pub fn wait_nonempty(&self, timeout: Duration, stop: &AtomicBool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.inner.lock();
        loop {
            if !inner.q.is_empty() {
                return true;
            }
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            let Some(slice) = slice_until(deadline) else {
                return false;
            };
            inner.empty_waiters += 1;
            self.not_empty.wait_for(&mut inner, slice);
            inner.empty_waiters -= 1;
        }
    }

    /// Call `hook` after a pop that happens while a producer asked for one.
    pub fn set_space_hook(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        self.inner.lock().space_hook = Some(hook);
    }

    /// Ask for the space hook to be called at the next pop (edge, one-shot).
    ///
    /// To avoid a lost wake-up, a producer calls this *before* retrying its
    /// push, and waits for the hook only if that retry failed.
    pub fn want_space_notification(&self) {
        self.want_space.store(true, Ordering::SeqCst);
    }

    /// Wake every blocked waiter (used at stop, together with the stop flag).
    pub fn wake_all(&self) {
        // Holding the lock orders this after any waiter's stop-flag check that
        // has not reached its condvar wait yet.
        let _inner = self.inner.lock();
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Records queued now.
    pub fn len(&self) -> usize {
        self.inner.lock().q.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Push under the lock (room already checked). Returns the waker to call
    /// once the lock is released, if the consumer was parked.
    fn push_locked(&self, inner: &mut MutexGuard<'_, Inner>, msg: IpcMsg) -> Option<Hook> {
        inner.q.push_back(msg);
        if inner.empty_waiters > 0 {
            self.not_empty.notify_one();
        }
        // A plain load suffices to skip the RMW: a consumer that parked before
        // this critical section made its store visible through the lock.
        if self.parked.load(Ordering::SeqCst) && self.parked.swap(false, Ordering::SeqCst) {
            inner.waker.clone()
        } else {
            None
        }
    }

    /// Bookkeeping after `n` records left the queue. Returns the space hook to
    /// call once the lock is released, if a producer asked for it.
    fn after_pop_locked(&self, inner: &mut MutexGuard<'_, Inner>, n: usize) -> Option<Hook> {
        if inner.full_waiters > 0 {
            if n == 1 {
                self.not_full.notify_one();
            } else {
                self.not_full.notify_all();
            }
        }
        if self.want_space.load(Ordering::SeqCst) && self.want_space.swap(false, Ordering::SeqCst) {
            inner.space_hook.clone()
        } else {
            None
        }
    }
}

/// Time to wait in the next slice, or None once `deadline` has passed.
/// `deadline` None (overflowing timeout) means "wait forever".
fn slice_until(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(WAIT_SLICE),
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                None
            } else {
                Some((d - now).min(WAIT_SLICE))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    fn msg(id: u32) -> IpcMsg {
        IpcMsg {
            request_id: id,
            ..IpcMsg::default()
        }
    }

    fn counter_waker(q: &MsgQueue) -> Arc<AtomicUsize> {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        q.set_waker(Arc::new(move || {
            c2.fetch_add(1, Ordering::SeqCst);
        }));
        calls
    }

    #[test]
    fn bounded_and_fifo() {
        let q = MsgQueue::new(3);
        assert_eq!(q.capacity(), 3);
        assert!(q.is_empty());
        for i in 1..=3 {
            assert!(q.push(msg(i)).is_ok());
        }
        assert_eq!(q.push(msg(4)).err().map(|m| m.request_id), Some(4));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().map(|m| m.request_id), Some(1));
        assert!(q.push(msg(5)).is_ok());
        let mut out = Vec::new();
        assert_eq!(q.pop_batch(&mut out, 2), 2);
        assert_eq!(q.pop_batch(&mut out, 10), 1);
        assert_eq!(q.pop_batch(&mut out, 10), 0);
        assert_eq!(
            out.iter().map(|m| m.request_id).collect::<Vec<_>>(),
            vec![2, 3, 5]
        );
        assert_eq!(q.pop(), None);
        assert_eq!(MsgQueue::new(0).capacity(), 1);
    }

    #[test]
    fn waker_only_when_parked_and_once() {
        let q = MsgQueue::new(8);
        let calls = counter_waker(&q);
        assert!(q.push(msg(1)).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 0); // consumer busy: no wake
        assert!(!q.park()); // record already there: do not sleep
        assert!(!q.is_parked());
        assert!(q.pop().is_some());
        assert!(q.park());
        assert!(q.is_parked());
        assert!(q.push(msg(2)).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!q.is_parked());
        assert!(q.push(msg(3)).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1); // one wake per parked period
        let mut out = Vec::new();
        q.pop_batch(&mut out, 10);
        assert!(q.park());
        q.unpark();
        assert!(q.push(msg(4)).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1); // unparked: no wake
    }

    #[test]
    fn park_race_never_loses_a_record() {
        // A consumer that parks, then waits for the waker or a record.
        let q = Arc::new(MsgQueue::new(64));
        let wake = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
        let w2 = Arc::clone(&wake);
        q.set_waker(Arc::new(move || {
            *w2.0.lock() = true;
            w2.1.notify_one();
        }));
        const N: u32 = 20_000;
        let q2 = Arc::clone(&q);
        let producer = thread::spawn(move || {
            for i in 0..N {
                let mut m = msg(i);
                loop {
                    match q2.push(m) {
                        Ok(()) => break,
                        Err(back) => {
                            m = back;
                            thread::yield_now();
                        }
                    }
                }
            }
        });
        let mut next = 0;
        while next < N {
            if let Some(m) = q.pop() {
                assert_eq!(m.request_id, next);
                next += 1;
                continue;
            }
            if q.park() {
                let mut woken = wake.0.lock();
                while !*woken {
                    // A lost wake-up would hang here; the timeout turns it into a failure.
                    assert!(
                        !wake
                            .1
                            .wait_for(&mut woken, Duration::from_secs(5))
                            .timed_out(),
                        "lost wake-up"
                    );
                }
                *woken = false;
            }
        }
        producer.join().unwrap();
    }

    #[test]
    fn wait_nonempty_wakes_and_times_out() {
        let q = Arc::new(MsgQueue::new(4));
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        assert!(!q.wait_nonempty(Duration::from_millis(30), &stop));
        assert!(t0.elapsed() >= Duration::from_millis(30));

        let q2 = Arc::clone(&q);
        let t = thread::spawn(move || {
            let stop = AtomicBool::new(false);
            q2.wait_nonempty(Duration::from_secs(10), &stop)
        });
        thread::sleep(Duration::from_millis(20));
        assert!(q.push(msg(1)).is_ok());
        assert!(t.join().unwrap());
        assert!(q.wait_nonempty(Duration::ZERO, &stop));
    }

    #[test]
    fn wait_nonempty_honours_stop() {
        let q = Arc::new(MsgQueue::new(4));
        let stop = Arc::new(AtomicBool::new(false));
        let (q2, s2) = (Arc::clone(&q), Arc::clone(&stop));
        let t = thread::spawn(move || {
            let t0 = Instant::now();
            (q2.wait_nonempty(Duration::from_secs(30), &s2), t0.elapsed())
        });
        thread::sleep(Duration::from_millis(20));
        stop.store(true, Ordering::SeqCst);
        q.wake_all();
        let (got, took) = t.join().unwrap();
        assert!(!got);
        assert!(took < Duration::from_secs(5));
    }

    #[test]
    fn push_wait_timeout_space_and_stop() {
        let q = Arc::new(MsgQueue::new(1));
        let stop = AtomicBool::new(false);
        assert!(q
            .push_wait(msg(1), Duration::from_millis(10), &stop)
            .is_ok());
        let t0 = Instant::now();
        assert_eq!(
            q.push_wait(msg(2), Duration::from_millis(40), &stop),
            Err(IpcError::QueueFull)
        );
        assert!(t0.elapsed() >= Duration::from_millis(40));

        // Woken by a pop.
        let q2 = Arc::clone(&q);
        let t = thread::spawn(move || {
            let stop = AtomicBool::new(false);
            q2.push_wait(msg(3), Duration::from_secs(10), &stop)
        });
        thread::sleep(Duration::from_millis(20));
        assert_eq!(q.pop().map(|m| m.request_id), Some(1));
        assert_eq!(t.join().unwrap(), Ok(()));
        assert_eq!(q.pop().map(|m| m.request_id), Some(3));

        // Stopped.
        assert!(q.push(msg(4)).is_ok());
        let stop = Arc::new(AtomicBool::new(false));
        let (q2, s2) = (Arc::clone(&q), Arc::clone(&stop));
        let t = thread::spawn(move || q2.push_wait(msg(5), Duration::from_secs(30), &s2));
        thread::sleep(Duration::from_millis(20));
        stop.store(true, Ordering::SeqCst);
        q.wake_all();
        assert_eq!(t.join().unwrap(), Err(IpcError::Stopped));
    }

    #[test]
    fn space_hook_is_one_shot() {
        let q = MsgQueue::new(2);
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        q.set_space_hook(Arc::new(move || {
            c2.fetch_add(1, Ordering::SeqCst);
        }));
        for i in 0..2 {
            assert!(q.push(msg(i)).is_ok());
        }
        assert!(q.pop().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        q.want_space_notification();
        let mut out = Vec::new();
        assert_eq!(q.pop_batch(&mut out, 0), 0); // nothing popped: no hook
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(q.pop().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(q.push(msg(9)).is_ok());
        assert!(q.pop().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn waker_may_call_back_into_queue() {
        let q = Arc::new(MsgQueue::new(2));
        let weak = Arc::downgrade(&q);
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = Arc::clone(&seen);
        q.set_waker(Arc::new(move || {
            if let Some(q) = weak.upgrade() {
                s2.store(q.len(), Ordering::SeqCst);
            }
        }));
        assert!(q.park());
        assert!(q.push(msg(1)).is_ok());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}
