//! `ByteRing` against a reference model of docs/internals/ipc.md §7.
//!
//! An arbitrary sequence of alloc / alloc_wait / write / publish / drop-grant /
//! release / bogus release / read operations, and the one-lock-hold pair
//! `write` (allocate + fill + publish, or a failing fill) / `take_with` (read +
//! release, at any offset and length), runs against a small ring and
//! against a plain re-implementation of the documented allocation rule. After
//! every step:
//!
//! * every allocation result (success, offset) equals the model's;
//! * `used()`, `live_allocations()` and `full_count()` equal the model's;
//! * no returned region leaves the buffer or overlaps a live region;
//! * every granted and published region still holds exactly the bytes its
//!   owner wrote (no corruption by another writer or by reuse);
//! * `read_with` succeeds exactly when the range lies inside one published,
//!   unreleased allocation, and then sees the owner's bytes;
//! * `take_with` succeeds exactly when a published allocation starts at the
//!   offset and is at least `len` long, sees the owner's bytes, and releases that
//!   allocation whenever one starts there (also when `len` is too long);
//! * the release hook fires exactly when the model says it should.
#![no_main]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use viperhttp_ipc::{ByteRing, IpcError, RingGrant};

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc { len: u16 },
    AllocWait { len: u16, stop: bool },
    Write { grant: u8, seed: u8 },
    Publish { grant: u8 },
    DropGrant { grant: u8 },
    Release { published: u8 },
    ReleaseAt { offset: u16 },
    Read { published: u8, start: u16, len: u16 },
    ReadAt { offset: u16, len: u16 },
    WriteRecord { len: u16, seed: u8, fail: bool },
    TakeAt { offset: u16, len: u16 },
    WantRelease,
}

#[derive(Arbitrary, Debug)]
struct Input {
    cap: u16,
    ops: Vec<Op>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Granted,
    Published,
    Freed,
}

#[derive(Clone, Debug)]
struct MAlloc {
    offset: usize,
    len: usize,
    pad: usize,
    state: St,
    /// The bytes the owner wrote.
    content: Vec<u8>,
}

/// docs/internals/ipc.md §7, transcribed.
struct Model {
    cap: usize,
    head: usize,
    tail: usize,
    used: usize,
    live: VecDeque<MAlloc>,
    full: u64,
    want_release: bool,
    hook_calls: usize,
}

impl Model {
    fn alloc(&mut self, len: usize) -> Option<usize> {
        let cap = self.cap;
        if len == 0 || len > cap {
            return None;
        }
        if self.used == 0 {
            self.head = 0;
            self.tail = 0;
        }
        if len > cap - self.used {
            return None;
        }
        let (offset, pad) = if self.head >= self.tail {
            if len <= cap - self.head {
                (self.head, 0)
            } else if len <= self.tail {
                (0, cap - self.head)
            } else {
                return None;
            }
        } else if len <= self.tail - self.head {
            (self.head, 0)
        } else {
            return None;
        };
        let end = offset + len;
        self.head = if end == cap { 0 } else { end };
        self.used += len + pad;
        self.live.push_back(MAlloc {
            offset,
            len,
            pad,
            state: St::Granted,
            content: Vec::new(),
        });
        Some(offset)
    }

    fn release(&mut self, offset: usize, expect: St) -> bool {
        let Some(entry) = self
            .live
            .iter_mut()
            .find(|a| a.offset == offset && a.state != St::Freed)
        else {
            return false;
        };
        if entry.state != expect {
            return false;
        }
        entry.state = St::Freed;
        let mut popped = false;
        while self.live.front().is_some_and(|a| a.state == St::Freed) {
            let a = self.live.pop_front().unwrap();
            let end = a.offset + a.len;
            self.tail = if end == self.cap { 0 } else { end };
            self.used -= a.len + a.pad;
            popped = true;
        }
        if self.live.is_empty() {
            assert_eq!(self.used, 0, "model: used must be 0 when nothing is live");
            self.head = 0;
            self.tail = 0;
        }
        if popped && self.want_release {
            self.want_release = false;
            self.hook_calls += 1;
        }
        true
    }

    fn entry(&mut self, offset: usize) -> &mut MAlloc {
        self.live
            .iter_mut()
            .find(|a| a.offset == offset && a.state != St::Freed)
            .expect("model entry")
    }

    /// Whether `[start, start+len)` lies inside one published allocation.
    fn readable(&self, start: usize, len: usize) -> Option<&MAlloc> {
        let end = start.checked_add(len)?;
        self.live
            .iter()
            .find(|a| a.state == St::Published && a.offset <= start && end <= a.offset + a.len)
    }
}

fn pattern(seed: u8, id: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(id.wrapping_mul(7)) as u8 ^ seed)
        .collect()
}

