//! Byte ring (docs/internals/ipc.md#7-byte-ring-bytering, host decision): contiguous allocations
//! with wrap-around, the skipped tail gap accounted to the wrapping allocation, and releases in any
//! order (a release marks its allocation free; `tail` advances over the longest freed prefix). The
//! only module with `unsafe` code: writers fill their own granted region while other regions are
//! read concurrently.
//!
//! # Allocation states
//!
//! Every allocation is in one of three states, tracked under the ring's lock:
//!
//! * **granted** — handed out by [`ByteRing::alloc`] as a [`RingGrant`]; only
//!   the grant's holder may touch its bytes (through [`RingGrant::as_mut_slice`]).
//!   [`ByteRing::read_with`] and [`ByteRing::release`] refuse it.
//! * **published** — [`RingGrant::publish`] was called; the bytes are frozen and
//!   may be read by anyone through [`ByteRing::read_with`] and released once
//!   through [`ByteRing::release`].
//! * **freed** — released but still behind an older live allocation; its space
//!   is reused only once every older allocation is freed too (FIFO reclaim).
//!
//! # Soundness argument for the `unsafe` code
//!
//! The buffer is a slice of `UnsafeCell<u8>`. Mutable access is only ever
//! created for a *granted* region, by the unique holder of its `RingGrant`
//! (`as_mut_slice` takes `&mut self`). Shared access is only created inside
//! `read_with`, under the lock, for a *published* region. Live regions (granted,
//! published, or freed-but-not-reclaimed) never overlap, and a region's bytes
//! return to the allocator only when it is reclaimed, which needs it to be
//! freed, which needs it to be published (or its grant dropped). So a byte is
//! never written and read, or written twice, at the same time.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::IpcError;

/// Longest single condvar wait; blocking calls re-check their stop flag this often.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Hook type shared by the ring's release hook and the queue's hooks.
type Hook = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AllocState {
    Granted,
    Published,
    Freed,
}

/// One live allocation, in allocation order.
#[derive(Clone, Copy, Debug)]
struct Alloc {
    offset: usize,
    len: usize,
    /// Bytes skipped at the end of the buffer when this allocation wrapped to 0.
    pad: usize,
    state: AllocState,
}

struct State {
    /// Next allocation position (in `[0, cap)`).
    head: usize,
    /// Start of the oldest live allocation's accounted span (its pad, if any).
    tail: usize,
    /// Bytes accounted to live allocations, pads included.
    used: usize,
    /// Live allocations, oldest first.
    live: VecDeque<Alloc>,
    /// Threads blocked in `alloc_wait`.
    waiters: usize,
    hook: Option<Hook>,
}

/// A fixed-size byte ring shared by one producer side and one consumer side.
pub struct ByteRing {
    buf: Box<[UnsafeCell<u8>]>,
    state: Mutex<State>,
    space: Condvar,
    full: AtomicU64,
    want_release: AtomicBool,
}

// SAFETY: the only non-Sync part is the `UnsafeCell<u8>` buffer. Access to it
// follows the protocol in the module docs: a granted region is written only by
// the unique holder of its `RingGrant`; published regions are only read, under
// the state lock; live regions never overlap and are reused only after they are
// freed and reclaimed under the lock. Hence no data race is possible between
// threads sharing a `&ByteRing`.
unsafe impl Sync for ByteRing {}
// SAFETY: `ByteRing` owns its buffer (no thread-bound state); moving it to
// another thread moves plain bytes plus `Send` synchronisation primitives.
unsafe impl Send for ByteRing {}

/// A region handed out by [`ByteRing::alloc`]: writable by its holder only.
/// Dropping it without [`RingGrant::publish`] releases it again.
pub struct RingGrant<'a> {
    ring: &'a ByteRing,
    offset: u32,
    len: u32,
}

