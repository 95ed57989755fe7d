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
    /// A TLS certificate or key file could not be read.
    #[error("cannot read TLS {what} file {path}: {source}")]
    TlsFile {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The path as configured (after `vfs_root` mapping).
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS certificate or key is not valid PEM of the expected kind.
    #[error("invalid TLS {what} PEM: {detail}")]
    TlsPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// rustls refused the certificate/key pair (e.g. the key does not match).
    #[error("invalid TLS certificate/key: {0}")]
    TlsConfig(String),
}

impl RuntimeError {
    /// The error is about the TLS certificate or key (a configuration mistake,
    /// not an OS failure of the listener).
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            RuntimeError::TlsFile { .. } | RuntimeError::TlsPem { .. } | RuntimeError::TlsConfig(_)
        )
    }
}
