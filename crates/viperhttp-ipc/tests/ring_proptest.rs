//! Property tests: the byte ring against a reference model, and the blob codecs
//! (round trips; decoders never panic on arbitrary bytes).

use std::collections::VecDeque;

use proptest::prelude::*;
use viperhttp_ipc::blob::{
    push_response_header, request_headers, request_headers_len, response_headers,
    split_request_blob, split_uri, trim_ows, write_request_blob, RequestBlobParts,
};
use viperhttp_ipc::{ByteRing, IpcError};

// ---------------------------------------------------------------------------
// Ring model
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// Allocate `len`, fill with bytes derived from `seed`; publish, or drop
    /// the grant unpublished.
    Alloc { len: usize, seed: u8, publish: bool },
    /// Release the `sel`-th (mod count) unreleased allocation.
    Release { sel: usize },
    /// Read a sub-range of the `sel`-th unreleased allocation.
    Read { sel: usize, a: usize, b: usize },
    /// Release an arbitrary offset (must fail unless it is a releasable start).
    Bogus { offset: u32 },
}

fn op(cap: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..=cap + 2, any::<u8>(), prop::bool::weighted(0.9))
            .prop_map(|(len, seed, publish)| Op::Alloc { len, seed, publish }),
        3 => any::<usize>().prop_map(|sel| Op::Release { sel }),
        1 => (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(sel, a, b)| Op::Read { sel, a, b }),
        1 => (0..(cap as u32 + 4)).prop_map(|offset| Op::Bogus { offset }),
    ]
}

#[derive(Clone, Debug)]
struct Entry {
    offset: usize,
    len: usize,
    pad: usize,
    freed: bool,
    data: Vec<u8>,
}

/// Reference model. Free space is derived from the live entries themselves
/// (not from running head/tail counters as the ring does).
struct Model {
    cap: usize,
    entries: VecDeque<Entry>,
}

impl Model {
    fn used(&self) -> usize {
        self.entries.iter().map(|e| e.len + e.pad).sum()
    }

    /// Where the allocation rule of docs/internals/ipc.md#7-byte-ring-bytering must place `len`
    /// bytes: Some((offset, pad)), or None when it must fail.
    fn predict(&self, len: usize) -> Option<(usize, usize)> {
        let cap = self.cap;
        if len == 0 || len > cap {
            return None;
        }
        let (Some(first), Some(last)) = (self.entries.front(), self.entries.back()) else {
            return Some((0, 0)); // empty ring: everything from 0 is free
        };
        let head = (last.offset + last.len) % cap;
        let tail = if first.pad > 0 {
            cap - first.pad
        } else {
            first.offset
        };
        if self.used() == cap {
            return None;
        }
        if head >= tail {
            if cap - head >= len {
                Some((head, 0))
            } else if tail >= len {
                Some((0, cap - head))
            } else {
                None
            }
        } else if tail - head >= len {
            Some((head, 0))
        } else {
            None
        }
    }

    fn reclaim(&mut self) {
        while self.entries.front().is_some_and(|e| e.freed) {
            self.entries.pop_front();
        }
    }

    fn unreleased(&self) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| !self.entries[i].freed)
            .collect()
    }
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(13)) ^ (i >> 8) as u8)
        .collect()
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

