//! Native rate limiting (docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs): a
//! token bucket per client IP in a bounded table with least-recently-seen eviction, and the `429`
//! answer.
//!
//! Arithmetic: the original keeps Q16 fixed-point tokens refilled per whole
//! millisecond. The host uses `f64` tokens but also advances time in whole
//! milliseconds since a fixed epoch, so a bucket refills at the same
//! millisecond as the original's (the clock's sub-millisecond part is never
//! lost between calls, exactly like the original's ms timestamps).
//!
//! Concurrency: the table is split into shards by IP hash, each under its
//! own `parking_lot` mutex held for a few hash-map operations, so runtime
//! threads rarely contend. Each shard is an LRU over `capacity / shards`
//! entries: eviction is least-recently-seen within the shard, which is the
//! global order up to hash spread.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use parking_lot::Mutex;

use crate::body::ResponseBody;

/// Default refill rate, tokens per second (`VHTTP_RL_DEFAULT_RATE_PER_SEC`).
pub const DEFAULT_RATE: f64 = 20.0;

/// Default bucket capacity (`VHTTP_RL_DEFAULT_BURST`).
pub const DEFAULT_BURST: f64 = 40.0;

/// Alias defaults when only one of `max_requests` / `window_sec` is given:
/// the values of the original's docs example (`max_requests=100, window_sec=60`).
pub const DEFAULT_MAX_REQUESTS: f64 = 100.0;

/// See [`DEFAULT_MAX_REQUESTS`].
pub const DEFAULT_WINDOW_SEC: f64 = 60.0;

/// Host table size (device: 64 entries).
pub const MAX_CLIENTS: usize = 65536;

/// Shards of the table; a power of two well above the runtime thread count.
const SHARDS: usize = 16;

/// Tolerance when testing "at least one token": sums of `elapsed * rate`
/// can land a hair under an exact integer (0.1 + 0.2 style), which would
/// shift a refill by a millisecond against the original's integer maths.
const EPSILON: f64 = 1e-9;

/// Rate-limit configuration: `rate` tokens per second, `burst` capacity.
/// Both finite and > 0 when built by [`RateLimitConfig::from_kwargs`].
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Refill, tokens per second (may be fractional through the aliases).
    pub rate: f64,
    /// Bucket capacity (tokens); a new client starts with a full bucket.
    pub burst: f64,
}

impl Default for RateLimitConfig {
    /// `rate=20, burst=40`.
    fn default() -> Self {
        Self {
            rate: DEFAULT_RATE,
            burst: DEFAULT_BURST,
        }
    }
}

/// A rate-limit configuration error. `Display` is the Python exception
/// text; [`RateLimitConfigError::is_type_error`] tells the binding which
/// class to raise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitConfigError {
    /// `rate`/`burst` given together with `max_requests`/`window_sec`
    /// (a `TypeError`).
    #[error("cannot mix rate/burst with max_requests/window_sec")]
    Mixed,
    /// `rate` < 0 (or not finite).
    #[error("rate must be >= 0")]
    Rate,
    /// `burst` < 0 (or not finite).
    #[error("burst must be >= 0")]
    Burst,
    /// `max_requests` < 0 (or not finite). Alias messages are ours; the
    /// spec names none.
    #[error("max_requests must be >= 0")]
    MaxRequests,
    /// `window_sec` ≤ 0 (or not finite): the rate would be infinite.
    #[error("window_sec must be > 0")]
    WindowSec,
}

impl RateLimitConfigError {
    /// True when Python should see a `TypeError` (else `ValueError`).
    pub fn is_type_error(&self) -> bool {
        matches!(self, RateLimitConfigError::Mixed)
    }
}

