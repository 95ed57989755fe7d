//! Every native failure and the Python exception class it raises: the one place
//! the binding maps errors. The classes are declared in `viperhttp/_native.pyi`
//! (checked by `stubtest`); docs/internals/bridge.md, "Native errors", says who
//! raises which and how the bridge handles each.
//!
//! Each class subclasses the builtin the same failure raised before it had a
//! class of its own (`ValueError`, `RuntimeError`, `OSError`), so callers that
//! catch the builtin keep working. Argument checks of a single call (a wrong
//! type, a value out of range) stay plain `TypeError`/`ValueError`, as in any
//! Python function; message text is not API.

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use viperhttp_ipc::IpcError;
use viperhttp_runtime::RuntimeError;

create_exception!(
    viperhttp._native,
    BackpressureError,
    PyValueError,
    "The runtime did not take a response frame: the response ring or queue stayed full for \
     `ipc_ring_wait_ms`, or the server is stopping. The response is dropped (the client gets \
     the runtime's 504 or the connection closes); the handler did nothing wrong."
);
create_exception!(
    viperhttp._native,
    RingFullError,
    BackpressureError,
    "The response ring had no room for the frame within `ipc_ring_wait_ms`."
);
create_exception!(
    viperhttp._native,
    QueueFullError,
    BackpressureError,
    "The response queue had no free slot within `ipc_ring_wait_ms` (counted in `dropped_responses`)."
);
create_exception!(
    viperhttp._native,
    StoppingError,
    BackpressureError,
    "The server is stopping: a wait for ring or queue space was given up."
);
create_exception!(
    viperhttp._native,
    ResponseError,
    PyValueError,
    "The response itself cannot be sent: invalid status code, header or body type."
);
create_exception!(
    viperhttp._native,
    HeadersTooLargeError,
    ResponseError,
    "The response header block is larger than 65535 bytes."
);
create_exception!(
    viperhttp._native,
    FrameTooLargeError,
    ResponseError,
    "One response frame is larger than the whole response ring (`ipc_ring_size`); it can never fit."
);
create_exception!(
    viperhttp._native,
    NotRunningError,
    PyRuntimeError,
    "An IPC call was made while no server is running."
);
create_exception!(
    viperhttp._native,
    WrongThreadError,
    PyRuntimeError,
    "An IPC call was made from a thread other than the interpreter thread that started the server."
);
create_exception!(
    viperhttp._native,
    ServerRunningError,
    PyOSError,
    "Server configuration changed while a server runs (`errno` is `EBUSY`): it is frozen at start."
);
create_exception!(
    viperhttp._native,
    RouteError,
    PyValueError,
    "A route could not be registered (unsupported method, invalid or conflicting pattern)."
);
create_exception!(
    viperhttp._native,
    TlsConfigError,
    PyValueError,
    "The TLS certificate or key is not usable (bad PEM, key does not match)."
);
create_exception!(
    viperhttp._native,
    TlsCertMissingError,
    TlsConfigError,
    "`https=True` without a certificate or without a key (neither PEM nor path given)."
);

