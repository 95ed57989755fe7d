//! Process-wide upkeep the running server performs on a timer (docs/internals/http.md,
//! "Allocator").
//!
//! The runtime does not know which allocator the process uses; the crate that installs it (the
//! binding) registers what must run periodically. Today that is one job: telling mimalloc to
//! return pages that emptied more than its purge delay ago. The allocator only does that on
//! its own during later allocation, which an idle server does not perform, so without this
//! tick the memory of connections that went idle would stay resident. The same tick reports
//! overload refusals a burst left unreported (`crate::overload`, docs/internals/logging.md,
//! "Overload").

use std::sync::OnceLock;
use std::time::Duration;

/// How often the registered job runs while a server is up. With the binding's 100 ms purge
/// delay, memory a connection gave back is returned to the OS within about half a second.
pub const UPKEEP_PERIOD: Duration = Duration::from_millis(250);

static JOB: OnceLock<fn()> = OnceLock::new();

/// Registers the periodic job (first registration wins; the allocator is chosen once per
/// process).
pub fn register(job: fn()) {
    let _ = JOB.set(job);
}

/// Runs the registered job, and the report of overload refusals still unreported
/// (`crate::overload`), every `UPKEEP_PERIOD` until the task is aborted.
pub(crate) async fn run() {
    let job = JOB.get().copied();
    every_period(move || {
        if let Some(job) = job {
            job();
        }
        crate::overload::report_pending(false);
    })
    .await;
}

async fn every_period(job: impl Fn()) {
    let mut tick = tokio::time::interval(UPKEEP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    /// The job runs at once, then once per period. (Not through `register`: the registration is
    /// process-wide, and servers started by other tests in this binary would run it too.)
    #[tokio::test(start_paused = true)]
    async fn the_job_runs_every_period() {
        let task = tokio::spawn(every_period(count));
        tokio::time::sleep(UPKEEP_PERIOD * 3 + UPKEEP_PERIOD / 2).await;
        task.abort();
        assert_eq!(RUNS.load(Ordering::SeqCst), 4); // at 0, 1, 2 and 3 periods
    }
}