impl RateLimitConfig {
    /// Apply the `RateLimitMiddleware` keyword rules
    /// (docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs): `rate` / `burst`
    /// (defaults 20 / 40, each ≥ 0) or the doc aliases `max_requests` / `window_sec` (`burst =
    /// max_requests`, `rate = max_requests / window_sec`; a missing one takes the docs' 100 / 60);
    /// mixing the two spellings is an error. `Ok(None)` = limiter off: `enabled` false, or a zero
    /// rate or burst.
    pub fn from_kwargs(
        rate: Option<f64>,
        burst: Option<f64>,
        max_requests: Option<f64>,
        window_sec: Option<f64>,
        enabled: bool,
    ) -> Result<Option<Self>, RateLimitConfigError> {
        let uses_plain = rate.is_some() || burst.is_some();
        let uses_alias = max_requests.is_some() || window_sec.is_some();
        if uses_plain && uses_alias {
            return Err(RateLimitConfigError::Mixed);
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        let (rate, burst) = if uses_alias {
            let max_requests = max_requests.unwrap_or(DEFAULT_MAX_REQUESTS);
            let window_sec = window_sec.unwrap_or(DEFAULT_WINDOW_SEC);
            if !non_negative(max_requests) {
                return Err(RateLimitConfigError::MaxRequests);
            }
            if !(window_sec.is_finite() && window_sec > 0.0) {
                return Err(RateLimitConfigError::WindowSec);
            }
            (max_requests / window_sec, max_requests)
        } else {
            let rate = rate.unwrap_or(DEFAULT_RATE);
            let burst = burst.unwrap_or(DEFAULT_BURST);
            if !non_negative(rate) {
                return Err(RateLimitConfigError::Rate);
            }
            if !non_negative(burst) {
                return Err(RateLimitConfigError::Burst);
            }
            (rate, burst)
        };
        if !enabled || rate == 0.0 || burst == 0.0 {
            return Ok(None);
        }
        Ok(Some(Self { rate, burst }))
    }
}

/// Sentinel "no node" index of the intrusive list.
const NIL: u32 = u32::MAX;

/// One client's bucket, also a node of its shard's recency list.
#[derive(Debug)]
struct Node {
    ip: IpAddr,
    tokens: f64,
    /// Last refill time, whole milliseconds since the limiter's epoch.
    last_ms: u64,
    /// Towards the most recently seen end.
    prev: u32,
    /// Towards the least recently seen end.
    next: u32,
}

/// A fixed-capacity LRU of buckets: a hash map to slab indices plus a
/// doubly linked recency list threaded through the slab. Every operation is
/// O(1) and allocation-free once the slab is full. Indices are internal
/// (never from input) and always < `nodes.len()` or [`NIL`].
#[derive(Debug)]
struct Shard {
    map: HashMap<IpAddr, u32>,
    nodes: Vec<Node>,
    /// Most recently seen.
    head: u32,
    /// Least recently seen (the eviction victim).
    tail: u32,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.max(1),
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old_head;
        }
        if old_head == NIL {
            self.tail = i;
        } else {
            self.nodes[old_head as usize].prev = i;
        }
        self.head = i;
    }

    /// The node for `ip`, marked most recently seen; a new client gets a
    /// full bucket, evicting the least recently seen client when full.
    fn node(&mut self, ip: IpAddr, now_ms: u64, burst: f64) -> &mut Node {
        let i = match self.map.get(&ip) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => {
                let fresh = Node {
                    ip,
                    tokens: burst,
                    last_ms: now_ms,
                    prev: NIL,
                    next: NIL,
                };
                let i = if self.nodes.len() < self.capacity {
                    // capacity ≤ MAX_CLIENTS, far below u32::MAX.
                    let i = self.nodes.len() as u32;
                    self.nodes.push(fresh);
                    i
                } else {
                    let victim = self.tail;
                    self.unlink(victim);
                    let old = std::mem::replace(&mut self.nodes[victim as usize], fresh);
                    self.map.remove(&old.ip);
                    victim
                };
                self.map.insert(ip, i);
                i
            }
        };
        self.push_front(i);
        &mut self.nodes[i as usize]
    }
}

/// Per-IP token buckets shared by all runtime threads.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens added per whole millisecond.
    rate_per_ms: f64,
    rate: f64,
    burst: f64,
    epoch: Instant,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the same client as `a.b.c.d`; any other IPv6
/// address is keyed by its /64, the block one subscriber is given (RFC 6177): keyed in full,
/// one host could take 2^64 fresh buckets and push every other client out of the table.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                v6.to_bits() & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

impl RateLimiter {
    /// A limiter over [`MAX_CLIENTS`] clients.
    pub fn new(cfg: &RateLimitConfig) -> Self {
        Self::with_capacity(cfg, MAX_CLIENTS)
    }

    /// A limiter remembering at most about `capacity` clients (rounded up
    /// to a multiple of the shard count).
    pub fn with_capacity(cfg: &RateLimitConfig, capacity: usize) -> Self {
        Self::sharded(cfg, capacity, SHARDS)
    }

