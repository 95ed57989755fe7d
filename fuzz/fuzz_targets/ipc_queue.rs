//! `MsgQueue` (docs/internals/ipc.md §8) and the `Ipc` id / cancellation bookkeeping
//! (§9) against a `VecDeque` model.
//!
//! Arbitrary push / push_wait / pop / pop_batch / park / unpark /
//! want-space / cancel sequences on one thread. Checked after every step:
//! FIFO order and contents, the bound (a full push gives the record back), the
//! parked-consumer protocol (a push that finds the consumer parked clears the
//! flag and calls the waker exactly once; `park` on a non-empty queue returns
//! false and clears the flag), the one-shot space hook, and the cancelled set.
#![no_main]

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use viperhttp_ipc::{Ipc, IpcConfig, IpcError, IpcMsg, MsgQueue};

#[derive(Arbitrary, Debug)]
enum Op {
    Push { status: u16, flags: u8 },
    PushWait { status: u16, stop: bool },
    Pop,
    PopBatch { max: u8 },
    Park,
    Unpark,
    WantSpace,
    WaitNonempty { stop: bool },
    Cancel { id: u8 },
    ClearCancelled { id: u8 },
    NextId,
}

#[derive(Arbitrary, Debug)]
struct Input {
    cap: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let cap_req = (input.cap % 40) as usize;
    let q = MsgQueue::new(cap_req);
    let cap = cap_req.max(1);
    assert_eq!(q.capacity(), cap);

    let wakes = Arc::new(AtomicUsize::new(0));
    let space = Arc::new(AtomicUsize::new(0));
    {
        let w = Arc::clone(&wakes);
        q.set_waker(Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        let s = Arc::clone(&space);
        q.set_space_hook(Arc::new(move || {
            s.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let ipc = Ipc::new(&IpcConfig {
        ipc_ring_size: 64,
        ipc_request_queue_len: 1,
        ipc_response_queue_len: 1,
    });

    let mut model: VecDeque<IpcMsg> = VecDeque::new();
    let mut parked = false;
    let mut want_space = false;
    let (mut m_wakes, mut m_space) = (0usize, 0usize);
    let mut next_rid: u32 = 0;
    let mut m_cancelled: HashSet<u32> = HashSet::new();
    let mut last_id = 0u32;

    // A push that finds the consumer parked clears the flag and wakes it once.
    fn on_push(parked: &mut bool, m_wakes: &mut usize) {
        if *parked {
            *parked = false;
            *m_wakes += 1;
        }
    }

    for op in input.ops.into_iter().take(512) {
        match op {
            Op::Push { status, flags } => {
                next_rid += 1;
                let msg = IpcMsg {
                    request_id: next_rid,
                    status_code: status,
                    flags,
                    ..IpcMsg::default()
                };
                match q.push(msg) {
                    Ok(()) => {
                        assert!(model.len() < cap, "push past the bound");
                        model.push_back(msg);
                        on_push(&mut parked, &mut m_wakes);
                    }
                    Err(back) => {
                        assert_eq!(model.len(), cap, "push refused below the bound");
                        assert_eq!(back, msg, "a refused push must give the record back");
                    }
                }
            }
            Op::PushWait { status, stop } => {
                next_rid += 1;
                let msg = IpcMsg {
                    request_id: next_rid,
                    status_code: status,
                    ..IpcMsg::default()
                };
                let flag = AtomicBool::new(stop);
                match q.push_wait(msg, Duration::ZERO, &flag) {
                    Ok(()) => {
                        assert!(model.len() < cap);
                        model.push_back(msg);
                        on_push(&mut parked, &mut m_wakes);
                    }
                    Err(e) => {
                        assert_eq!(model.len(), cap);
                        let want = if stop {
                            IpcError::Stopped
                        } else {
                            IpcError::QueueFull
                        };
                        assert_eq!(e, want);
                    }
                }
            }
            Op::Pop => {
                let got = q.pop();
                let want = model.pop_front();
                assert_eq!(got, want, "pop out of FIFO order");
                if want.is_some() && want_space {
                    want_space = false;
                    m_space += 1;
                }
            }
            Op::PopBatch { max } => {
                let max = max as usize % (cap + 3);
                let mut out = vec![IpcMsg::default()];
                let n = q.pop_batch(&mut out, max);
                let k = model.len().min(max);
                assert_eq!(n, k);
                assert_eq!(out.len(), 1 + k, "pop_batch must append");
                for got in out.iter().skip(1) {
                    assert_eq!(Some(*got), model.pop_front(), "pop_batch order");
                }
                if k > 0 && want_space {
                    want_space = false;
                    m_space += 1;
                }
            }
            Op::Park => {
                let sleep = q.park();
                assert_eq!(sleep, model.is_empty(), "park() result");
                parked = model.is_empty();
            }
            Op::Unpark => {
                q.unpark();
                parked = false;
            }
            Op::WantSpace => {
                q.want_space_notification();
                want_space = true;
            }
            Op::WaitNonempty { stop } => {
                let flag = AtomicBool::new(stop);
                assert_eq!(
                    q.wait_nonempty(Duration::ZERO, &flag),
                    !model.is_empty(),
                    "wait_nonempty result"
                );
            }
            Op::Cancel { id } => {
                ipc.cancel(u32::from(id));
                m_cancelled.insert(u32::from(id));
            }
            Op::ClearCancelled { id } => {
                let id = u32::from(id);
                assert_eq!(ipc.clear_cancelled(id), m_cancelled.remove(&id));
            }
            Op::NextId => {
                let id = ipc.next_request_id();
                assert_ne!(id, 0, "request id 0 handed out");
                assert_eq!(id, last_id + 1, "request ids must be pre-incremented");
                last_id = id;
            }
        }
        assert_eq!(q.len(), model.len(), "len() differs");
        assert_eq!(q.is_empty(), model.is_empty());
        assert_eq!(q.is_parked(), parked, "parked flag differs");
        assert_eq!(wakes.load(Ordering::SeqCst), m_wakes, "waker calls differ");
        assert_eq!(
            space.load(Ordering::SeqCst),
            m_space,
            "space hook calls differ"
        );
        assert_eq!(ipc.cancelled_len(), m_cancelled.len());
        for id in &m_cancelled {
            assert!(ipc.is_cancelled(*id));
        }
    }
    // Drain: everything left comes out in order.
    while let Some(want) = model.pop_front() {
        assert_eq!(q.pop(), Some(want));
    }
    assert_eq!(q.pop(), None);
});
