//! Multi-threaded stress: producers allocate variable-size request blobs in a
//! small ring and push records through a bounded queue; one consumer (using the
//! park / waker protocol) verifies every byte and releases, sometimes out of
//! order. Checks: no corruption, no loss, per-producer FIFO, ring ends empty.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use viperhttp_ipc::blob::{
    request_headers, request_headers_len, split_request_blob, write_request_blob,
};
use viperhttp_ipc::{flags, ByteRing, IpcMsg, MsgQueue, MsgType};

const RING: usize = 64 * 1024;
const PRODUCERS: u32 = 2;
const PER_PRODUCER: u32 = 100_000;
const WAIT: Duration = Duration::from_secs(20);

/// splitmix64: deterministic pseudo-random numbers without a dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn body_len(producer: u32, seq: u32) -> usize {
    let r = mix(u64::from(producer) << 32 | u64::from(seq));
    // Mostly small, sometimes up to 8 KiB, rarely empty.
    match r % 16 {
        0 => 0,
        1 => (r >> 8) as usize % 8192,
        _ => (r >> 8) as usize % 512,
    }
}

fn body_byte(producer: u32, seq: u32, i: usize) -> u8 {
    (seq.wrapping_mul(31) as u8)
        ^ (i as u8).wrapping_mul(7)
        ^ ((i >> 8) as u8)
        ^ (producer as u8).wrapping_mul(101)
}

fn uri(producer: u32, seq: u32) -> String {
    format!("/p{producer}/item/{seq}?q={}", seq % 97)
}

/// A waker the consumer can sleep on (stands in for the eventfd).
#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    fn wake(&self) {
        *self.woken.lock() = true;
        self.cv.notify_one();
    }

    fn wait(&self) -> bool {
        let mut w = self.woken.lock();
        let deadline = Instant::now() + WAIT;
        while !*w {
            if self.cv.wait_until(&mut w, deadline).timed_out() {
                return false;
            }
        }
        *w = false;
        true
    }
}

fn produce(ring: &ByteRing, queue: &MsgQueue, stop: &AtomicBool, producer: u32) {
    let mut body = Vec::with_capacity(8192);
    for seq in 0..PER_PRODUCER {
        let u = uri(producer, seq);
        let seq_s = seq.to_string();
        let headers: [(&[u8], &[u8]); 2] =
            [(b"host", b" example.com "), (b"x-seq", seq_s.as_bytes())];
        body.clear();
        let n = body_len(producer, seq);
        body.extend((0..n).map(|i| body_byte(producer, seq, i)));
        let hl = request_headers_len(headers);
        let total = u.len() + hl + body.len();
        let mut grant = ring
            .alloc_wait(total, WAIT, stop)
            .expect("ring space within the wait");
        write_request_blob(grant.as_mut_slice(), u.as_bytes(), headers, &body)
            .expect("blob fits its grant");
        let offset = grant.publish();
        let msg = IpcMsg {
            request_id: producer << 24 | seq,
            msg_type: MsgType::ReqHttp as u8,
            uri_len: u.len() as u16,
            query_len: (u.len() - u.find('?').expect("query") - 1) as u16,
            headers_len: hl as u16,
            headers_offset: offset + u.len() as u32,
            body_len: body.len() as u32,
            buffer_offset: offset,
            flags: flags::KEEPALIVE,
            ..IpcMsg::default()
        };
        // Mix the non-blocking push (with retry) and the blocking one.
        if seq % 2 == 0 {
            queue
                .push_wait(msg, WAIT, stop)
                .expect("queue space within the wait");
        } else {
            let mut m = msg;
            while let Err(back) = queue.push(m) {
                m = back;
                queue.want_space_notification();
                thread::yield_now();
            }
        }
    }
}

fn verify(ring: &ByteRing, m: &IpcMsg) {
    let producer = m.request_id >> 24;
    let seq = m.request_id & 0xFF_FFFF;
    let total = u32::from(m.uri_len) + u32::from(m.headers_len) + m.body_len;
    assert_eq!(m.headers_offset, m.buffer_offset + u32::from(m.uri_len));
    ring.read_with(m.buffer_offset, total, |blob| {
        let parts =
            split_request_blob(blob, m.uri_len.into(), m.headers_len.into()).expect("blob splits");
        assert_eq!(
            parts.uri,
            uri(producer, seq).as_bytes(),
            "uri of {producer}/{seq}"
        );
        let q = &parts.uri[parts.uri.len() - usize::from(m.query_len)..];
        assert_eq!(q, format!("q={}", seq % 97).as_bytes());
        let hs: Vec<_> = request_headers(parts.headers)
            .collect::<Result<_, _>>()
            .expect("headers decode");
        let seq_s = seq.to_string();
        assert_eq!(
            hs,
            vec![
                (&b"host"[..], &b"example.com"[..]),
                (b"x-seq", seq_s.as_bytes())
            ]
        );
        assert_eq!(parts.body.len(), body_len(producer, seq));
        for (i, &b) in parts.body.iter().enumerate() {
            assert_eq!(
                b,
                body_byte(producer, seq, i),
                "body byte {i} of {producer}/{seq}"
            );
        }
    })
    .expect("published blob is readable");
}