    fn sharded(cfg: &RateLimitConfig, capacity: usize, shards: usize) -> Self {
        let shards = shards.clamp(1, capacity.max(1));
        let per_shard = capacity.div_ceil(shards);
        Self {
            rate_per_ms: cfg.rate / 1000.0,
            rate: cfg.rate,
            burst: cfg.burst,
            epoch: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..shards)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
        }
    }

    /// Take one token for `ip` at `now`. `Err(retry_after)` when the bucket
    /// holds less than one token: the request is rejected without taking
    /// anything, and `retry_after` = ceil((1 − tokens) / rate) seconds, ≥ 1.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let ip = client_key(ip);
        // Whole ms since the epoch; u64 ms lasts 584 million years.
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let shard_count = self.shards.len() as u64;
        // shard_count ≥ 1, so the remainder is a valid index.
        let Some(shard) = self
            .shards
            .get((self.hasher.hash_one(ip) % shard_count) as usize)
        else {
            return Ok(());
        };
        let mut shard = shard.lock();
        let node = shard.node(ip, now_ms, self.burst);
        // Times may arrive slightly out of order from several threads:
        // never refill for negative time, never move `last_ms` back.
        let elapsed = now_ms.saturating_sub(node.last_ms);
        if elapsed > 0 {
            node.tokens = (node.tokens + elapsed as f64 * self.rate_per_ms).min(self.burst);
            node.last_ms = now_ms;
        }
        if node.tokens + EPSILON >= 1.0 {
            node.tokens = (node.tokens - 1.0).max(0.0);
            Ok(())
        } else {
            let secs = ((1.0 - node.tokens) / self.rate).ceil();
            // `as` saturates for huge values (tiny fractional rates).
            Err((secs as u64).max(1))
        }
    }

    /// Clients currently remembered (all shards).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// True when no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The native `429 Too Many Requests` answer: `text/plain; charset=utf-8`,