/// The region must be in bounds and overlap no other live model region.
fn check_fresh_region(model: &Model, offset: usize, len: usize) {
    assert!(offset + len <= model.cap, "grant past the buffer end");
    // The newest live entry is the fresh one; all others must be disjoint.
    let n = model.live.len();
    for a in model.live.iter().take(n - 1) {
        let disjoint = offset + len <= a.offset || a.offset + a.len <= offset;
        assert!(
            disjoint,
            "grant [{offset},{}) overlaps live [{},{}) ({:?})",
            offset + len,
            a.offset,
            a.offset + a.len,
            a.state
        );
    }
}

fuzz_target!(|input: Input| {
    let cap = (input.cap % 512) as usize + 1;
    let ring = ByteRing::new(cap);
    assert_eq!(ring.capacity(), cap);
    let hook_calls = Arc::new(AtomicUsize::new(0));
    {
        let calls = Arc::clone(&hook_calls);
        ring.set_release_hook(Arc::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let mut model = Model {
        cap,
        head: 0,
        tail: 0,
        used: 0,
        live: VecDeque::new(),
        full: 0,
        want_release: false,
        hook_calls: 0,
    };
    // Unpublished allocations.
    let mut grants: Vec<RingGrant<'_>> = Vec::new();
    // Offsets of published, unreleased allocations.
    let mut published: Vec<u32> = Vec::new();
    let mut next_id: u32 = 0;

    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Alloc { len } => {
                let len = len as usize % (cap + 3);
                let expect = model.alloc(len);
                match ring.alloc(len) {
                    Ok(mut g) => {
                        let off = expect.expect("ring granted an allocation the model refuses");
                        assert_eq!(g.offset() as usize, off, "offset differs from the model");
                        assert_eq!(g.len() as usize, len);
                        check_fresh_region(&model, off, len);
                        next_id += 1;
                        let content = pattern(0, next_id, len);
                        g.as_mut_slice().copy_from_slice(&content);
                        model.entry(off).content = content;
                        grants.push(g);
                    }
                    Err(e) => {
                        assert_eq!(e, IpcError::RingFull);
                        assert!(
                            expect.is_none(),
                            "ring refused {len} bytes the model grants"
                        );
                        model.full += 1;
                    }
                }
            }
            Op::AllocWait { len, stop } => {
                let len = len as usize % (cap + 3);
                let stop_flag = AtomicBool::new(stop);
                let too_big = len == 0 || len > cap;
                let expect = model.alloc(len);
                match ring.alloc_wait(len, Duration::ZERO, &stop_flag) {
                    Ok(mut g) => {
                        let off = expect.expect("alloc_wait granted what the model refuses");
                        assert_eq!(g.offset() as usize, off);
                        check_fresh_region(&model, off, len);
                        next_id += 1;
                        let content = pattern(1, next_id, len);
                        g.as_mut_slice().copy_from_slice(&content);
                        model.entry(off).content = content;
                        grants.push(g);
                    }
                    Err(e) => {
                        assert!(expect.is_none(), "alloc_wait refused what the model grants");
                        model.full += 1;
                        if too_big || !stop {
                            assert_eq!(e, IpcError::RingFull);
                        } else {
                            assert_eq!(e, IpcError::Stopped);
                        }
                    }
                }
            }
            Op::Write { grant, seed } => {
                if grants.is_empty() {
                    continue;
                }
                let i = grant as usize % grants.len();
                let g = &mut grants[i];
                next_id += 1;
                let content = pattern(seed, next_id, g.len() as usize);
                g.as_mut_slice().copy_from_slice(&content);
                let off = g.offset() as usize;
                model.entry(off).content = content;
            }
            Op::Publish { grant } => {
                if grants.is_empty() {
                    continue;
                }
                let i = grant as usize % grants.len();
                let g = grants.swap_remove(i);
                let off = g.publish();
                let e = model.entry(off as usize);
                assert_eq!(e.state, St::Granted);
                e.state = St::Published;
                published.push(off);
            }
            Op::DropGrant { grant } => {
                if grants.is_empty() {
                    continue;
                }
                let i = grant as usize % grants.len();
                let g = grants.swap_remove(i);
                let off = g.offset() as usize;
                drop(g);
                assert!(model.release(off, St::Granted));
            }
            Op::Release { published: p } => {
                if published.is_empty() {
                    continue;
                }
                let i = p as usize % published.len();
                let off = published.swap_remove(i);
                assert!(model.release(off as usize, St::Published));
                assert!(
                    ring.release(off),
                    "release of a published allocation failed"
                );
                // A second release of the same offset is refused and changes nothing.
                assert!(!model.release(off as usize, St::Published));
                assert!(!ring.release(off), "double release accepted");
            }
            Op::ReleaseAt { offset } => {
                let off = offset as usize % (cap + 2);
                let expect = model.release(off, St::Published);
                assert_eq!(ring.release(off as u32), expect, "release({off}) disagrees");
                if expect {
                    published.retain(|&o| o as usize != off);
                }
            }
            Op::Read {
                published: p,
                start,
                len,
            } => {
                if published.is_empty() {
                    continue;
                }
                let off = published[p as usize % published.len()] as usize;
                let e = model.entry(off).clone();
                let start = start as usize % e.len;
                let len = len as usize % (e.len - start + 1);
                let got = ring
                    .read_with((off + start) as u32, len as u32, |b| b.to_vec())
                    .expect("read inside a published allocation failed");
                assert_eq!(
                    got,
                    e.content[start..start + len],
                    "corrupted published bytes"
                );
            }
            Op::ReadAt { offset, len } => {
                let off = offset as usize % (cap + 2);
                let len = len as usize % (cap + 2);
                let got = ring.read_with(off as u32, len as u32, |b| b.to_vec());
                if len == 0 {
                    assert_eq!(got, Ok(Vec::new()));
                    continue;
                }
                match model.readable(off, len) {
                    Some(a) => {
                        let rel = off - a.offset;
                        assert_eq!(
                            got.expect("readable range refused"),
                            a.content[rel..rel + len],
                            "corrupted bytes"
                        );
                    }
                    None => assert!(
                        matches!(got, Err(IpcError::Malformed(_))),
                        "read of [{off},{}) outside a published allocation was allowed",
                        off + len
                    ),
                }
            }
            Op::WriteRecord { len, seed, fail } => {
                let len = len as usize % (cap + 3);
                let expect = model.alloc(len);
                next_id += 1;
                let content = pattern(seed, next_id, len);
                let got = ring.write(len, |dst| {
                    dst.copy_from_slice(&content);
                    if fail {
                        Err(IpcError::Malformed("fill failed"))
                    } else {
                        Ok(())
                    }
                });
                match (got, expect) {
                    (Ok(off), Some(want)) => {
                        assert!(!fail, "write succeeded although fill failed");
                        assert_eq!(off as usize, want, "write offset differs from the model");
                        check_fresh_region(&model, want, len);
                        let e = model.entry(want);
                        e.content = content;
                        e.state = St::Published;
                        published.push(off);
                    }
                    (Err(IpcError::Malformed(_)), Some(want)) => {
                        assert!(fail, "write failed without a fill error");
                        assert!(model.release(want, St::Granted));
                    }
                    (Err(IpcError::RingFull), None) => model.full += 1,
                    (got, expect) => panic!("write({len}) = {got:?}, model {expect:?}"),
                }
            }
            Op::TakeAt { offset, len } => {
                let off = offset as usize % (cap + 2);
                let len = len as usize % (cap + 2);
                let got = ring.take_with(off as u32, len as u32, |b| b.to_vec());
                if len == 0 {
                    assert_eq!(got, Ok(Vec::new()));
                    continue;
                }
                let entry = model
                    .live
                    .iter()
                    .find(|a| a.offset == off && a.state == St::Published)
                    .cloned();
                match entry {
                    None => assert!(
                        matches!(got, Err(IpcError::Malformed(_))),
                        "take_with({off}) without a published allocation there"
                    ),
                    Some(a) => {
                        if len <= a.len {
                            assert_eq!(got.expect("take refused"), a.content[..len]);
                        } else {
                            assert!(matches!(got, Err(IpcError::Malformed(_))));
                        }
                        assert!(model.release(off, St::Published));
                        published.retain(|&o| o as usize != off);
                    }
                }
            }
            Op::WantRelease => {
                ring.want_release_notification();
                model.want_release = true;
            }
        }

        // Global invariants after every step.
        assert_eq!(ring.used(), model.used, "used() differs from the model");
        assert_eq!(
            ring.live_allocations(),
            model.live.len(),
            "live_allocations() differs from the model"
        );
        assert_eq!(ring.full_count(), model.full, "full_count() differs");
        assert_eq!(
            hook_calls.load(Ordering::SeqCst),
            model.hook_calls,
            "release hook calls differ"
        );
        assert!(model.used <= cap);
        for g in grants.iter_mut() {
            let off = g.offset() as usize;
            let want = &model.entry(off).content;
            assert_eq!(g.as_mut_slice(), &want[..], "granted bytes corrupted");
        }
        for &off in &published {
            let e = model.entry(off as usize);
            let (len, want) = (e.len, e.content.clone());
            let got = ring
                .read_with(off, len as u32, |b| b.to_vec())
                .expect("published allocation unreadable");
            assert_eq!(got, want, "published bytes corrupted");
        }
    }

    // Tear down: drop grants, release everything; the ring must end empty.
    for g in grants.drain(..) {
        let off = g.offset() as usize;
        drop(g);
        assert!(model.release(off, St::Granted));
    }
    for off in published.drain(..) {
        assert!(ring.release(off));
        assert!(model.release(off as usize, St::Published));
    }
    assert_eq!(ring.used(), 0);
    assert_eq!(ring.live_allocations(), 0);
    assert_eq!(hook_calls.load(Ordering::SeqCst), model.hook_calls);
    // Empty ring: any len <= cap fits.
    let g = ring
        .alloc(cap)
        .expect("a full-size allocation must fit an empty ring");
    assert_eq!(g.offset(), 0);
});
