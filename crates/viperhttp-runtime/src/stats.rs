//! Server counters (docs/internals/logging.md `server_stats()` keys): relaxed atomics,
//! bumped on the runtime threads, read by the binding into a dict.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Atomic counters; field names are the `server_stats()` keys.
        #[derive(Debug, Default)]
        pub struct ServerStats {
            $( $(#[$doc])* pub $name: AtomicU64, )*
        }

        impl ServerStats {
            /// Visit every counter with its key.
            pub fn for_each(&self, mut f: impl FnMut(&'static str, &AtomicU64)) {
                $( f(stringify!($name), &self.$name); )*
            }

            /// `(key, value)` pairs in declaration order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$( (stringify!($name), self.$name.load(Ordering::Relaxed)), )*]
            }
        }
    };
}

counters! {
    /// Connections accepted.
    accepts_total,
    /// Requests whose head was parsed.
    requests_started,
    /// Requests answered.
    requests_handled,
    /// Internal errors that closed a connection.
    request_errors,
    /// Request-ring allocation failures.
    ipc_req_ring_alloc_fail,
    /// Request-queue pushes that failed after the retry window.
    ipc_req_queue_push_fail,
    /// 503 Backpressure / Queue Full answers.
    backpressure_503_sent,
    /// Response frames dropped (cancelled or unknown id).
    ipc_pending_dropped,
    /// Requests waiting for Python, peak.
    ipc_pending_peak,
    /// Requests waiting for Python now (gauge).
    ipc_pending_used,
    /// 504 answers.
    ipc_wait_timeouts,
    /// Stream frames written.
    stream_chunks_sent,
    /// Parse errors answered natively.
    parse_errors,
    /// Static files served (200/206).
    static_served,
    /// Static 304 answers.
    static_not_modified,
    /// Bodies sent with sendfile(2): a mount's 200/206 and a `FileResponse`'s
    /// (docs/internals/static-files.md#sendfile).
    static_sendfile_responses,
    /// Bytes sent with sendfile(2).
    static_sendfile_bytes,
    /// CORS preflights answered.
    cors_preflight,
    /// CORS preflights refused.
    cors_forbidden,
    /// Trusted-host rejections.
    trusted_host_rejected,
    /// Rate-limit rejections.
    ratelimit_rejected,
    /// Open connections (gauge).
    connections_open,
    /// Peak open connections.
    event_conn_peak,
    /// Rate-limit store errors (shared store).
    ratelimit_store_errors,
    /// Request bodies refused with 408 for arriving slower than `min_body_rate`.
    body_rate_closed,
    /// Responses abandoned (connection closed) after `send_timeout_ms` without progress.
    send_timeout_closed,
    /// Request bodies waiting for the shared `max_body_memory` budget now (gauge).
    body_budget_waiting,
    /// Request bodies that waited for the budget at all.
    body_budget_waits,
    /// Request bodies answered 503 because the budget stayed exhausted.
    body_budget_rejected,
    /// Idle connections closed to admit new ones at `max_connections`.
    idle_evicted,
    /// Kept-alive HTTP/1 connections parked now: idle, hyper's state dropped (gauge).
    connections_parked,
    /// TLS handshakes completed.
    https_handshake_ok,
    /// TLS handshakes that failed or timed out (plain HTTP on the TLS port included).
    https_handshake_fail,
    /// Connections that began with the HTTP/2 preface (prior knowledge or ALPN `h2`).
    http2_preface_seen,
    /// GOAWAY frames with an error code sent by the server.
    http2_goaway_sent,
    /// Streams the server reset (RST_STREAM sent).
    http2_rst_sent,
    /// HTTP/2 connections ended with PROTOCOL_ERROR.
    http2_err_protocol,
    /// HTTP/2 connections ended with FLOW_CONTROL_ERROR.
    http2_err_flow_control,
    /// HTTP/2 connections ended with FRAME_SIZE_ERROR.
    http2_err_frame_size,
    /// HTTP/2 connections ended with COMPRESSION_ERROR.
    http2_err_compression,
    /// Streams refused (REFUSED_STREAM) past `http2_max_streams`.
    http2_err_refused_stream,
    /// HTTP/2 errors STREAM_CLOSED.
    http2_err_stream_closed,
    /// HTTP/2 connections ended with INTERNAL_ERROR or ENHANCE_YOUR_CALM.
    http2_err_internal,
    /// Prefaces answered with GOAWAY HTTP_1_1_REQUIRED (`http2=False`).
    http2_err_http11_required,
    /// HTTP/2 connections closed by the stall watchdog (`send_timeout_ms`).
    http2_stall_closed,
    /// WebSocket handshakes handed to Python (`REQ_WS_CONNECT` pushed).
    ws_handoffs,
    /// Upgraded WebSocket connections open now (gauge).
    ws_tasks_active,
    /// WebSocket messages handed to Python.
    ws_messages_in,
    /// WebSocket frames written for Python.
    ws_frames_out,
    /// WebSocket connections closed for a protocol, UTF-8 or size violation.
    ws_protocol_closed,
}

/// Gauges (current values, not event counts): `server_stats_reset()` keeps them.
const GAUGES: [&str; 6] = [
    "connections_open",
    "connections_parked",
    "ws_tasks_active",
    "ipc_pending_used",
    "event_conn_peak",
    "body_budget_waiting",
];

impl ServerStats {
    /// Zero every counter except the gauges (`server_stats_reset()`, docs/internals/logging.md).
    pub fn reset_counters(&self) {
        self.for_each(|name, counter| {
            if !GAUGES.contains(&name) {
                counter.store(0, Ordering::Relaxed);
            }
        });
    }

    /// Add one to a counter.
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Add `n` to a counter.
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
