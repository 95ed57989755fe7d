//! Server lifecycle from Python: `start`, `stop`, `close`, `is_running`,
//! stats. Holds the one running server of the process. Blocking calls
//! (joining the runtime thread) detach from the interpreter first, so a runtime
//! thread can never wait on the GIL while we wait on it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use viperhttp_ipc::{Ipc, WakeFd};
use viperhttp_runtime::ServerHandle;

use crate::errors::NativeError;
use crate::knobs;

/// One running server and its IPC channel.
pub struct Running {
    /// The channel.
    pub ipc: Arc<Ipc>,
    /// The runtime.
    pub server: ServerHandle,
    /// The interpreter's wake-up fd.
    pub wake: Arc<WakeFd>,
    /// The interpreter thread (the thread that started the server).
    pub thread: ThreadId,
    /// Python-side ring/queue wait bound.
    pub ipc_ring_wait_ms: u64,
    /// `min_workers` as given (advisory on the host).
    pub min_workers: usize,
    /// When the server started: the origin of `drain_deadline`.
    started: Instant,
    /// The end of the stop's grace period, in nanoseconds after `started` (0: no stop yet).
    drain_deadline: AtomicU64,
}

impl Running {
    /// Whether a stop began and its grace period (`stop(grace_s)`) is over: a request not
    /// started by then is not started at all (docs/internals/bridge.md, "Start and stop").
    pub fn drain_expired(&self) -> bool {
        let deadline = self.drain_deadline.load(Ordering::Acquire);
        deadline != 0 && self.started.elapsed().as_nanos() as u64 >= deadline
    }

    /// Sets the grace period's end to `grace` from now, unless an earlier end is already set.
    fn set_drain_deadline(&self, grace: Duration) {
        let at = (self.started.elapsed() + grace).as_nanos().max(1) as u64;
        let _ = self
            .drain_deadline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current == 0 || at < current).then_some(at)
            });
    }
}

static RUNNING: Mutex<Option<Arc<Running>>> = Mutex::new(None);

/// Set while the app has Python HTTP middleware (read by the runtime).
pub static PYTHON_MIDDLEWARE: LazyLock<Arc<AtomicBool>> =
    LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The running server, checked to be used from the interpreter thread.
pub fn running() -> PyResult<Arc<Running>> {
    let r = RUNNING.lock().clone().ok_or(NativeError::NotRunning)?;
    if std::thread::current().id() != r.thread {
        return Err(NativeError::WrongThread.into());
    }
    Ok(r)
}

/// The running server from any thread (stats, stop).
pub fn running_any() -> Option<Arc<Running>> {
    RUNNING.lock().clone()
}

