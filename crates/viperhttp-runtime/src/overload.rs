//! One warning per kind of overload refusal per 10 s (docs/internals/logging.md, "Overload"):
//! a `503` answered because the IPC could not take a request says nothing to the client about
//! why, and one line per refusal would flood the log exactly when the server is busiest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// How often a kind of refusal is reported, at most.
const EVERY_MS: u64 = 10_000;

/// The refusals of one kind since its last warning.
pub struct OverloadLog {
    what: &'static str,
    count: AtomicU64,
    /// Milliseconds since [`epoch`] of the last warning (0: never).
    last_ms: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl OverloadLog {
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            count: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Count one refusal; report at once when the last report is 10 s old (or none was made).
    pub fn refused(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.report(false);
    }

    /// Report the refusals counted since the last report: when that report is 10 s old, or
    /// at once with `now` (the server stops). The upkeep tick calls this, so the tail of a
    /// burst is reported even when no refusal follows it.
    fn report(&self, now: bool) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let at = epoch().elapsed().as_millis() as u64 + EVERY_MS; // never 0: the first one reports
        let last = self.last_ms.load(Ordering::Relaxed);
        if !now && at.saturating_sub(last) < EVERY_MS {
            return;
        }
        if self
            .last_ms
            .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // another thread reports this period
        }
        let n = self.count.swap(0, Ordering::Relaxed);
        if n > 0 {
            tracing::warn!(target: "viperhttp::overload", "{n} request(s) answered 503 {} (reported at most every 10 s)", self.what);
        }
    }
}

/// The refusals waiting for their report (the upkeep tick; `now` when the server stops).
pub(crate) fn report_pending(now: bool) {
    RING_FULL.report(now);
    QUEUE_FULL.report(now);
}

/// `503 Backpressure`: the request ring had no room within `ipc_enqueue_retry_ms`.
pub static RING_FULL: OverloadLog = OverloadLog::new(
    "Backpressure since the last report: the IPC request ring stayed full (large bodies waiting for Python; see ipc_ring_size)",
);
/// `503 Queue Full`: the request queue had no room within `ipc_enqueue_retry_ms`.
pub static QUEUE_FULL: OverloadLog = OverloadLog::new(
    "Queue Full since the last report: the interpreter did not take requests fast enough",
);

#[cfg(test)]
mod tests {
    use super::OverloadLog;

    #[test]
    fn counts_are_reported_and_reset() {
        let log = OverloadLog::new("x");
        log.refused(); // reports 1
        assert_eq!(log.count.load(std::sync::atomic::Ordering::Relaxed), 0);
        log.refused();
        log.refused(); // within 10 s: counted, not reported
        assert_eq!(log.count.load(std::sync::atomic::Ordering::Relaxed), 2);
        log.report(false); // the tick, still within 10 s: kept
        assert_eq!(log.count.load(std::sync::atomic::Ordering::Relaxed), 2);
        log.report(true); // the stop: the tail is reported
        assert_eq!(log.count.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
