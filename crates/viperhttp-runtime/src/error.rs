//! The runtime crate's error type.

/// Errors starting or running the server. Message text is not API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Binding or configuring the listener failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address that failed.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Building the tokio runtime or spawning its thread failed.
    #[error("runtime start failed: {0}")]
    Start(#[source] std::io::Error),
    /// A server is already running in this process.
    #[error("server already running")]
    AlreadyRunning,
}
