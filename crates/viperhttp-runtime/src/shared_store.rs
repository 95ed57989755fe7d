//! The rate limiter over a shared Redis store (`shared_store="redis://..."`,
//! docs/guide/deployment.md "Shared state with Redis"): the same token bucket as
//! [`crate::rate_limit`], kept in Redis so every worker process draws from
//! one bucket per client.
//!
//! One request = one `EVALSHA` of [`BUCKET_LUA`], an atomic script that
//! refills by Redis's own clock (`TIME`, so processes with skewed clocks
//! agree), takes a token or computes `Retry-After`, and sets the key's TTL
//! to the time a full refill takes (an idle client's key disappears). The
//! call runs on the runtime's tokio threads through an async multiplexed
//! connection: no GIL, no extra thread.
//!
//! Failure policy: fail open. Any store error or a reply slower than
//! [`STORE_TIMEOUT`] lets the request through and counts
//! `ratelimit_store_errors`. After a failed connect or a timeout the limiter
//! does not try again for [`RECONNECT_BACKOFF`] (requests in that window
//! pass at once, also counted), so a Redis outage or a stalled Redis costs at
//! most one timeout per back-off period; one warning is logged per outage and
//! one info line when the store is back.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::rate_limit::RateLimitConfig;
use crate::stats::ServerStats;

/// Longest wait for one script call (or a connect) before failing open.
pub const STORE_TIMEOUT: Duration = Duration::from_millis(250);

/// After a failed connect, requests pass without trying for this long.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// Key prefix; the full key is `vhttp:rl:<ip>`.
pub const KEY_PREFIX: &str = "vhttp:rl:";

/// The token bucket, atomically. KEYS[1] = bucket key; ARGV = rate (tokens
/// per second), burst, ttl (ms). Returns `{allowed (1/0), retry_after_s}`.
/// Time advances in whole milliseconds, like the in-process limiter.
pub const BUCKET_LUA: &str = r#"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'n', 't')
local tokens = tonumber(b[1])
local last = tonumber(b[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate / 1000)
  last = now
end
local allowed = 0
local retry = 0
if tokens >= 1 - 1e-9 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate)
  if retry < 1 then retry = 1 end
end
redis.call('HSET', KEYS[1], 'n', tostring(tokens), 't', tostring(last))
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, retry}
"#;

/// Checks a `shared_store` URL without connecting; `Err` is the message for
/// the `ValueError` that `run()` raises before anything binds.
pub fn validate_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("unix://")) {
        return Err("shared_store must be a redis:// URL".to_owned());
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("shared_store: {e}"))
}

/// A rate limiter whose buckets live in Redis.
pub struct SharedRateLimiter {
    client: redis::Client,
    script: redis::Script,
    rate: f64,
    burst: f64,
    ttl_ms: u64,
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Serialises reconnects: one connect attempt at a time.
    connecting: tokio::sync::Mutex<()>,
    down_until: Mutex<Option<Instant>>,
    /// An outage is being reported (one warning per outage).
    down: AtomicBool,
}

impl std::fmt::Debug for SharedRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRateLimiter")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// Why one store call failed (logged, then the request is let through).
#[derive(Debug)]
enum StoreError {
    Redis(redis::RedisError),
    Timeout,
    Backoff,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Redis(e) => write!(f, "{e}"),
            StoreError::Timeout => write!(f, "no reply within {STORE_TIMEOUT:?}"),
            StoreError::Backoff => write!(f, "waiting to reconnect"),
        }
    }
}