/// `start(host="0.0.0.0", port=8080, **runtime_knobs) -> bound port`.
#[pyfunction]
#[pyo3(signature = (host="0.0.0.0", port=8080, **kwargs))]
pub fn start(
    py: Python<'_>,
    host: &str,
    port: i64,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<u16> {
    // Limits from set_worker_limits apply unless run() gives its own.
    let merged = PyDict::new(py);
    let (stored_min, stored_max) = *WORKER_LIMITS.lock();
    if let Some(v) = stored_min {
        merged.set_item("min_workers", v)?;
    }
    if let Some(v) = stored_max {
        merged.set_item("max_workers", v)?;
    }
    if let Some(kw) = kwargs {
        merged.update(kw.as_mapping())?;
    }
    let kwargs = Some(&merged);
    let cfg = knobs::build(host, port, kwargs)?;
    if RUNNING.lock().is_some() {
        return Err(NativeError::ServerRunning("server already running").into());
    }
    let min_workers = kwargs
        .and_then(|k| k.get_item("min_workers").ok().flatten())
        .and_then(|v| v.extract::<usize>().ok());
    let mut runtime = cfg.runtime;
    let (statics, cors, hosts, rate) = crate::native_config::snapshot_with_max_age(
        cfg.vfs_root.as_deref().map(std::path::Path::new),
        cfg.static_max_age,
    );
    runtime.static_files = statics;
    runtime.cors = cors;
    runtime.trusted_hosts = hosts;
    runtime.rate_limit = rate;
    let ipc = Arc::new(Ipc::new(&cfg.ipc));
    let wake = Arc::new(WakeFd::new().map_err(|e| PyOSError::new_err(e.to_string()))?);
    let w = wake.clone();
    ipc.requests.set_waker(Arc::new(move || w.wake()));
    let routes = crate::routes::ROUTES.clone();
    let flag = PYTHON_MIDDLEWARE.clone();
    let ipc2 = ipc.clone();
    let server = py
        .detach(move || ServerHandle::start(runtime, ipc2, routes, flag))
        .map_err(NativeError::Start)?;
    let port = server.local_addr().port();
    crate::native_config::SERVER_RUNNING.store(true, Ordering::SeqCst);
    *RUNNING.lock() = Some(Arc::new(Running {
        ipc,
        server,
        wake,
        thread: std::thread::current().id(),
        ipc_ring_wait_ms: cfg.ipc_ring_wait_ms,
        min_workers: min_workers.unwrap_or(0),
        started: Instant::now(),
        drain_deadline: AtomicU64::new(0),
    }));
    Ok(port)
}

/// `reload_tls() -> bool`: re-read the certificate and key (what SIGHUP does).
/// True when TLS is on and the new ones are in use, False without TLS or
/// without a running server; a bad certificate raises and the old one stays.
#[pyfunction]
pub fn reload_tls(py: Python<'_>) -> PyResult<bool> {
    let Some(r) = running_any() else {
        return Ok(false);
    };
    Ok(py
        .detach(|| r.server.reload_tls())
        .map_err(NativeError::Start)?)
}

/// `stop(grace_s=None)`: begin the stop sequence (thread-safe, non-blocking): the
/// listener closes, idle connections close, in-flight requests may finish. With
/// `grace_s`, requests still waiting to be started once it has passed count as
/// cancelled (`is_cancelled`); a later, shorter grace wins.
#[pyfunction]
#[pyo3(signature = (grace_s=None))]
pub fn stop(grace_s: Option<f64>) {
    if let Some(r) = running_any() {
        if let Some(grace) = grace_s {
            r.set_drain_deadline(Duration::from_secs_f64(grace.clamp(0.0, 1e9)));
        }
        r.server.begin_stop();
        r.wake.wake();
    }
}

/// `close()`: end the server now (cancel what is left, join the runtime thread).
#[pyfunction]
pub fn close(py: Python<'_>) {
    let taken = RUNNING.lock().take();
    if let Some(r) = taken {
        r.ipc.stop();
        py.detach(|| r.server.close());
        crate::native_config::SERVER_RUNNING.store(false, Ordering::SeqCst);
    }
}

/// `is_running()`: a server is serving and not stopping.
#[pyfunction]
pub fn is_running() -> bool {
    running_any().is_some_and(|r| !r.server.is_stopping())
}

/// `is_stopping()`: the stop sequence began.
#[pyfunction]
pub fn is_stopping() -> bool {
    running_any().is_some_and(|r| r.server.is_stopping())
}

/// `in_flight()`: requests handed to Python and not yet answered.
#[pyfunction]
pub fn in_flight() -> usize {
    running_any()
        .map(|r| r.server.in_flight() + r.ipc.requests.len())
        .unwrap_or(0)
}

/// `_fail_in_flight()`: the interpreter is exiting (docs/internals/bridge.md#start-and-stop): stop
/// accepting, answer every request waiting for Python with 503 and close.
#[pyfunction]
pub fn _fail_in_flight() {
    if let Some(r) = running_any() {
        r.server.fail_in_flight();
    }
}

/// `open_connections()`: client connections the runtime still holds. During a
/// stop (after `stop()`), idle ones close at once, so what remains has a
/// request or a response (a static transfer, a stream) in progress.
#[pyfunction]
pub fn open_connections() -> u64 {
    running_any()
        .map(|r| {
            r.server
                .stats()
                .connections_open
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .unwrap_or(0)
}

/// `bound_port()`: the listener's port, or None.
#[pyfunction]
pub fn bound_port() -> Option<u16> {
    running_any().map(|r| r.server.local_addr().port())
}

/// `set_python_middleware(flag)`: while set, unmatched requests go to Python.
#[pyfunction]
pub fn set_python_middleware(flag: bool) {
    PYTHON_MIDDLEWARE.store(flag, Ordering::SeqCst);
}

/// `server_stats()`: counters of the running server (zeros when stopped).
#[pyfunction]
pub fn server_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let r = running_any();
    let snapshot = r
        .as_ref()
        .map(|r| r.server.stats().snapshot())
        .unwrap_or_else(|| viperhttp_runtime::ServerStats::default().snapshot());
    for (k, v) in snapshot {
        d.set_item(k, v)?;
    }
    let threads = r
        .as_ref()
        .map(|r| r.server.shared().config.runtime_threads)
        .unwrap_or(0);
    d.set_item("workers_active", threads)?;
    d.set_item("workers_started", threads)?;
    d.set_item("event_loop_enabled", true)?;
    d.set_item("event_conn_active", d.get_item("connections_open")?)?;
    let (limit_min, limit_max) = effective_worker_limits();
    d.set_item("workers_limit_min", limit_min)?;
    d.set_item("workers_limit_max", limit_max)?;
    // Every key of docs/internals/logging.md is kept; these have no counterpart on a computer
    // (PSRAM, the original's per-state hit counters, the accept queue) or belong to
    // subsystems not built yet (the stream back-pressure helper).
    for zero in [
        "accepts_enqueued",
        "accepts_rejected",
        "accept_queue_used",
        "accept_queue_peak",
        "workers_recv_psram",
        "workers_recv_ram",
        "scheduler_yields",
        "state_read_req_hits",
        "state_wait_ipc_hits",
        "state_stream_hits",
        "event_conn_dropped",
        "event_state_accept_hits",
        "event_state_dispatched_hits",
        "event_state_closed_hits",
        "http2_task_fallback_used",
        "http2_psram_slots",
        "mp_stream_backpressure_yield_hits",
        "mp_stream_backpressure_queue_hits",
        "mp_stream_backpressure_ring_hits",
        "mp_stream_backpressure_delay_ms_total",
    ] {
        d.set_item(zero, 0)?;
    }
    let config = r.as_ref().map(|r| &r.server.shared().config);
    d.set_item("https_enabled", config.is_some_and(|c| c.tls.is_some()))?;
    d.set_item("http2_enabled", config.is_some_and(|c| c.http2.http2))?;
    // Dropped log records are counted by the process-wide log queue.
    d.set_item(
        "log_dropped",
        viperhttp_runtime::log_forward::queue().dropped(),
    )?;
    Ok(d)
}

/// `ipc_stats()`.
#[pyfunction]
pub fn ipc_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let r = running_any();
    let get = |f: &dyn Fn(&Running) -> u64| r.as_deref().map(f).unwrap_or(0);
    d.set_item(
        "dropped_requests",
        get(&|r| r.ipc.counters.dropped_requests.load(Ordering::Relaxed)),
    )?;
    d.set_item(
        "dropped_responses",
        get(&|r| r.ipc.counters.dropped_responses.load(Ordering::Relaxed)),
    )?;
    d.set_item("ring_full", get(&|r| r.ipc.ring_full()))?;
    d.set_item("ring_size", get(&|r| r.ipc.request_ring.capacity() as u64))?;
    d.set_item("ring_psram", false)?;
    d.set_item(
        "request_ring_used",
        get(&|r| r.ipc.request_ring.used() as u64),
    )?;
    d.set_item(
        "response_ring_used",
        get(&|r| r.ipc.response_ring.used() as u64),
    )?;
    d.set_item("request_queue_len", get(&|r| r.ipc.requests.len() as u64))?;
    d.set_item("response_queue_len", get(&|r| r.ipc.responses.len() as u64))?;
    d.set_item("pending_ids", get(&|r| r.server.in_flight() as u64))?;
    d.set_item("cancelled_ids", get(&|r| r.ipc.cancelled_len() as u64))?;
    Ok(d)
}

/// Worker limits set with `set_worker_limits` (used by the next start when `run()`
/// does not give them): (min_workers, max_workers).
static WORKER_LIMITS: Mutex<(Option<usize>, Option<usize>)> = Mutex::new((None, None));

fn effective_worker_limits() -> (usize, usize) {
    if let Some(r) = running_any() {
        let max = r.server.shared().config.runtime_threads;
        let min = if r.min_workers > 0 {
            r.min_workers
        } else {
            max.min(4)
        };
        return (min, max);
    }
    let (min, max) = *WORKER_LIMITS.lock();
    let max = max.unwrap_or_else(viperhttp_runtime::RuntimeConfig::default_threads);
    (min.unwrap_or(max.min(4)), max)
}

fn limits_dict(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (min, max) = effective_worker_limits();
    let d = PyDict::new(py);
    d.set_item("min_workers", min)?;
    d.set_item("max_workers", max)?;
    Ok(d)
}

/// `get_worker_limits() -> {"min_workers", "max_workers"}` (docs/internals/architecture.md#knobs).
#[pyfunction]
pub fn get_worker_limits(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    limits_dict(py)
}

/// `set_worker_limits(min_workers=None, max_workers=None)`: validated with the
/// `run()` rules; `OSError(EBUSY)` while a server runs.
#[pyfunction]
#[pyo3(signature = (min_workers=None, max_workers=None))]
pub fn set_worker_limits<'py>(
    py: Python<'py>,
    min_workers: Option<&Bound<'py, PyAny>>,
    max_workers: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let kw = PyDict::new(py);
    if let Some(v) = min_workers {
        kw.set_item("min_workers", v)?;
    }
    if let Some(v) = max_workers {
        kw.set_item("max_workers", v)?;
    }
    knobs::build("127.0.0.1", 0, Some(&kw))?; // the one place the rules live
    if running_any().is_some() {
        return Err(NativeError::ServerRunning("server running").into());
    }
    {
        let mut limits = WORKER_LIMITS.lock();
        if let Some(v) = min_workers.filter(|v| !v.is_none()) {
            limits.0 = Some(v.extract()?);
        }
        if let Some(v) = max_workers.filter(|v| !v.is_none()) {
            limits.1 = Some(v.extract()?);
        }
    }
    limits_dict(py)
}

