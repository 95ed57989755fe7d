//! The ViperHTTP native runtime (core 0's role): tokio + hyper on its own
//! threads. It parses HTTP, applies limits, answers what needs no Python
//! (404/405, static files, CORS preflights, trusted-host and rate-limit
//! rejections, the WebSocket handshake and framing) and hands every Python-routed request to the interpreter thread
//! through `viperhttp-ipc`. It never depends on pyo3, so it cannot touch the GIL.

pub mod body;
pub mod config;
mod connection;
mod consumer_wake;
pub mod cors;
pub mod error;
pub mod forwarded;
pub mod head_guard;
mod http1;
pub mod http2;
pub mod log_forward;
mod overload;
pub mod pending;
pub mod percent;
pub mod rate_limit;
pub mod request_body;
pub mod router;
pub mod sendfile;
pub mod server;
pub mod service;
pub mod shared_store;
pub mod static_files;
pub mod stats;
pub mod tls;
pub mod trusted_host;
pub mod upkeep;
pub mod ws;

pub use config::RuntimeConfig;
pub use error::RuntimeError;
pub use router::Routes;
pub use server::ServerHandle;
pub use stats::ServerStats;