impl ByteRing {
    /// A ring of `size` bytes (`size` ≤ u32::MAX; larger values are clamped).
    pub fn new(size: usize) -> Self {
        let size = size.min(u32::MAX as usize);
        // Zeroed allocation: the OS hands out lazily mapped zero pages, so a
        // large ring costs nothing until it is written.
        let bytes: Box<[u8]> = vec![0u8; size].into_boxed_slice();
        let raw: *mut [u8] = Box::into_raw(bytes);
        // SAFETY: `UnsafeCell<u8>` is `#[repr(transparent)]` over `u8`, so
        // `[u8]` and `[UnsafeCell<u8>]` have identical layout and the slice
        // metadata (length) carries over unchanged. The pointer comes from
        // `Box::into_raw` with the global allocator and is re-boxed exactly once.
        let buf: Box<[UnsafeCell<u8>]> = unsafe { Box::from_raw(raw as *mut [UnsafeCell<u8>]) };
        Self {
            buf,
            state: Mutex::new(State {
                head: 0,
                tail: 0,
                used: 0,
                live: VecDeque::new(),
                waiters: 0,
                hook: None,
            }),
            space: Condvar::new(),
            full: AtomicU64::new(0),
            want_release: AtomicBool::new(false),
        }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes currently allocated (including accounted wrap gaps).
    pub fn used(&self) -> usize {
        self.state.lock().used
    }

    /// Number of live allocations (granted, published, or freed but still
    /// behind an older live one). For tests and stats.
    pub fn live_allocations(&self) -> usize {
        self.state.lock().live.len()
    }

    /// How many allocations failed since creation (`ring_full`).
    pub fn full_count(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }

    /// Non-blocking contiguous allocation of `len` bytes (`len` > 0). Fails with
    /// `RingFull` (and counts it) when it does not fit; `len` > capacity also fails.
    pub fn alloc(&self, len: usize) -> Result<RingGrant<'_>, IpcError> {
        let got = {
            let mut st = self.state.lock();
            self.try_alloc_locked(&mut st, len)
        };
        match got {
            Some(offset) => Ok(self.grant(offset, len)),
            None => {
                self.full.fetch_add(1, Ordering::Relaxed);
                Err(IpcError::RingFull)
            }
        }
    }