#[test]
fn ring_and_queue_stress() {
    let ring = Arc::new(ByteRing::new(RING));
    let queue = Arc::new(MsgQueue::new(64));
    let stop = Arc::new(AtomicBool::new(false));
    let signal = Arc::new(Signal::default());
    let wakes = Arc::new(AtomicU64::new(0));
    {
        let (signal, wakes) = (Arc::clone(&signal), Arc::clone(&wakes));
        queue.set_waker(Arc::new(move || {
            wakes.fetch_add(1, Ordering::Relaxed);
            signal.wake();
        }));
    }
    let t0 = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (ring, queue, stop) = (Arc::clone(&ring), Arc::clone(&queue), Arc::clone(&stop));
            thread::spawn(move || produce(&ring, &queue, &stop, p))
        })
        .collect();

    let total = u64::from(PRODUCERS) * u64::from(PER_PRODUCER);
    let mut next_seq = vec![0u32; PRODUCERS as usize];
    let mut held: Vec<IpcMsg> = Vec::new();
    let mut batch = Vec::with_capacity(32);
    let mut got = 0u64;
    // Times the consumer announced it would sleep. A producer may take the
    // announcement and call the waker even when `park()` then finds a record
    // and returns false (a harmless early wake-up), so wakes are bounded by
    // announcements, not by the sleeps that followed.
    let mut park_announcements = 0u64;
    let mut parks = 0u64;
    let mut rng = 0x5EED_u64;
    while got < total {
        batch.clear();
        if queue.pop_batch(&mut batch, 32) == 0 {
            // Nothing queued: producers may be waiting for ring space that only
            // the held blobs pin, so finish those first (oldest last).
            if let Some(h) = held.pop() {
                verify(&ring, &h);
                assert!(ring.release(h.buffer_offset));
                continue;
            }
            park_announcements += 1;
            if queue.park() {
                parks += 1;
                assert!(signal.wait(), "consumer never woken: lost wake-up");
            }
            continue;
        }
        for m in &batch {
            let producer = (m.request_id >> 24) as usize;
            let seq = m.request_id & 0xFF_FFFF;
            assert_eq!(seq, next_seq[producer], "FIFO order of producer {producer}");
            next_seq[producer] += 1;
            verify(&ring, m);
            got += 1;
            rng = mix(rng);
            // Hold about one in eight blobs and release them later, out of order.
            if rng & 7 == 0 && held.len() < 6 {
                held.push(*m);
            } else {
                assert!(ring.release(m.buffer_offset), "release of a live blob");
            }
            if !held.is_empty() && (rng >> 8) % 5 == 1 {
                let i = (rng >> 16) as usize % held.len();
                let h = held.swap_remove(i);
                verify(&ring, &h); // still intact after later blobs came and went
                assert!(ring.release(h.buffer_offset));
            }
        }
    }
    for h in held.drain(..).rev() {
        verify(&ring, &h);
        assert!(ring.release(h.buffer_offset));
    }
    for p in producers {
        p.join().expect("producer thread");
    }
    assert_eq!(next_seq, vec![PER_PRODUCER; PRODUCERS as usize]);
    assert!(queue.is_empty());
    assert_eq!(ring.used(), 0, "ring ends empty");
    assert_eq!(ring.live_allocations(), 0);
    // At most one wake per announced parked period (never a wake storm).
    let woken = wakes.load(Ordering::Relaxed);
    assert!(
        woken <= park_announcements,
        "{woken} wakes for {park_announcements} park announcements"
    );
    eprintln!(
        "stress: {total} msgs in {:?}, ring_full waits {}, parks {parks}, wakes {}",
        t0.elapsed(),
        ring.full_count(),
        wakes.load(Ordering::Relaxed)
    );
}

#[test]
fn stop_unblocks_everyone() {
    let ring = Arc::new(ByteRing::new(1024));
    let queue = Arc::new(MsgQueue::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let _hold = ring.alloc(1024).expect("empty ring").publish();
    queue.push(IpcMsg::default()).expect("empty queue");
    let mut threads = Vec::new();
    for _ in 0..3 {
        let (ring, stop) = (Arc::clone(&ring), Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            ring.alloc_wait(10, Duration::from_secs(60), &stop)
                .map(|g| g.offset())
                .err()
        }));
    }
    for _ in 0..3 {
        let (queue, stop) = (Arc::clone(&queue), Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            queue
                .push_wait(IpcMsg::default(), Duration::from_secs(60), &stop)
                .err()
        }));
    }
    let empty = Arc::new(MsgQueue::new(4));
    let waiter = {
        let (empty, stop) = (Arc::clone(&empty), Arc::clone(&stop));
        thread::spawn(move || empty.wait_nonempty(Duration::from_secs(60), &stop))
    };
    thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    stop.store(true, Ordering::SeqCst);
    ring.wake_all();
    queue.wake_all();
    empty.wake_all();
    for t in threads {
        assert_eq!(
            t.join().expect("waiter"),
            Some(viperhttp_ipc::IpcError::Stopped)
        );
    }
    assert!(!waiter.join().expect("waiter"));
    assert!(t0.elapsed() < Duration::from_secs(2));
}
