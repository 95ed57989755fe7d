//! Reading a request body for Python: the size limit (413), the idle timeout and
//! the minimum rate (408), and the shared memory budget that bounds all bodies
//! held at once (docs/internals/http.md, "Request bodies").
//!
//! - `max_body_size`: from `Content-Length` before reading, or while de-chunking; a
//!   chunk whose declared size passes it is refused by the head guard at its size
//!   line, before its data ([`ConnGuard::body_too_large`]).
//! - `body_timeout_ms`: restarts on every read that makes progress.
//! - `min_body_rate` (bytes/s): Apache `mod_reqtimeout`'s `MinRate` model. The body
//!   must be complete by `start + body_timeout_ms + received / min_body_rate`, so a
//!   client trickling a byte every few seconds cannot hold a connection forever
//!   while a slow but steady upload can take as long as it needs.
//! - `max_body_memory`: a byte semaphore shared by every connection. A body with a
//!   `Content-Length` reserves it whole before the first read: all or nothing, so
//!   bodies never each hold part of the budget while all wait for more (with
//!   piecewise reservation, 200 concurrent 1 MiB uploads against a 4 MiB budget
//!   deadlocked until their timeouts). A body of unknown length (chunked) reserves
//!   `max_body_size` the same way and gives back what it did not use once read.
//!   While the budget is exhausted the body is not read (the client is held by TCP
//!   flow control), up to `body_timeout_ms`, then `503`. The reservation lives
//!   until the body was copied into the IPC ring. What a client that keeps just above
//!   `min_body_rate` can hold is in docs/internals/http.md ("Request bodies").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::body::{RequestBody, ResponseBody};
use crate::config::RuntimeConfig;
use crate::head_guard::ConnGuard;
use crate::service::{closing, simple_response};
use crate::stats::ServerStats;

/// How long a body waits for budget when `body_timeout_ms` is 0 (no timeout).
const BUDGET_WAIT_WITHOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// The shared request-body memory budget (`max_body_memory`).
#[derive(Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    /// Permits one reservation may take at most: the whole budget.
    cap: u32,
}

/// Budget held by one body; released when dropped.
#[derive(Debug, Default)]
pub struct Reservation(Option<OwnedSemaphorePermit>);

impl Reservation {
    fn add(&mut self, permit: OwnedSemaphorePermit) {
        match &mut self.0 {
            Some(held) => held.merge(permit),
            None => self.0 = Some(permit),
        }
    }

    /// Keep `n` bytes of the reservation and give the rest back.
    fn keep(&mut self, n: usize) {
        if let Some(held) = &mut self.0 {
            let extra = held.num_permits().saturating_sub(n);
            if extra > 0 {
                drop(held.split(extra));
            }
        }
    }
}

impl BodyBudget {
    /// A budget of `bytes` (clamped to what one semaphore and one `u32` count hold).
    pub fn new(bytes: usize) -> Self {
        let total = bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            cap: u32::try_from(total).unwrap_or(u32::MAX),
        }
    }

    /// Bytes free now (for tests and stats).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Reserve `n` bytes (a body larger than the whole budget takes the whole
    /// budget), waiting until `deadline`. `None` when the budget stayed exhausted.
    async fn reserve(
        &self,
        n: usize,
        deadline: Instant,
        stats: &ServerStats,
    ) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).unwrap_or(u32::MAX).min(self.cap);
        if let Ok(p) = self.bytes.clone().try_acquire_many_owned(n) {
            return Some(p);
        }
        ServerStats::bump(&stats.body_budget_waits);
        // A guard, not a decrement after the await: a client that leaves while waiting
        // drops this future, and the gauge must still come down.
        let _waiting = Waiting::new(&stats.body_budget_waiting);
        let got = tokio::time::timeout_at(deadline, self.bytes.clone().acquire_many_owned(n)).await;
        match got {
            Ok(Ok(p)) => Some(p),
            _ => None,
        }
    }
}

/// Counts one waiter in a gauge for as long as it lives.
struct Waiting<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a std::sync::atomic::AtomicU64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn refuse(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    closing(simple_response(status, text))
}

