//! The one error type of the IPC crate.

/// Everything that can go wrong inside the IPC layer. Message text is not API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpcError {
    /// A ring allocation did not fit (counted in `ring_full`).
    #[error("ipc ring full")]
    RingFull,
    /// A bounded queue had no room (after the wait, if any).
    #[error("ipc queue full")]
    QueueFull,
    /// The channel is shutting down; waiters return early.
    #[error("ipc stopped")]
    Stopped,
    /// A record or blob did not decode (bad lengths, bad offsets, bad encoding).
    #[error("malformed ipc data: {0}")]
    Malformed(&'static str),
    /// A response header block would exceed the u16 `headers_len` field.
    #[error("headers too large")]
    HeadersTooLarge,
}