fn run_ring(cap: usize, ops: Vec<Op>, release_order: Vec<usize>) -> Result<(), TestCaseError> {
    let ring = ByteRing::new(cap);
    let mut model = Model {
        cap,
        entries: VecDeque::new(),
    };
    let mut failures = 0u64;
    for op in ops {
        match op {
            Op::Alloc { len, seed, publish } => {
                let want = model.predict(len);
                match ring.alloc(len) {
                    Ok(mut g) => {
                        let (offset, pad) = want.ok_or_else(|| {
                            TestCaseError::fail(format!("alloc {len} succeeded, model says full"))
                        })?;
                        prop_assert_eq!(g.offset() as usize, offset);
                        prop_assert_eq!(g.len() as usize, len);
                        // Never overlaps a live region (or a live wrap gap).
                        for e in &model.entries {
                            prop_assert!(
                                !overlaps((offset, len), (e.offset, e.len)),
                                "overlap with {:?}",
                                e
                            );
                            if e.pad > 0 {
                                prop_assert!(!overlaps((offset, len), (cap - e.pad, e.pad)));
                            }
                        }
                        let data = pattern(seed, len);
                        g.as_mut_slice().copy_from_slice(&data);
                        model.entries.push_back(Entry {
                            offset,
                            len,
                            pad,
                            freed: false,
                            data,
                        });
                        if publish {
                            prop_assert_eq!(g.publish() as usize, offset);
                        } else {
                            // Not readable or releasable while granted.
                            prop_assert!(ring.read_with(offset as u32, 1, |_| ()).is_err());
                            prop_assert!(!ring.release(offset as u32));
                            drop(g);
                            if let Some(e) = model.entries.back_mut() {
                                e.freed = true;
                            }
                            model.reclaim();
                        }
                    }
                    Err(e) => {
                        prop_assert_eq!(e, IpcError::RingFull);
                        prop_assert!(
                            want.is_none(),
                            "alloc {} failed, model says it fits at {:?}",
                            len,
                            want
                        );
                        failures += 1;
                    }
                }
            }
            Op::Release { sel } => {
                let live = model.unreleased();
                if live.is_empty() {
                    continue;
                }
                let i = live[sel % live.len()];
                let e = model.entries[i].clone();
                let got = ring.read_with(e.offset as u32, e.len as u32, |s| s.to_vec());
                prop_assert_eq!(
                    got.as_deref(),
                    Ok(&e.data[..]),
                    "bytes changed before release"
                );
                prop_assert!(ring.release(e.offset as u32));
                prop_assert!(!ring.release(e.offset as u32), "double release accepted");
                prop_assert!(ring.read_with(e.offset as u32, 1, |_| ()).is_err());
                model.entries[i].freed = true;
                model.reclaim();
            }
            Op::Read { sel, a, b } => {
                let live = model.unreleased();
                if live.is_empty() {
                    prop_assert!(ring.read_with(0, 1, |_| ()).is_err());
                    continue;
                }
                let e = &model.entries[live[sel % live.len()]];
                let (x, y) = (a % (e.len + 1), b % (e.len + 1));
                let (lo, hi) = (x.min(y), x.max(y));
                let got = ring.read_with((e.offset + lo) as u32, (hi - lo) as u32, |s| s.to_vec());
                prop_assert_eq!(got.as_deref(), Ok(&e.data[lo..hi]));
                // One byte past the allocation is never inside it.
                prop_assert!(ring
                    .read_with(e.offset as u32, e.len as u32 + 1, |_| ())
                    .is_err());
            }
            Op::Bogus { offset } => {
                let releasable = model
                    .entries
                    .iter()
                    .any(|e| !e.freed && e.offset == offset as usize);
                if !releasable {
                    let before = ring.used();
                    prop_assert!(!ring.release(offset));
                    prop_assert_eq!(ring.used(), before);
                }
            }
        }
        prop_assert_eq!(ring.used(), model.used());
        prop_assert_eq!(ring.live_allocations(), model.entries.len());
        prop_assert_eq!(ring.full_count(), failures);
    }
    // Release everything that is left, in a random order, verifying contents.
    let mut order = release_order.into_iter();
    loop {
        let live = model.unreleased();
        if live.is_empty() {
            break;
        }
        let i = live[order.next().unwrap_or(0) % live.len()];
        let e = model.entries[i].clone();
        let got = ring.read_with(e.offset as u32, e.len as u32, |s| s.to_vec());
        prop_assert_eq!(got.as_deref(), Ok(&e.data[..]));
        prop_assert!(ring.release(e.offset as u32));
        model.entries[i].freed = true;
        model.reclaim();
        prop_assert_eq!(ring.used(), model.used());
    }
    prop_assert_eq!(ring.used(), 0);
    prop_assert_eq!(ring.live_allocations(), 0);
    // Empty: any len ≤ capacity fits, at offset 0.
    if cap > 0 {
        let g = ring.alloc(cap);
        prop_assert_eq!(g.map(|g| g.offset()).ok(), Some(0));
        prop_assert_eq!(ring.used(), 0);
    }
    Ok(())
}