    /// Blocking allocation: waits (condvar, woken by releases) up to `timeout`,
    /// in slices of at most 100 ms, returning `Stopped` early once `stop` is set.
    /// `len` > capacity fails at once with `RingFull`. Counts one `ring_full` per
    /// call that had to wait or failed.
    pub fn alloc_wait(
        &self,
        len: usize,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<RingGrant<'_>, IpcError> {
        if len == 0 || len > self.capacity() {
            self.full.fetch_add(1, Ordering::Relaxed);
            return Err(IpcError::RingFull);
        }
        let mut st = self.state.lock();
        if let Some(offset) = self.try_alloc_locked(&mut st, len) {
            drop(st);
            return Ok(self.grant(offset, len));
        }
        self.full.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(IpcError::Stopped);
            }
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if now >= d => return Err(IpcError::RingFull),
                Some(d) => (d - now).min(WAIT_SLICE),
                None => WAIT_SLICE,
            };
            st.waiters += 1;
            self.space.wait_for(&mut st, slice);
            st.waiters -= 1;
            if let Some(offset) = self.try_alloc_locked(&mut st, len) {
                drop(st);
                return Ok(self.grant(offset, len));
            }
        }
    }

    /// Run `f` over the published bytes `[offset, offset+len)`. The range must lie
    /// inside one live allocation (else `Malformed`); `len` 0 gives an empty slice.
    ///
    /// The allocation must have been published ([`RingGrant::publish`]) and not
    /// released. `f` runs under the ring's lock: it must not call back into this
    /// ring (that would deadlock) and should only copy or parse the bytes.
    pub fn read_with<R>(
        &self,
        offset: u32,
        len: u32,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, IpcError> {
        if len == 0 {
            return Ok(f(&[]));
        }
        let start = offset as usize;
        let len = len as usize;
        let end = start
            .checked_add(len)
            .ok_or(IpcError::Malformed("ring range overflows"))?;
        let st = self.state.lock();
        let inside = st.live.iter().any(|a| {
            a.state == AllocState::Published && a.offset <= start && end <= a.offset + a.len
        });
        if !inside {
            return Err(IpcError::Malformed(
                "ring range is not a live published allocation",
            ));
        }
        let cells = self
            .buf
            .get(start..end)
            .ok_or(IpcError::Malformed("ring range out of bounds"))?;
        // SAFETY: `[start, end)` lies inside a published, not yet released
        // allocation (checked above under the lock, which we keep holding while
        // `f` runs). Published regions are never written again (their grant
        // was consumed by `publish`), and the region cannot be released and
        // reused while we hold the lock, so creating a shared `&[u8]` over these
        // cells cannot race with any write. `UnsafeCell<u8>` has the layout of
        // `u8`, and the pointer covers exactly `len` initialised bytes.
        let bytes: &[u8] =
            unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()), len) };
        let out = f(bytes);
        drop(st);
        Ok(out)
    }

    /// Release the live allocation that starts at `offset`. Returns false (and
    /// changes nothing) when no live allocation starts there.
    ///
    /// Only published allocations can be released this way (an unpublished
    /// grant is released by dropping it); a second release of the same
    /// allocation returns false.
    pub fn release(&self, offset: u32) -> bool {
        self.release_inner(offset as usize, AllocState::Published)
    }

    /// Call `hook` after a release that happens while a waiter asked for one
    /// (see [`ByteRing::want_release_notification`]). Used to wake async producers.
    pub fn set_release_hook(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        self.state.lock().hook = Some(hook);
    }

    /// Ask for the release hook to be called at the next release (edge, one-shot).
    ///
    /// The next release that frees space clears the request and calls the hook.
    /// To avoid a lost wake-up, a producer calls this *before* retrying its
    /// allocation, and waits for the hook only if that retry failed.
    pub fn want_release_notification(&self) {
        self.want_release.store(true, Ordering::SeqCst);
    }

    /// Wake every blocked `alloc_wait` (used at stop, together with the stop flag).
    pub fn wake_all(&self) {
        // Taking the lock orders this after any waiter's stop-flag check that
        // has not yet reached its condvar wait.
        let _st = self.state.lock();
        self.space.notify_all();
    }

    fn grant(&self, offset: usize, len: usize) -> RingGrant<'_> {
        // Both fit in u32: capacity ≤ u32::MAX and offset + len ≤ capacity.
        RingGrant {
            ring: self,
            offset: offset as u32,
            len: len as u32,
        }
    }

    /// The allocation rule. Returns the offset on success; counts nothing.
    fn try_alloc_locked(&self, st: &mut State, len: usize) -> Option<usize> {
        let cap = self.capacity();
        if len == 0 || len > cap {
            return None;
        }
        if st.used == 0 {
            // Empty ring (nothing live): restart at 0 so any len ≤ cap fits.
            st.head = 0;
            st.tail = 0;
        }
        if len > cap - st.used {
            return None;
        }
        let (offset, pad) = if st.head >= st.tail {
            // Free space is [head, cap) and [0, tail). (head == tail here means
            // empty: a full ring was rejected by the free-bytes check.)
            if len <= cap - st.head {
                (st.head, 0)
            } else if len <= st.tail {
                // Wrap: the gap [head, cap) is accounted to this allocation.
                (0, cap - st.head)
            } else {
                return None;
            }
        } else if len <= st.tail - st.head {
            // Free space is [head, tail).
            (st.head, 0)
        } else {
            return None;
        };
        let end = offset + len;
        st.head = if end == cap { 0 } else { end };
        st.used += len + pad;
        st.live.push_back(Alloc {
            offset,
            len,
            pad,
            state: AllocState::Granted,
        });
        Some(offset)
    }

    /// Release the allocation at `offset` whose state is `expect`.
    fn release_inner(&self, offset: usize, expect: AllocState) -> bool {
        let mut st = self.state.lock();
        let Some(entry) = st
            .live
            .iter_mut()
            .find(|a| a.offset == offset && a.state != AllocState::Freed)
        else {
            return false;
        };
        if entry.state != expect {
            return false;
        }
        entry.state = AllocState::Freed;
        let freed_space = Self::reclaim(&mut st, self.capacity());
        if !freed_space {
            return true;
        }
        if st.waiters > 0 {
            self.space.notify_all();
        }
        let hook = if self.want_release.load(Ordering::SeqCst)
            && self.want_release.swap(false, Ordering::SeqCst)
        {
            st.hook.clone()
        } else {
            None
        };
        drop(st);
        if let Some(hook) = hook {
            hook();
        }
        true
    }

    /// Pop the freed prefix of `live`, advancing `tail`. True if anything popped.
    fn reclaim(st: &mut State, cap: usize) -> bool {
        let mut popped = false;
        while let Some(front) = st.live.front().copied() {
            if front.state != AllocState::Freed {
                break;
            }
            st.live.pop_front();
            let end = front.offset + front.len;
            st.tail = if end == cap { 0 } else { end };
            st.used -= front.len + front.pad;
            popped = true;
        }
        if st.live.is_empty() {
            debug_assert_eq!(st.used, 0);
            st.used = 0;
            st.head = 0;
            st.tail = 0;
        }
        popped
    }
}