/// `server_stats_reset()`: zero the resettable counters (gauges stay).
#[pyfunction]
pub fn server_stats_reset() {
    if let Some(r) = running_any() {
        r.server.stats().reset_counters();
    }
    viperhttp_runtime::log_forward::queue().reset_dropped();
}

/// `heap_stats()` (docs/internals/logging.md): `internal_*` from the process's memory figures
/// (`/proc/self/status`: VmRSS, VmHWM; total = MemTotal), PSRAM keys 0/False.
#[pyfunction]
pub fn heap_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    fn kib(text: &str, key: &str) -> u64 {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |v| v * 1024)
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = kib(&meminfo, "MemTotal:");
    let available = kib(&meminfo, "MemAvailable:");
    let d = PyDict::new(py);
    d.set_item("internal_total", total)?;
    d.set_item("internal_free", available)?;
    d.set_item("internal_largest", available)?;
    // The lowest free figure seen can never be above the current one.
    d.set_item(
        "internal_min_free",
        total.saturating_sub(kib(&status, "VmHWM:")).min(available),
    )?;
    d.set_item("rss", kib(&status, "VmRSS:"))?;
    for key in [
        "psram_total",
        "psram_free",
        "psram_largest",
        "psram_min_free",
    ] {
        d.set_item(key, 0)?;
    }
    d.set_item("psram_available", false)?;
    Ok(d)
}

/// `https_status()` → `{"configured", "active"}`: TLS on the running server
/// (both false when none runs; docs/internals/tls-http2.md).
#[pyfunction]
pub fn https_status(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let on = running_any().is_some_and(|r| r.server.shared().config.tls.is_some());
    let d = PyDict::new(py);
    d.set_item("configured", on)?;
    d.set_item("active", on)?;
    Ok(d)
}

/// `http2_status()` → `{"configured", "active", "max_streams"}`.
#[pyfunction]
pub fn http2_status(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let r = running_any();
    let on = r
        .as_ref()
        .is_some_and(|r| r.server.shared().config.http2.http2);
    let streams = r
        .as_ref()
        .map_or(0, |r| r.server.shared().config.http2.http2_max_streams);
    let d = PyDict::new(py);
    d.set_item("configured", on)?;
    d.set_item("active", on)?;
    d.set_item("max_streams", streams)?;
    Ok(d)
}