fn ring_case() -> impl Strategy<Value = (usize, Vec<Op>, Vec<usize>)> {
    prop_oneof![Just(1usize), 2..16usize, 16..300usize, Just(4096usize)].prop_flat_map(|cap| {
        (
            Just(cap),
            prop::collection::vec(op(cap), 0..200),
            prop::collection::vec(any::<usize>(), 0..64),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ring_matches_model((cap, ops, order) in ring_case()) {
        run_ring(cap, ops, order)?;
    }

    #[test]
    fn empty_ring_fits_any_len(cap in 1..5000usize, first in 1..5000usize, len in 1..5000usize) {
        let ring = ByteRing::new(cap);
        if first <= cap {
            let g = ring.alloc(first);
            prop_assert!(g.is_ok());
            let off = g.map(|g| g.publish()).unwrap_or(u32::MAX);
            prop_assert!(ring.release(off));
        }
        prop_assert_eq!(ring.alloc(len).is_ok(), len <= cap);
    }
}

// ---------------------------------------------------------------------------
// Blob codecs
// ---------------------------------------------------------------------------

fn no_nul(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..max)
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}".prop_map(String::into_bytes)
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no control bytes", |b| {
            (*b >= 0x20 || *b == b'\t') && *b != 0x7f
        }),
        0..48,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn request_blob_round_trip(
        uri in prop::collection::vec(any::<u8>(), 0..80),
        headers in prop::collection::vec((no_nul(20), no_nul(40)), 0..10),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let pairs: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let hl = request_headers_len(pairs.iter().copied());
        let mut blob = vec![0u8; uri.len() + hl + body.len()];
        prop_assert!(write_request_blob(&mut blob, &uri, pairs.iter().copied(), &body).is_ok());
        let parts = split_request_blob(&blob, uri.len(), hl);
        prop_assert_eq!(parts, Ok(RequestBlobParts { uri: &uri, headers: &blob[uri.len()..uri.len() + hl], body: &body }));
        let decoded: Result<Vec<_>, _> = request_headers(&blob[uri.len()..uri.len() + hl]).collect();
        let expect: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (*n, trim_ows(v))).collect();
        prop_assert_eq!(decoded, Ok(expect));
        // Any other destination length is refused.
        let mut short = vec![0u8; blob.len().saturating_sub(1)];
        if !blob.is_empty() {
            prop_assert!(write_request_blob(&mut short, &uri, pairs.iter().copied(), &body).is_err());
        }
        let mut long = vec![0u8; blob.len() + 1];
        prop_assert!(write_request_blob(&mut long, &uri, pairs.iter().copied(), &body).is_err());
    }

    #[test]
    fn response_block_round_trip(headers in prop::collection::vec((token(), field_value()), 0..12)) {
        let mut block = Vec::new();
        for (n, v) in &headers {
            prop_assert!(push_response_header(&mut block, n, v).is_ok());
        }
        let decoded: Result<Vec<_>, _> = response_headers(&block).collect();
        let expect: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        prop_assert_eq!(decoded, Ok(expect));
    }

    #[test]
    fn response_header_validation(name in prop::collection::vec(any::<u8>(), 0..12), value in prop::collection::vec(any::<u8>(), 0..12)) {
        let mut block = b"A: b\r\n".to_vec();
        let ok_name = !name.is_empty() && name.iter().all(|&b| viperhttp_ipc::blob::is_tchar(b));
        let ok_value = !value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
        let res = push_response_header(&mut block, &name, &value);
        prop_assert_eq!(res.is_ok(), ok_name && ok_value);
        if res.is_err() {
            prop_assert_eq!(&block[..], &b"A: b\r\n"[..]);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), a in any::<usize>(), b in any::<usize>()) {
        // Each iterator terminates and reports at most one error, at the end.
        let items: Vec<_> = request_headers(&bytes).collect();
        prop_assert!(items.len() <= bytes.len());
        prop_assert!(items.iter().rev().skip(1).all(|r| r.is_ok()));
        let items: Vec<_> = response_headers(&bytes).collect();
        prop_assert!(items.len() <= bytes.len());
        prop_assert!(items.iter().rev().skip(1).all(|r| r.is_ok()));
        let _ = split_request_blob(&bytes, a, b);
        let _ = split_request_blob(&bytes, a % (bytes.len() + 1), b % (bytes.len() + 1));
        let (path, query) = split_uri(&bytes);
        prop_assert!(path.len() + query.map_or(0, |q| q.len() + 1) == bytes.len());
        let _ = trim_ows(&bytes);
    }
}