impl<'a> RingGrant<'a> {
    /// Ring offset of the region.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// Length of the region.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Regions are never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region, writable by this grant's holder only.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let start = self.offset as usize;
        let len = self.len as usize;
        let Some(cells) = self.ring.buf.get(start..start + len) else {
            // Unreachable: grants are created only for in-bounds regions.
            return &mut [];
        };
        // SAFETY: `[start, start+len)` is a granted allocation of the ring: no
        // other live allocation overlaps it, nobody may read it before it is
        // published (`read_with` refuses granted regions), nobody else can
        // release it (`release` refuses granted regions), and this grant is its
        // unique holder. The returned borrow is tied to `&mut self`, so at most
        // one mutable slice of the region exists at a time, and it cannot
        // outlive the grant (whose `publish` consumes it). `UnsafeCell<u8>` has
        // the layout of `u8` and the bytes are initialised.
        unsafe { std::slice::from_raw_parts_mut(UnsafeCell::raw_get(cells.as_ptr()), len) }
    }

    /// Keep the region allocated after the grant is dropped (it has been, or is
    /// about to be, announced through a queue). Returns the offset.
    pub fn publish(self) -> u32 {
        let offset = self.offset;
        {
            let mut st = self.ring.state.lock();
            if let Some(entry) = st
                .live
                .iter_mut()
                .find(|a| a.offset == offset as usize && a.state == AllocState::Granted)
            {
                entry.state = AllocState::Published;
            }
        }
        std::mem::forget(self);
        offset
    }
}

