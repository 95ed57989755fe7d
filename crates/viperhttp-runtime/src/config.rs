//! `RuntimeConfig`: plain data, built once by the binding from `app.run()`
//! keywords (validated there, docs/internals/architecture.md#knobs) before any runtime thread
//! starts. Each field set by a keyword carries that keyword's name (docs/internals/architecture.md,
//! "Knobs"). Defaults are defined here, once.

use std::net::IpAddr;
use std::sync::Arc;

use crate::cors::CorsConfig;
use crate::rate_limit::RateLimitConfig;
use crate::static_files::StaticConfig;
use crate::tls::TlsSettings;
use crate::trusted_host::TrustedHostConfig;

/// HTTP/2 settings (`http2`, `http2_max_streams`, `http2_idle_timeout_ms`;
/// docs/internals/tls-http2.md).
#[derive(Clone, Debug)]
pub struct Http2Config {
    /// Serve HTTP/2 (ALPN `h2` over TLS, prior knowledge in cleartext).
    pub http2: bool,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`; streams past it are refused.
    pub http2_max_streams: u32,
    /// A connection with no stream in progress and no bytes moving for this
    /// long gets GOAWAY and is closed (0 = none).
    pub http2_idle_timeout_ms: u64,
}

/// Default `http2_max_streams` (the original's).
pub const DEFAULT_HTTP2_MAX_STREAMS: u32 = 8;

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            http2: false,
            http2_max_streams: DEFAULT_HTTP2_MAX_STREAMS,
            http2_idle_timeout_ms: 60_000,
        }
    }
}

/// Request-size limits (docs/internals/http.md#limits).
#[derive(Clone, Debug)]
pub struct Limits {
    /// `max_uri_len` → 414.
    pub max_uri_len: usize,
    /// `max_headers` (count) → 431.
    pub max_headers: usize,
    /// `max_header_size` (sum of header lines) → 431.
    pub max_header_size: usize,
    /// `max_body_size` → 413.
    pub max_body_size: usize,
    /// `max_connections`: at the limit, idle connections are closed to admit new
    /// ones; if none is idle, accepts wait in the backlog. Defaults to what the
    /// file-descriptor limit allows ([`default_max_connections`]).
    pub max_connections: usize,
    /// `max_keepalive_requests`: close after this many requests on one connection.
    pub max_keepalive_requests: usize,
    /// `max_body_memory`: bytes of request bodies the runtime holds at once, all
    /// connections together. Past it, bodies wait (unread) for room, then 503.
    pub max_body_memory: usize,
}

/// Default `max_body_memory`: 64 MiB.
pub const DEFAULT_MAX_BODY_MEMORY: usize = 64 * 1024 * 1024;

/// Descriptors kept back from `max_connections` for files, the IPC and logs.
const FD_RESERVE: u64 = 64;

/// The default `max_connections`: the process's file-descriptor limit (raised to
/// its hard limit first, as nginx's `worker_rlimit_nofile` and Go do) less a
/// reserve, at least 64, at most 1 Mi. A fixed 1024 let idle sockets lock a
/// machine with a large limit out (docs/internals/http.md, "Connection pressure").
pub fn default_max_connections() -> usize {
    let limit = raise_nofile_limit().unwrap_or(1024);
    limit.saturating_sub(FD_RESERVE).clamp(64, 1 << 20) as usize
}

/// Raise `RLIMIT_NOFILE`'s soft limit to its hard limit; the new soft limit.
#[cfg(unix)]
fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let soft = lim.current?;
    match lim.maximum {
        Some(hard) if hard > soft => {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            Some(if setrlimit(Resource::Nofile, raised).is_ok() {
                hard
            } else {
                soft
            })
        }
        _ => Some(soft),
    }
}

#[cfg(not(unix))]
fn raise_nofile_limit() -> Option<u64> {
    None
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_uri_len: 8192,
            max_headers: 100,
            max_header_size: 16384,
            max_body_size: 1024 * 1024,
            max_connections: default_max_connections(),
            max_keepalive_requests: 1000,
            max_body_memory: DEFAULT_MAX_BODY_MEMORY,
        }
    }
}

/// Timeouts in milliseconds (docs/internals/http.md); 0 = none where that page says so.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// `header_timeout_ms`.
    pub header_timeout_ms: u64,
    /// `keepalive_timeout_ms` (0 = no keep-alive).
    pub keepalive_timeout_ms: u64,
    /// `body_timeout_ms`.
    pub body_timeout_ms: u64,
    /// `response_timeout_ms`.
    pub response_timeout_ms: u64,
    /// `stream_idle_timeout_ms`.
    pub stream_idle_timeout_ms: u64,
    /// `ipc_enqueue_retry_ms`.
    pub ipc_enqueue_retry_ms: u64,
    /// `min_body_rate` (bytes/s, 0 = off): after the first `body_timeout_ms`, a
    /// body must keep this average (Apache `mod_reqtimeout`'s `MinRate`), else 408.
    pub min_body_rate: u64,
    /// `send_timeout_ms` (0 = none): a response whose bytes make no progress to
    /// the client for this long is abandoned and the connection closed (nginx's
    /// `send_timeout`).
    pub send_timeout_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_timeout_ms: 5000,
            keepalive_timeout_ms: 10000,
            body_timeout_ms: 30000,
            response_timeout_ms: 30000,
            stream_idle_timeout_ms: 60000,
            ipc_enqueue_retry_ms: 1000,
            min_body_rate: 500,
            send_timeout_ms: 60000,
        }
    }
}

/// Everything the runtime needs to start. Frozen while it runs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Bind address.
    pub host: IpAddr,
    /// Port (0 = any free port).
    pub port: u16,
    /// tokio worker threads (`runtime_threads` / `max_workers`).
    pub runtime_threads: usize,
    /// Listen backlog.
    pub backlog: i32,
    /// Bind with `SO_REUSEPORT` (scale-out, several processes on one port).
    pub reuse_port: bool,
    /// Size limits.
    pub limits: Limits,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// `server_header`: a `Server` header value, none by default.
    pub server_header: Option<String>,
    /// Static mounts (empty = none).
    pub static_files: Arc<StaticConfig>,
    /// CORS, when configured.
    pub cors: Option<Arc<CorsConfig>>,
    /// Trusted hosts, when configured and enabled.
    pub trusted_hosts: Option<Arc<TrustedHostConfig>>,
    /// Rate limiting, when configured and enabled.
    pub rate_limit: Option<RateLimitConfig>,
    /// `shared_store` URL: when set, the rate limiter's buckets live there
    /// ([`crate::shared_store`]), shared by every worker process.
    pub shared_store: Option<String>,
    /// `forwarded_allow_ips`: proxies whose `X-Forwarded-For` / `-Proto` are believed
    /// ([`crate::forwarded`]); none by default.
    pub forwarded_allow_ips: Option<Arc<crate::forwarded::ForwardedAllow>>,
    /// TLS on the listener (`https=True`), when configured.
    pub tls: Option<TlsSettings>,
    /// HTTP/2.
    pub http2: Http2Config,
    /// WebSocket limits and timers (docs/internals/websocket.md).
    pub ws: WsSettings,
}

/// WebSocket settings; each field is named as its `app.run()` keyword
/// (docs/internals/websocket.md, "Settings").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsSettings {
    /// `ws_max_message_size`: largest frame and reassembled message (→ close 1009).
    pub ws_max_message_size: usize,
    /// `ws_ping_interval_ms`: server keep-alive ping period (0 = off).
    pub ws_ping_interval_ms: u64,
    /// `ws_pong_timeout_ms`: time allowed for the pong (→ close 1002).
    pub ws_pong_timeout_ms: u64,
    /// `ws_handshake_timeout_ms`: time the app has to accept or reject (→ 504).
    pub ws_handshake_timeout_ms: u64,
    /// `ws_queue_size`: unconsumed inbound messages per connection before the
    /// runtime stops reading that socket.
    pub ws_queue_size: usize,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            ws_max_message_size: 65536,
            ws_ping_interval_ms: 30_000,
            ws_pong_timeout_ms: 10_000,
            ws_handshake_timeout_ms: 2000,
            ws_queue_size: 8,
        }
    }
}

impl RuntimeConfig {
    /// The default worker thread count: CPUs − 1, at least 1, at most 8
    /// (docs/internals/architecture.md).
    pub fn default_threads() -> usize {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        cpus.saturating_sub(1).clamp(1, 8)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8080,
            runtime_threads: Self::default_threads(),
            backlog: 1024,
            reuse_port: false,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            server_header: None,
            static_files: Arc::new(StaticConfig::default()),
            cors: None,
            trusted_hosts: None,
            rate_limit: None,
            shared_store: None,
            forwarded_allow_ips: None,
            tls: None,
            http2: Http2Config::default(),
            ws: WsSettings::default(),
        }
    }
}