impl SharedRateLimiter {
    /// A limiter for `cfg` over the store at `url` (checked by
    /// [`validate_url`]); connects lazily on the first request.
    pub fn new(url: &str, cfg: &RateLimitConfig) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("shared_store: {e}"))?;
        // Time to refill a full bucket, whole ms, at least 1 (the key's TTL).
        let ttl_ms = ((cfg.burst / cfg.rate) * 1000.0).ceil().clamp(1.0, 1e12) as u64;
        Ok(Self {
            client,
            script: redis::Script::new(BUCKET_LUA),
            rate: cfg.rate,
            burst: cfg.burst,
            ttl_ms,
            conn: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            down_until: Mutex::new(None),
            down: AtomicBool::new(false),
        })
    }

    /// Take one token for `ip`: `Err(retry_after)` when the shared bucket is
    /// empty. A store failure allows the request and bumps
    /// `ratelimit_store_errors`.
    pub async fn check(&self, ip: IpAddr, stats: &ServerStats) -> Result<(), u64> {
        match self.call(ip).await {
            Ok(verdict) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(target: "viperhttp.rate_limit", "shared store reachable again");
                }
                verdict
            }
            Err(err) => {
                ServerStats::bump(&stats.ratelimit_store_errors);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "viperhttp.rate_limit",
                        "shared store error, rate limits fail open until it is back: {err}"
                    );
                }
                Ok(())
            }
        }
    }

    async fn call(&self, ip: IpAddr) -> Result<Result<(), u64>, StoreError> {
        let mut conn = self.connection().await?;
        // The in-process limiter's client key (an IPv6 address counts as its /64): one owner.
        let ip = crate::rate_limit::client_key(ip);
        let mut invocation = self.script.key(format!("{KEY_PREFIX}{ip}"));
        invocation.arg(self.rate).arg(self.burst).arg(self.ttl_ms);
        let reply: Result<redis::RedisResult<(i64, i64)>, _> =
            tokio::time::timeout(STORE_TIMEOUT, invocation.invoke_async(&mut conn)).await;
        match reply {
            Ok(Ok((1, _))) => Ok(Ok(())),
            Ok(Ok((_, retry))) => Ok(Err(u64::try_from(retry).unwrap_or(1).max(1))),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    *self.conn.lock() = None; // reconnect on the next request
                }
                Err(StoreError::Redis(e))
            }
            Err(_) => {
                // A store this slow would add the timeout to every request: drop the
                // connection and let requests through at once during the back-off.
                *self.conn.lock() = None;
                *self.down_until.lock() = Some(Instant::now() + RECONNECT_BACKOFF);
                Err(StoreError::Timeout)
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(conn) = self.conn.lock().clone() {
            return Ok(conn);
        }
        if self.in_backoff() {
            return Err(StoreError::Backoff);
        }
        let _one = self.connecting.lock().await;
        if let Some(conn) = self.conn.lock().clone() {
            return Ok(conn); // another request connected meanwhile
        }
        if self.in_backoff() {
            return Err(StoreError::Backoff);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(STORE_TIMEOUT))
            .set_response_timeout(Some(STORE_TIMEOUT));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => {
                *self.conn.lock() = Some(conn.clone());
                *self.down_until.lock() = None;
                Ok(conn)
            }
            Err(e) => {
                *self.down_until.lock() = Some(Instant::now() + RECONNECT_BACKOFF);
                Err(StoreError::Redis(e))
            }
        }
    }

    fn in_backoff(&self) -> bool {
        self.down_until
            .lock()
            .is_some_and(|until| Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(validate_url("redis://localhost").is_ok());
        assert!(validate_url("http://x").is_err());
        assert!(validate_url("").is_err());
        assert!(validate_url("redis://127.0.0.1:notaport").is_err());
    }

    #[test]
    fn ttl_is_a_full_refill() {
        let cfg = RateLimitConfig {
            rate: 2.0,
            burst: 10.0,
        };
        let lim = SharedRateLimiter::new("redis://127.0.0.1:1/", &cfg).unwrap_or_else(|e| {
            unreachable!("{e}");
        });
        assert_eq!(lim.ttl_ms, 5000);
    }

    #[tokio::test]
    async fn store_down_fails_open_and_counts() {
        // Port 1 on loopback: connection refused at once.
        let cfg = RateLimitConfig {
            rate: 1.0,
            burst: 1.0,
        };
        let Ok(lim) = SharedRateLimiter::new("redis://127.0.0.1:1/", &cfg) else {
            unreachable!("valid url");
        };
        let stats = ServerStats::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..5 {
            assert_eq!(lim.check(ip, &stats).await, Ok(()));
        }
        assert_eq!(stats.ratelimit_store_errors.load(Ordering::Relaxed), 5);
        assert!(lim.in_backoff());
    }
}