impl Drop for RingGrant<'_> {
    fn drop(&mut self) {
        // Unpublished grants go back to the ring.
        self.ring
            .release_inner(self.offset as usize, AllocState::Granted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    fn fill(ring: &ByteRing, len: usize, byte: u8) -> u32 {
        let mut g = ring.alloc(len).unwrap();
        g.as_mut_slice().fill(byte);
        g.publish()
    }

    #[test]
    fn basic_alloc_and_read() {
        let ring = ByteRing::new(64);
        assert_eq!(ring.capacity(), 64);
        let mut g = ring.alloc(5).unwrap();
        assert_eq!(g.offset(), 0);
        assert_eq!(g.len(), 5);
        assert!(!g.is_empty());
        g.as_mut_slice().copy_from_slice(b"hello");
        let off = g.publish();
        assert_eq!(ring.used(), 5);
        assert_eq!(ring.read_with(off, 5, |b| b.to_vec()).unwrap(), b"hello");
        assert_eq!(ring.read_with(off + 1, 3, |b| b.to_vec()).unwrap(), b"ell");
        assert!(ring.release(off));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn wrap_accounts_the_gap() {
        let ring = ByteRing::new(100);
        let a = fill(&ring, 40, 1);
        let b = fill(&ring, 40, 2);
        assert_eq!((a, b), (0, 40));
        assert!(ring.release(a));
        assert_eq!(ring.used(), 40);
        // 30 does not fit in [80,100) → wraps to 0, pad 20 accounted.
        let c = fill(&ring, 30, 3);
        assert_eq!(c, 0);
        assert_eq!(ring.used(), 40 + 30 + 20);
        assert!(ring
            .read_with(b, 40, |s| s.iter().all(|&x| x == 2))
            .unwrap());
        assert!(ring.release(b));
        assert_eq!(ring.used(), 50); // c + its pad
        assert!(ring.release(c));
        assert_eq!(ring.used(), 0);
        assert_eq!(ring.live_allocations(), 0);
    }

    #[test]
    fn wrap_needs_room_before_tail() {
        let ring = ByteRing::new(100);
        let a = fill(&ring, 30, 1);
        let b = fill(&ring, 50, 2);
        assert!(ring.release(a)); // tail = 30, head = 80
        assert!(ring.alloc(31).is_err()); // not in [80,100), not in [0,30)
        assert_eq!(ring.full_count(), 1);
        let g = ring.alloc(30).unwrap(); // exactly [0,30) + pad 20: ring becomes full
        assert_eq!(g.offset(), 0);
        assert_eq!(ring.used(), 100);
        assert!(ring.alloc(1).is_err());
        drop(g); // freed, but behind b
        assert_eq!(ring.used(), 100);
        assert!(ring.release(b));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn exact_fit_and_full() {
        let ring = ByteRing::new(64);
        let a = fill(&ring, 64, 7);
        assert_eq!(ring.used(), 64);
        assert_eq!(ring.alloc(1).err(), Some(IpcError::RingFull));
        assert_eq!(ring.full_count(), 1);
        assert!(ring.release(a));
        let b = fill(&ring, 32, 1);
        let c = fill(&ring, 32, 2);
        assert_eq!((b, c), (0, 32));
        assert!(ring.alloc(1).is_err());
        assert!(ring.release(b));
        let d = fill(&ring, 32, 3); // head wrapped to 0 exactly, no pad
        assert_eq!(d, 0);
        assert_eq!(ring.used(), 64);
        assert!(ring.release(c));
        assert!(ring.release(d));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn zero_and_oversize_fail() {
        let ring = ByteRing::new(16);
        assert_eq!(ring.alloc(0).err(), Some(IpcError::RingFull));
        assert_eq!(ring.alloc(17).err(), Some(IpcError::RingFull));
        assert_eq!(ring.full_count(), 2);
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        assert_eq!(
            ring.alloc_wait(17, Duration::from_secs(5), &stop).err(),
            Some(IpcError::RingFull)
        );
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(ring.full_count(), 3);
        assert!(ring.alloc(16).is_ok());
        let empty = ByteRing::new(0);
        assert!(empty.alloc(1).is_err());
    }

    #[test]
    fn empty_ring_resets_so_large_alloc_fits() {
        let ring = ByteRing::new(100);
        let a = fill(&ring, 60, 1);
        assert!(ring.release(a));
        // head would be 60 without the reset; 100 bytes must fit now.
        assert_eq!(fill(&ring, 100, 2), 0);
    }

    #[test]
    fn out_of_order_release() {
        let ring = ByteRing::new(100);
        let a = fill(&ring, 30, 1);
        let b = fill(&ring, 30, 2);
        let c = fill(&ring, 30, 3);
        assert!(ring.release(b));
        assert_eq!(ring.used(), 90); // b is behind a: not reclaimed yet
        assert!(ring.alloc(20).is_err());
        assert!(ring
            .read_with(c, 30, |s| s.iter().all(|&x| x == 3))
            .unwrap());
        assert!(ring.release(a));
        assert_eq!(ring.used(), 30); // a and b reclaimed together
        let d = fill(&ring, 60, 4);
        assert_eq!(d, 0);
        assert!(ring.release(c));
        assert!(ring.release(d));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn double_and_bogus_release() {
        let ring = ByteRing::new(100);
        let a = fill(&ring, 10, 1);
        let b = fill(&ring, 10, 2);
        assert!(!ring.release(5));
        assert!(!ring.release(1000));
        assert!(ring.release(b));
        assert!(!ring.release(b)); // freed but not reclaimed
        assert_eq!(ring.used(), 20);
        assert!(ring.release(a));
        assert!(!ring.release(a));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn read_with_validation() {
        let ring = ByteRing::new(100);
        let a = fill(&ring, 10, 1);
        let b = fill(&ring, 10, 2);
        assert!(ring.read_with(a, 10, |_| ()).is_ok());
        assert!(ring.read_with(a + 9, 1, |_| ()).is_ok());
        assert!(matches!(
            ring.read_with(a, 11, |_| ()),
            Err(IpcError::Malformed(_))
        )); // spans a and b
        assert!(ring.read_with(a + 5, 10, |_| ()).is_err());
        assert!(ring.read_with(30, 1, |_| ()).is_err()); // not allocated
        assert!(ring.read_with(u32::MAX, 2, |_| ()).is_err()); // overflow
        assert_eq!(ring.read_with(77, 0, |s| s.len()).unwrap(), 0); // len 0: no check
        assert!(ring.release(b));
        assert!(ring.read_with(b, 1, |_| ()).is_err()); // freed
                                                        // Unpublished grants are neither readable nor releasable.
        let g = ring.alloc(5).unwrap();
        let off = g.offset();
        assert!(ring.read_with(off, 5, |_| ()).is_err());
        assert!(!ring.release(off));
        drop(g);
        assert!(ring.release(a));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn grant_drop_releases() {
        let ring = ByteRing::new(64);
        {
            let mut g = ring.alloc(64).unwrap();
            g.as_mut_slice().fill(9);
            assert_eq!(ring.used(), 64);
        }
        assert_eq!(ring.used(), 0);
        let a = fill(&ring, 10, 1);
        let g = ring.alloc(10).unwrap();
        let c = fill(&ring, 10, 3);
        drop(g); // released out of order: stays accounted behind a
        assert_eq!(ring.used(), 30);
        assert!(ring.release(a));
        assert_eq!(ring.used(), 10);
        assert!(ring.release(c));
        assert_eq!(ring.used(), 0);
    }

    #[test]
    fn alloc_wait_wakes_on_release() {
        let ring = Arc::new(ByteRing::new(64));
        let a = fill(&ring, 64, 1);
        let stop = Arc::new(AtomicBool::new(false));
        let r2 = Arc::clone(&ring);
        let s2 = Arc::clone(&stop);
        let t = thread::spawn(move || {
            let t0 = Instant::now();
            let g = r2
                .alloc_wait(32, Duration::from_secs(10), &s2)
                .map(|g| g.offset());
            (g, t0.elapsed())
        });
        thread::sleep(Duration::from_millis(30));
        assert!(ring.release(a));
        let (res, took) = t.join().unwrap();
        assert_eq!(res, Ok(0));
        assert!(took < Duration::from_secs(5));
        assert_eq!(ring.full_count(), 1);
        assert_eq!(ring.used(), 0); // the waiter's grant was dropped
    }

    #[test]
    fn alloc_wait_times_out_and_honours_stop() {
        let ring = Arc::new(ByteRing::new(64));
        let _a = fill(&ring, 64, 1);
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        assert_eq!(
            ring.alloc_wait(1, Duration::from_millis(50), &stop).err(),
            Some(IpcError::RingFull)
        );
        assert!(t0.elapsed() >= Duration::from_millis(50));

        let stop = Arc::new(AtomicBool::new(false));
        let r2 = Arc::clone(&ring);
        let s2 = Arc::clone(&stop);
        let t = thread::spawn(move || {
            let t0 = Instant::now();
            let res = r2
                .alloc_wait(1, Duration::from_secs(30), &s2)
                .map(|g| g.offset());
            (res, t0.elapsed())
        });
        thread::sleep(Duration::from_millis(30));
        stop.store(true, Ordering::SeqCst);
        ring.wake_all();
        let (res, took) = t.join().unwrap();
        assert_eq!(res, Err(IpcError::Stopped));
        assert!(took < Duration::from_secs(5));
    }

    #[test]
    fn release_hook_is_one_shot() {
        let ring = ByteRing::new(64);
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        ring.set_release_hook(Arc::new(move || {
            c2.fetch_add(1, Ordering::SeqCst);
        }));
        let a = fill(&ring, 8, 1);
        let b = fill(&ring, 8, 2);
        let c = fill(&ring, 8, 3);
        assert!(ring.release(a)); // nobody asked
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        ring.want_release_notification();
        assert!(ring.release(c)); // frees no space (behind b): hook not yet
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(ring.release(b));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let d = fill(&ring, 8, 4);
        assert!(ring.release(d));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn hook_may_call_back_into_ring() {
        let ring = Arc::new(ByteRing::new(64));
        let r2 = Arc::downgrade(&ring);
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = Arc::clone(&seen);
        ring.set_release_hook(Arc::new(move || {
            if let Some(r) = r2.upgrade() {
                s2.store(r.used() + 1, Ordering::SeqCst);
            }
        }));
        let a = fill(&ring, 8, 1);
        ring.want_release_notification();
        assert!(ring.release(a));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn ring_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<ByteRing>();
    }
}
