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
//!
//! [`ByteRing::write`] and [`ByteRing::take_with`] follow the same protocol
//! inside one lock hold: `write` fills a region it has just allocated (granted,
//! known to no one else) before it publishes it and unlocks; `take_with` reads a
//! published region and marks it freed before it unlocks.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::IpcError;

/// Longest single condvar wait; blocking calls re-check their stop flag this often.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Largest record [`ByteRing::write`] copies while it holds the ring's lock
/// (docs/internals/ipc.md#one-lock-hold-per-record-decision). A copy this size takes about a
/// microsecond, shorter than the two extra lock round trips (and cache-line transfers between
/// the runtime and interpreter threads) that a separate allocate and publish cost; a larger
/// record is copied outside the lock so the other side is never held up by a long copy.
pub const LOCKED_WRITE_MAX: usize = 16 * 1024;

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
        // SAFETY: `[start, end)` lies inside a published, not yet released allocation,
        // checked just above under the lock `st` holds.
        let bytes = unsafe { self.published_bytes(&st, start, len) }
            .ok_or(IpcError::Malformed("ring range out of bounds"))?;
        let out = f(bytes);
        drop(st);
        Ok(out)
    }

    /// The bytes `[start, start+len)` as a shared slice that cannot outlive the lock `_held`.
    /// `None` when the range leaves the buffer. The one place the readers (`read_with`,
    /// `take_with`) turn ring cells into bytes.
    ///
    /// # Safety
    ///
    /// The range must lie inside one published allocation that is not freed. Published regions
    /// are never written again (their grant was consumed by `publish`), and a region cannot be
    /// freed and reused while the lock is held, so the slice cannot race with any write.
    unsafe fn published_bytes<'g>(
        &'g self,
        _held: &'g MutexGuard<'_, State>,
        start: usize,
        len: usize,
    ) -> Option<&'g [u8]> {
        let cells = self.buf.get(start..start.checked_add(len)?)?;
        // SAFETY: the caller's contract above; `UnsafeCell<u8>` has the layout of `u8` and the
        // pointer covers exactly `len` initialised bytes.
        Some(unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()), len) })
    }

    /// Allocate `len` bytes, let `fill` write them, and publish them: the one call a producer
    /// makes per record. Up to [`LOCKED_WRITE_MAX`] bytes this is one lock hold (allocate, copy,
    /// publish); a larger record is granted, filled outside the lock and published, as with
    /// [`ByteRing::alloc`]. Returns the region's offset. Fails like [`ByteRing::alloc`]
    /// (`RingFull`, counted), or with `fill`'s error, after which the region is released again.
    ///
    /// `fill` may run under the ring's lock: it must not call back into this ring and should
    /// only copy bytes. A panic inside it leaves the region allocated (never readable: it stays
    /// granted), which leaks ring space but no memory safety.
    pub fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), IpcError>,
    ) -> Result<u32, IpcError> {
        if len > LOCKED_WRITE_MAX {
            let mut grant = self.alloc(len)?;
            fill(grant.as_mut_slice())?; // an error drops the grant: released
            return Ok(grant.publish());
        }
        let mut st = self.state.lock();
        let Some(offset) = self.try_alloc_locked(&mut st, len) else {
            drop(st);
            self.full.fetch_add(1, Ordering::Relaxed);
            return Err(IpcError::RingFull);
        };
        let index = st.live.len() - 1; // try_alloc_locked pushed it last
        let filled = match self.buf.get(offset..offset + len) {
            Some(cells) => {
                // SAFETY: `[offset, offset+len)` was just allocated under the lock we still
                // hold and is in the granted state: no other live allocation overlaps it,
                // `read_with`/`take_with` refuse granted regions (and need the lock anyway),
                // and only this call knows its offset. So this is the only access to these
                // bytes until the lock is released below, after which the region is published
                // and only ever read. `UnsafeCell<u8>` has the layout of `u8`.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(UnsafeCell::raw_get(cells.as_ptr()), len)
                };
                fill(dst)
            }
            None => Err(IpcError::Malformed("ring range out of bounds")), // unreachable
        };
        match filled {
            Ok(()) => {
                if let Some(entry) = st.live.get_mut(index) {
                    entry.state = AllocState::Published;
                }
                Ok(offset as u32)
            }
            Err(e) => {
                self.free_locked(st, index);
                Err(e)
            }
        }
    }

    /// Run `f` over the first `len` bytes of the published allocation that starts at `offset`,
    /// then release that allocation: the one call a consumer makes per record, one lock hold
    /// (docs/internals/ipc.md#one-lock-hold-per-record-decision). `len` 0 runs `f` over an
    /// empty slice and touches nothing. No published allocation at `offset` → `Malformed`,
    /// nothing released; `len` longer than the allocation → `Malformed`, and the allocation is
    /// still released (the record that named it was bad, its bytes are of no use to anyone).
    ///
    /// `f` runs under the ring's lock, with the same rules as in [`ByteRing::read_with`].
    pub fn take_with<R>(
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
        let st = self.state.lock();
        // Records are mostly taken in the order they were written: the match is near the front.
        let Some(index) = st
            .live
            .iter()
            .position(|a| a.offset == start && a.state == AllocState::Published)
        else {
            return Err(IpcError::Malformed(
                "ring offset is not a live published allocation",
            ));
        };
        let fits = st.live.get(index).is_some_and(|a| len <= a.len);
        let bytes = if fits {
            // SAFETY: `[start, start+len)` lies inside the published allocation found above
            // under the lock `st` holds; `free_locked` marks it freed only after `f` is done.
            unsafe { self.published_bytes(&st, start, len) }
        } else {
            None
        };
        let out = bytes.map(f).ok_or(IpcError::Malformed(
            "ring range is longer than its allocation",
        ));
        self.free_locked(st, index);
        out
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
        let st = self.state.lock();
        let Some(index) = st
            .live
            .iter()
            .position(|a| a.offset == offset && a.state != AllocState::Freed)
        else {
            return false;
        };
        if st.live.get(index).map(|a| a.state) != Some(expect) {
            return false;
        }
        self.free_locked(st, index);
        true
    }

    /// Mark `live[index]` freed, reclaim what that frees, wake waiters, then unlock and call the
    /// release hook if one was asked for (outside the lock: the hook may use the ring).
    fn free_locked(&self, mut st: MutexGuard<'_, State>, index: usize) {
        if let Some(entry) = st.live.get_mut(index) {
            entry.state = AllocState::Freed;
        }
        if !Self::reclaim(&mut st, self.capacity()) {
            return;
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
#[path = "ring_tests.rs"]
mod tests;