/// A native failure. Converted into its Python class by `From<NativeError> for PyErr`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NativeError {
    /// Response ring full after the wait.
    #[error("ipc ring full")]
    RingFull,
    /// Response queue full after the wait; the text names the record kind
    /// (`response queue full`, `ws accept queue full`, `ws close queue full`).
    #[error("{0}")]
    QueueFull(&'static str),
    /// The wait for ring or queue space ended because the server is stopping.
    #[error("server stopping")]
    Stopping,
    /// A single frame larger than the ring.
    #[error("ipc ring full: a frame of {len} bytes exceeds the ring ({capacity} bytes)")]
    FrameTooLarge {
        /// Frame bytes (headers + body).
        len: usize,
        /// Ring capacity.
        capacity: usize,
    },
    /// Header block over 65535 bytes.
    #[error("headers too large")]
    HeadersTooLarge,
    /// A header name or value that cannot go on the wire (CR/LF, empty name...).
    #[error("invalid response header: {0}")]
    InvalidHeader(&'static str),
    /// Anything else wrong with the response value.
    #[error("{0}")]
    InvalidResponse(&'static str),
    /// No server.
    #[error("server not running")]
    NotRunning,
    /// Called off the interpreter thread.
    #[error("viperhttp IPC used off the interpreter thread")]
    WrongThread,
    /// Configuration call while serving (`EBUSY`).
    #[error("{0}")]
    ServerRunning(&'static str),
    /// Route registration failed.
    #[error("{0}")]
    Route(String),
    /// The server did not start (bind, TLS).
    #[error(transparent)]
    Start(#[from] RuntimeError),
}

impl From<IpcError> for NativeError {
    fn from(e: IpcError) -> Self {
        match e {
            IpcError::RingFull => NativeError::RingFull,
            IpcError::QueueFull => NativeError::QueueFull("response queue full"),
            IpcError::Stopped => NativeError::Stopping,
            IpcError::HeadersTooLarge => NativeError::HeadersTooLarge,
            IpcError::Malformed(what) => NativeError::InvalidHeader(what),
            // `IpcError` is non-exhaustive: a new kind is a response that did not go out.
            _ => NativeError::InvalidResponse("ipc error"),
        }
    }
}

impl From<NativeError> for PyErr {
    fn from(e: NativeError) -> PyErr {
        let msg = e.to_string();
        match e {
            NativeError::RingFull => RingFullError::new_err(msg),
            NativeError::QueueFull(_) => QueueFullError::new_err(msg),
            NativeError::Stopping => StoppingError::new_err(msg),
            NativeError::FrameTooLarge { .. } => FrameTooLargeError::new_err(msg),
            NativeError::HeadersTooLarge => HeadersTooLargeError::new_err(msg),
            NativeError::InvalidHeader(_) | NativeError::InvalidResponse(_) => {
                ResponseError::new_err(msg)
            }
            NativeError::NotRunning => NotRunningError::new_err(msg),
            NativeError::WrongThread => WrongThreadError::new_err(msg),
            NativeError::ServerRunning(_) => ServerRunningError::new_err((libc::EBUSY, msg)),
            NativeError::Route(_) => RouteError::new_err(msg),
            NativeError::Start(e) => start_error(e, msg),
        }
    }
}

/// A start failure: certificate/key problems are the caller's configuration
/// (`TlsConfigError`, or the `OSError` of the unreadable file, with its errno);
/// a second server is a `ServerRunningError`; everything else is an `OSError` of
/// the listener.
fn start_error(e: RuntimeError, msg: String) -> PyErr {
    match &e {
        RuntimeError::TlsFile { source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, msg)),
            None => PyOSError::new_err(msg),
        },
        RuntimeError::AlreadyRunning => ServerRunningError::new_err((libc::EBUSY, msg)),
        _ if e.is_tls() => TlsConfigError::new_err(msg),
        _ => PyOSError::new_err(msg),
    }
}

/// Add the classes to the module (names as in the stub).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BackpressureError", py.get_type::<BackpressureError>())?;
    m.add("RingFullError", py.get_type::<RingFullError>())?;
    m.add("QueueFullError", py.get_type::<QueueFullError>())?;
    m.add("StoppingError", py.get_type::<StoppingError>())?;
    m.add("ResponseError", py.get_type::<ResponseError>())?;
    m.add(
        "HeadersTooLargeError",
        py.get_type::<HeadersTooLargeError>(),
    )?;
    m.add("FrameTooLargeError", py.get_type::<FrameTooLargeError>())?;
    m.add("NotRunningError", py.get_type::<NotRunningError>())?;
    m.add("WrongThreadError", py.get_type::<WrongThreadError>())?;
    m.add("ServerRunningError", py.get_type::<ServerRunningError>())?;
    m.add("RouteError", py.get_type::<RouteError>())?;
    m.add("TlsConfigError", py.get_type::<TlsConfigError>())?;
    m.add("TlsCertMissingError", py.get_type::<TlsCertMissingError>())?;
    Ok(())
}
