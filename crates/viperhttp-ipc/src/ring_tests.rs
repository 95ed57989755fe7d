//! Unit tests of the byte ring (ring.rs): allocation, wrap, release order, waits, hooks,
//! and the one-lock-hold `write`/`take_with` pair.

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

/// `write` allocates, fills and publishes in one call, small (under the lock) or large (through
/// a grant); `take_with` reads and releases in one call.
#[test]
fn write_then_take_small_and_large() {
    let ring = ByteRing::new(4 * LOCKED_WRITE_MAX);
    let small = ring
        .write(5, |dst| {
            dst.copy_from_slice(b"hello");
            Ok(())
        })
        .unwrap();
    let big_len = LOCKED_WRITE_MAX + 1;
    let big = ring
        .write(big_len, |dst| {
            dst.fill(7);
            Ok(())
        })
        .unwrap();
    assert_eq!((small, big), (0, 5));
    assert_eq!(ring.used(), 5 + big_len);
    // Published: readable by anyone, more than once.
    assert_eq!(ring.read_with(small, 5, <[u8]>::to_vec).unwrap(), b"hello");
    assert_eq!(ring.take_with(small, 5, <[u8]>::to_vec).unwrap(), b"hello");
    assert_eq!(ring.used(), big_len);
    assert!(
        ring.read_with(small, 1, |_| ()).is_err(),
        "taken means released"
    );
    let all_sevens = ring
        .take_with(big, big_len as u32, |b| b.iter().all(|&x| x == 7))
        .unwrap();
    assert!(all_sevens);
    assert_eq!((ring.used(), ring.live_allocations()), (0, 0));
}

/// A failing `fill` gives its error and the region back, on both paths; a record that does not
/// fit fails like `alloc` and is counted.
#[test]
fn write_failures_leave_nothing_behind() {
    let ring = ByteRing::new(4 * LOCKED_WRITE_MAX);
    for len in [10, LOCKED_WRITE_MAX, LOCKED_WRITE_MAX + 1] {
        let err = ring.write(len, |_| Err(IpcError::Malformed("no")));
        assert_eq!(err, Err(IpcError::Malformed("no")), "len {len}");
        assert_eq!((ring.used(), ring.live_allocations()), (0, 0), "len {len}");
    }
    assert_eq!(ring.full_count(), 0);
    let keep = fill(&ring, 3 * LOCKED_WRITE_MAX, 1);
    let too_big = ring.write(LOCKED_WRITE_MAX + 1, |_| Ok(()));
    assert_eq!(too_big, Err(IpcError::RingFull));
    let small = ring.write(16, |_| Ok(()));
    assert!(small.is_ok(), "a small one still fits");
    assert_eq!(ring.write(0, |_| Ok(())), Err(IpcError::RingFull));
    assert_eq!(ring.full_count(), 2);
    assert!(ring.release(keep));
    assert!(ring.release(small.unwrap()));
    assert_eq!(ring.used(), 0);
}

/// `take_with` refuses what is not the start of a published allocation (and releases nothing),
/// releases an allocation a too-long record names, and ignores `len` 0.
#[test]
fn take_with_validation() {
    let ring = ByteRing::new(100);
    let a = fill(&ring, 10, 1);
    let b = fill(&ring, 10, 2);
    assert!(matches!(
        ring.take_with(a + 1, 3, |_| ()),
        Err(IpcError::Malformed(_))
    ));
    assert!(ring.take_with(60, 3, |_| ()).is_err(), "not allocated");
    assert_eq!(ring.take_with(77, 0, |s| s.len()), Ok(0));
    assert_eq!(ring.live_allocations(), 2, "nothing released so far");
    let g = ring.alloc(5).unwrap();
    assert!(ring.take_with(g.offset(), 5, |_| ()).is_err(), "granted");
    drop(g);
    // Longer than its allocation: an error, and the allocation is gone.
    assert!(ring.take_with(b, 11, |_| ()).is_err());
    assert!(ring.read_with(b, 1, |_| ()).is_err());
    assert!(!ring.release(b));
    // Shorter is fine: a record may name a prefix.
    assert_eq!(ring.take_with(a, 4, <[u8]>::to_vec).unwrap(), [1; 4]);
    assert_eq!((ring.used(), ring.live_allocations()), (0, 0));
}

/// A take frees space like `release`: blocked writers wake and the release hook fires.
#[test]
fn take_with_wakes_waiters_and_calls_the_hook() {
    let ring = Arc::new(ByteRing::new(64));
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&calls);
    ring.set_release_hook(Arc::new(move || {
        c2.fetch_add(1, Ordering::SeqCst);
    }));
    let a = ring
        .write(64, |d| {
            d.fill(1);
            Ok(())
        })
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (r2, s2) = (Arc::clone(&ring), Arc::clone(&stop));
    let waiter = thread::spawn(move || {
        r2.alloc_wait(32, Duration::from_secs(10), &s2)
            .map(|g| g.offset())
    });
    thread::sleep(Duration::from_millis(30));
    ring.want_release_notification();
    assert_eq!(ring.take_with(a, 64, |b| b.len()), Ok(64));
    assert_eq!(waiter.join().unwrap(), Ok(0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