/// `Retry-After: <seconds>`, body `Too Many Requests`. CORS headers and
/// `Connection` are added by the pipeline.
pub fn too_many_requests(retry_after: u64) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full("Too Many Requests"));
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;
    use std::time::Duration;

    fn limiter(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter::new(&RateLimitConfig { rate, burst })
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    fn ms(t: Instant, n: u64) -> Instant {
        t + Duration::from_millis(n)
    }

    #[test]
    fn kwargs_defaults_and_plain() {
        let c = RateLimitConfig::from_kwargs(None, None, None, None, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            c,
            RateLimitConfig {
                rate: 20.0,
                burst: 40.0
            }
        );
        assert_eq!(c, RateLimitConfig::default());
        let c = RateLimitConfig::from_kwargs(Some(5.0), None, None, None, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            c,
            RateLimitConfig {
                rate: 5.0,
                burst: 40.0
            }
        );
        let c = RateLimitConfig::from_kwargs(None, Some(3.0), None, None, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            c,
            RateLimitConfig {
                rate: 20.0,
                burst: 3.0
            }
        );
    }

    #[test]
    fn kwargs_off_cases() {
        assert_eq!(
            RateLimitConfig::from_kwargs(Some(0.0), None, None, None, true).unwrap(),
            None
        );
        assert_eq!(
            RateLimitConfig::from_kwargs(None, Some(0.0), None, None, true).unwrap(),
            None
        );
        assert_eq!(
            RateLimitConfig::from_kwargs(None, None, None, None, false).unwrap(),
            None
        );
        assert_eq!(
            RateLimitConfig::from_kwargs(None, None, Some(0.0), Some(60.0), true).unwrap(),
            None
        );
    }

    #[test]
    fn kwargs_errors() {
        let e = RateLimitConfig::from_kwargs(Some(-1.0), None, None, None, true).unwrap_err();
        assert_eq!(e.to_string(), "rate must be >= 0");
        assert!(!e.is_type_error());
        let e = RateLimitConfig::from_kwargs(None, Some(-1.0), None, None, true).unwrap_err();
        assert_eq!(e.to_string(), "burst must be >= 0");
        assert_eq!(
            RateLimitConfig::from_kwargs(Some(f64::NAN), None, None, None, true).unwrap_err(),
            RateLimitConfigError::Rate
        );
        assert_eq!(
            RateLimitConfig::from_kwargs(None, Some(f64::INFINITY), None, None, true).unwrap_err(),
            RateLimitConfigError::Burst
        );
        // Errors raise even when disabled.
        assert!(RateLimitConfig::from_kwargs(Some(-1.0), None, None, None, false).is_err());
        let e = RateLimitConfig::from_kwargs(Some(1.0), None, Some(100.0), None, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot mix rate/burst with max_requests/window_sec"
        );
        assert!(e.is_type_error());
        assert_eq!(
            RateLimitConfig::from_kwargs(None, Some(1.0), None, Some(60.0), true).unwrap_err(),
            RateLimitConfigError::Mixed
        );
        assert_eq!(
            RateLimitConfig::from_kwargs(None, None, Some(-1.0), Some(60.0), true)
                .unwrap_err()
                .to_string(),
            "max_requests must be >= 0"
        );
        assert_eq!(
            RateLimitConfig::from_kwargs(None, None, Some(10.0), Some(0.0), true)
                .unwrap_err()
                .to_string(),
            "window_sec must be > 0"
        );
    }

    #[test]
    fn kwargs_aliases() {
        let c = RateLimitConfig::from_kwargs(None, None, Some(100.0), Some(60.0), true)
            .unwrap()
            .unwrap();
        assert_eq!(c.burst, 100.0);
        assert!((c.rate - 100.0 / 60.0).abs() < 1e-12);
        let c = RateLimitConfig::from_kwargs(None, None, Some(30.0), None, true)
            .unwrap()
            .unwrap();
        assert_eq!((c.burst, c.rate), (30.0, 0.5));
        let c = RateLimitConfig::from_kwargs(None, None, None, Some(10.0), true)
            .unwrap()
            .unwrap();
        assert_eq!((c.burst, c.rate), (100.0, 10.0));
    }

    #[test]
    fn burst_then_reject_with_retry_after() {
        let l = limiter(20.0, 40.0);
        let t = Instant::now();
        for _ in 0..40 {
            assert_eq!(l.check(ip(1), t), Ok(()));
        }
        assert_eq!(l.check(ip(1), t), Err(1));
        // Another client has its own full bucket.
        assert_eq!(l.check(ip(2), t), Ok(()));
    }

    #[test]
    fn refill_to_the_millisecond() {
        // The ms clock counts from the limiter's creation, so every test
        // takes `t` after creating its limiter.
        // 20/s: one token every 50 ms, as the original's Q16 refill.
        let l = limiter(20.0, 1.0);
        let t = Instant::now();
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert!(l.check(ip(1), ms(t, 49)).is_err());
        assert_eq!(l.check(ip(1), ms(t, 50)), Ok(()));
        // Refill accumulates across calls (rejections take nothing).
        assert!(l.check(ip(1), ms(t, 75)).is_err());
        assert_eq!(l.check(ip(1), ms(t, 100)), Ok(()));
        // 1/s over uneven steps.
        let l = limiter(1.0, 1.0);
        let t = Instant::now();
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert!(l.check(ip(1), ms(t, 300)).is_err());
        assert!(l.check(ip(1), ms(t, 999)).is_err());
        assert_eq!(l.check(ip(1), ms(t, 1000)), Ok(()));
        // Sub-millisecond parts are not lost between calls.
        let l = limiter(1.0, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        let mut now = t;
        for _ in 0..1999 {
            now += Duration::from_micros(500);
            assert!(l.check(ip(1), now).is_err());
        }
        assert_eq!(l.check(ip(1), now + Duration::from_micros(500)), Ok(()));
    }

    #[test]
    fn fractional_rates_accumulate_exactly() {
        // 100 per 60 s: 3 tokens in 1800 ms, even in 600 ms steps.
        let l = limiter(100.0 / 60.0, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert!(l.check(ip(1), ms(t, 300)).is_err());
        assert_eq!(l.check(ip(1), ms(t, 600)), Ok(()));
        let l = limiter(0.3, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        // 0.3/s: tokens 0.3 + 0.3 + 0.3 + 0.1 at 1000/2000/3000/3333 ms.
        assert!(l.check(ip(1), ms(t, 1000)).is_err());
        assert!(l.check(ip(1), ms(t, 2000)).is_err());
        assert!(l.check(ip(1), ms(t, 3000)).is_err());
        assert!(l.check(ip(1), ms(t, 3333)).is_err());
        assert_eq!(l.check(ip(1), ms(t, 3334)), Ok(()));
    }

    #[test]
    fn retry_after_is_ceil_of_missing_token() {
        let l = limiter(0.1, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert_eq!(l.check(ip(1), t), Err(10));
        assert_eq!(l.check(ip(1), ms(t, 5000)), Err(5));
        assert_eq!(l.check(ip(1), ms(t, 9001)), Err(1));
        let l = limiter(0.5, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert_eq!(l.check(ip(1), t), Err(2));
        let l = limiter(1000.0, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert_eq!(l.check(ip(1), t), Err(1));
        let l = limiter(1e-30, 1.0);
        let t = l.epoch;
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert_eq!(l.check(ip(1), t), Err(u64::MAX));
    }

    #[test]
    fn bucket_never_exceeds_burst() {
        let l = limiter(100.0, 3.0);
        let t = Instant::now();
        assert_eq!(l.check(ip(1), t), Ok(()));
        let later = ms(t, 3_600_000);
        for _ in 0..3 {
            assert_eq!(l.check(ip(1), later), Ok(()));
        }
        assert!(l.check(ip(1), later).is_err());
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let l = limiter(1.0, 1.0);
        let t = Instant::now();
        assert_eq!(l.check(ip(1), ms(t, 1000)), Ok(()));
        assert!(l.check(ip(1), t).is_err());
        assert_eq!(l.check(ip(1), ms(t, 2000)), Ok(()));
        // An instant before the epoch counts as the epoch.
        let l = limiter(1.0, 1.0);
        let early = t.checked_sub(Duration::from_secs(5)).unwrap_or(t);
        assert_eq!(l.check(ip(1), early), Ok(()));
    }

    #[test]
    fn ipv4_mapped_v6_shares_the_v4_bucket() {
        let l = limiter(1.0, 1.0);
        let t = Instant::now();
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(l.check(v4, t), Ok(()));
        assert!(l.check(mapped, t).is_err());
        // Other IPv6 addresses are keyed by their /64: two hosts of one /64 share a bucket,
        // the next /64 is another client.
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0xffff, 0, 0, 2));
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        assert_eq!(l.check(a, t), Ok(()));
        assert!(l.check(b, t).is_err());
        assert_eq!(l.check(other, t), Ok(()));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn evicts_least_recently_seen() {
        let l = RateLimiter::sharded(
            &RateLimitConfig {
                rate: 1.0,
                burst: 1.0,
            },
            2,
            1,
        );
        let t = Instant::now();
        assert_eq!(l.check(ip(1), t), Ok(()));
        assert_eq!(l.check(ip(2), t), Ok(()));
        // Seeing 1 again (even rejected) makes 2 the least recently seen.
        assert!(l.check(ip(1), t).is_err());
        assert_eq!(l.check(ip(3), t), Ok(()));
        assert_eq!(l.len(), 2);
        // 1 is still remembered (empty bucket); 2 was evicted (fresh bucket).
        assert!(l.check(ip(1), t).is_err());
        assert_eq!(l.check(ip(2), t), Ok(()));
        // That evicted 3 (least recently seen now).
        assert_eq!(l.check(ip(3), t), Ok(()));
    }

    #[test]
    fn table_stays_bounded() {
        let l = RateLimiter::with_capacity(
            &RateLimitConfig {
                rate: 1.0,
                burst: 1.0,
            },
            64,
        );
        let t = Instant::now();
        for i in 0..10_000u32 {
            let _ = l.check(IpAddr::V4(Ipv4Addr::from(i)), t);
        }
        assert!(l.len() <= 64);
        assert!(l.len() >= 48, "shards should be mostly full: {}", l.len());
    }

    #[test]
    fn lru_list_stays_consistent_under_churn() {
        let l = RateLimiter::sharded(
            &RateLimitConfig {
                rate: 1.0,
                burst: 2.0,
            },
            5,
            1,
        );
        let t = Instant::now();
        for round in 0..50u32 {
            for i in 0..7u32 {
                let _ = l.check(IpAddr::V4(Ipv4Addr::from((i * 7 + round) % 11)), t);
            }
        }
        let shard = l.shards.first().unwrap().lock();
        assert_eq!(shard.map.len(), 5);
        // Walk the list both ways: every node once, links symmetric.
        let mut seen = 0;
        let (mut cur, mut prev) = (shard.head, NIL);
        while cur != NIL {
            let n = &shard.nodes[cur as usize];
            assert_eq!(n.prev, prev);
            assert_eq!(shard.map.get(&n.ip), Some(&cur));
            prev = cur;
            cur = n.next;
            seen += 1;
        }
        assert_eq!(prev, shard.tail);
        assert_eq!(seen, 5);
    }

    #[test]
    fn threads_share_one_limiter() {
        let l = Arc::new(limiter(1.0, 100.0));
        let t = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || (0..50).filter(|_| l.check(ip(9), t).is_ok()).count())
            })
            .collect();
        let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        // 200 attempts against a bucket of 100 at one instant.
        assert_eq!(ok, 100);
    }

    #[tokio::test]
    async fn too_many_requests_response() {
        use http_body_util::BodyExt;
        let r = too_many_requests(7);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers().get(RETRY_AFTER).unwrap(), "7");
        assert_eq!(
            r.headers().get(CONTENT_TYPE).unwrap(),
            "text/plain; charset=utf-8"
        );
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "Too Many Requests");
    }
}