/// Read the whole body within the limits above. On success the body and the
/// budget it holds (drop it once the bytes are copied elsewhere). `guard` is the
/// connection's head guard, which tells a body it cut for size from broken framing.
pub async fn read_body(
    config: &RuntimeConfig,
    budget: &BodyBudget,
    stats: &ServerStats,
    guard: &ConnGuard,
    body: RequestBody,
    declared: Option<u64>,
) -> Result<(Bytes, Reservation), Response<ResponseBody>> {
    let max = config.limits.max_body_size;
    if declared.is_some_and(|n| n > max as u64) {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"));
    }
    if declared == Some(0) || http_body::Body::is_end_stream(&body) {
        return Ok((Bytes::new(), Reservation::default())); // no body: no timer, no buffer
    }
    let idle = match config.timeouts.body_timeout_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let budget_wait = idle.unwrap_or(BUDGET_WAIT_WITHOUT_TIMEOUT);
    let no_budget = || {
        ServerStats::bump(&stats.body_budget_rejected);
        tracing::warn!(target: "viperhttp::body", "request body memory budget (max_body_memory) exhausted; answered 503");
        refuse(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    };
    let mut held = Reservation::default();
    // Reserve before reading a byte, all or nothing: a known length whole, a body of unknown
    // length (chunked, HTTP/2 without `Content-Length`) up to `max_body_size`, what it did not
    // use given back once it is read. Reserving such a body piece by piece let bodies each hold
    // part of the budget while all waited for more (4 chunked 40 MiB uploads against a 64 MiB
    // budget stalled until their timeouts).
    let permit = budget
        .reserve(
            declared.map_or(max, |n| n as usize),
            Instant::now() + budget_wait,
            stats,
        )
        .await
        .ok_or_else(no_budget)?;
    held.add(permit);
    let rate = match (config.timeouts.min_body_rate, idle) {
        (0, _) | (_, None) => None,
        (r, Some(grace)) => Some((r, grace)),
    };
    let start = Instant::now();
    let mut body = body;
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(max as u64) as usize);
    loop {
        let rate_deadline = rate.map(|(per_sec, grace)| {
            let earned = Duration::from_millis((buf.len() as u64).saturating_mul(1000) / per_sec);
            start + grace + earned
        });
        let idle_deadline = idle.map(|d| Instant::now() + d);
        let deadline = match (rate_deadline, idle_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = body.frame();
        let frame = match deadline {
            None => next.await,
            Some(at) => match tokio::time::timeout_at(at, next).await {
                Ok(f) => f,
                Err(_) => {
                    if rate_deadline.is_some_and(|r| r <= Instant::now()) {
                        ServerStats::bump(&stats.body_rate_closed);
                        tracing::info!(
                            target: "viperhttp::body",
                            received = buf.len(),
                            "request body slower than min_body_rate; answered 408"
                        );
                    }
                    return Err(refuse(StatusCode::REQUEST_TIMEOUT, "Request Timeout"));
                }
            },
        };
        match frame {
            None => break,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if buf.len() + data.len() > max {
                    // Also reached while de-chunking a body that declared no length.
                    return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"));
                }
                buf.extend_from_slice(&data);
            }
            // Cut by the head guard at a chunk size over the limit.
            Some(Err(_)) if guard.body_too_large() => {
                return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"));
            }
            // Truncated or broken body: the connection is unusable.
            Some(Err(_)) => return Err(refuse(StatusCode::BAD_REQUEST, "Bad Request")),
        }
    }
    if declared.is_none() {
        held.keep(buf.len()); // the rest of the up-to-max reservation goes back to the budget
    }
    Ok((buf.freeze(), held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_bounded_and_released() {
        let stats = ServerStats::default();
        let budget = BodyBudget::new(100);
        let soon = || Instant::now() + Duration::from_millis(20);
        let a = budget.reserve(60, soon(), &stats).await;
        assert!(a.is_some());
        assert_eq!(budget.available(), 40);
        // 60 more do not fit: waits, then gives up.
        assert!(budget.reserve(60, soon(), &stats).await.is_none());
        assert_eq!(stats.body_budget_waits.load(Ordering::Relaxed), 1);
        assert_eq!(stats.body_budget_waiting.load(Ordering::Relaxed), 0);
        drop(a);
        assert_eq!(budget.available(), 100);
        // Larger than the whole budget: takes the whole budget.
        let all = budget.reserve(1000, soon(), &stats).await;
        assert!(all.is_some());
        assert_eq!(budget.available(), 0);
    }

    #[tokio::test]
    async fn an_unknown_length_gives_back_what_it_did_not_use() {
        let stats = ServerStats::default();
        let budget = BodyBudget::new(100);
        let mut held = Reservation::default();
        let permit = budget.reserve(80, Instant::now(), &stats).await;
        held.add(permit.expect("room"));
        assert_eq!(budget.available(), 20);
        held.keep(30);
        assert_eq!(budget.available(), 70);
        held.keep(50); // never more than it holds
        assert_eq!(budget.available(), 70);
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn a_waiter_that_leaves_is_not_counted_as_waiting() {
        let stats = ServerStats::default();
        let budget = BodyBudget::new(10);
        let _all = budget
            .reserve(10, Instant::now() + Duration::from_secs(1), &stats)
            .await;
        let waiting = budget.reserve(5, Instant::now() + Duration::from_secs(60), &stats);
        // The client goes away while waiting: the future is dropped mid-await.
        let gone = tokio::time::timeout(Duration::from_millis(20), waiting).await;
        assert!(gone.is_err());
        assert_eq!(stats.body_budget_waits.load(Ordering::Relaxed), 1);
        assert_eq!(stats.body_budget_waiting.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_waiting_reservation_gets_freed_budget() {
        let stats = ServerStats::default();
        let budget = Arc::new(BodyBudget::new(10));
        let first = budget
            .reserve(10, Instant::now() + Duration::from_secs(1), &stats)
            .await;
        let b = budget.clone();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(first);
            b.available()
        });
        let second = budget
            .reserve(5, Instant::now() + Duration::from_secs(5), &stats)
            .await;
        assert!(second.is_some());
        assert!(release.await.is_ok());
    }
}
