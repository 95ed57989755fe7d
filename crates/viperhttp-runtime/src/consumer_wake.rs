//! The interpreter's wake-up, deferred to the end of the runtime's pass
//! (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol, "Deferred wake-up").
//!
//! A push that finds the interpreter parked only notifies [`wake_consumer`]. The task yields once,
//! which tokio turns into "after every task runnable now, before the thread sleeps", so the
//! connection tasks already woken push their requests first; then it calls the binding's waker
//! (the eventfd write) once for all of them. Waking the interpreter at the first push made it
//! preempt the runtime thread for a batch of one request, back and forth, one pair of context
//! switches per request (docs/internals/benchmarks.md, "Request path").

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::Notify;

/// The binding's waker of the interpreter (the request queue's, `MsgQueue::set_waker`).
pub(crate) type Waker = Arc<dyn Fn() + Send + Sync>;

/// Forward `pushed` notifications to `wake`, at most once per pass of the runtime.
pub(crate) async fn wake_consumer(pushed: Arc<Notify>, wake: Waker) {
    loop {
        pushed.notified().await;
        // Lets every task already runnable push first (tokio defers a yielded task until the
        // scheduler has run its queue and polled the driver).
        tokio::task::yield_now().await;
        // A push notified meanwhile (the interpreter re-parked and was pushed to again) is
        // covered by the wake below, which comes after it: its permit is dropped, not turned
        // into a second wake-up in the next pass.
        let _ = pushed.notified().now_or_never();
        wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting() -> (Arc<AtomicUsize>, Arc<dyn Fn() + Send + Sync>) {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        (
            count,
            Arc::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    /// Many pushes from the tasks of one pass give one wake-up (also when each of them notifies,
    /// which the queue itself never does within one parked period); a later push gives another;
    /// a push before the forwarder first runs is not lost (the `Notify` keeps a permit).
    #[tokio::test(flavor = "current_thread")]
    async fn one_wake_per_pass_and_none_lost() {
        let pushed = Arc::new(Notify::new());
        let (count, wake) = counting();
        pushed.notify_one(); // before the forwarder runs
        let forwarder = tokio::spawn(wake_consumer(pushed.clone(), wake));
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);

        // Ten "connection tasks" runnable in the same pass, each pushing once.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let p = pushed.clone();
                tokio::spawn(async move { p.notify_one() })
            })
            .collect();
        for t in tasks {
            t.await.ok();
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "one wake-up for the whole pass"
        );

        pushed.notify_one();
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(count.load(Ordering::SeqCst), 3);
        forwarder.abort();
    }

    /// With the multi-thread scheduler (`runtime_threads` > 1) no wake-up is lost either.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_thread_wakes_after_pushes() {
        let pushed = Arc::new(Notify::new());
        let (count, wake) = counting();
        let forwarder = tokio::spawn(wake_consumer(pushed.clone(), wake));
        for round in 1..=5 {
            pushed.notify_one();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while count.load(Ordering::SeqCst) < round {
                assert!(std::time::Instant::now() < deadline, "wake-up {round} lost");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        forwarder.abort();
    }
}
