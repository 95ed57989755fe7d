//! The process-wide native configuration registry (docs/internals/static-files.md,
//! docs/internals/cors-hosts-ratelimit.md): static mounts, CORS, trusted hosts and rate limiting,
//! filled by Python calls and frozen into the runtime's config when a server starts.
//!
//! Each call converts the user's raw Python values, validates them (errors
//! raise here, at the call, with the exact messages listed in docs/internals/static-files.md and
//! docs/internals/cors-hosts-ratelimit.md) and stores the result; the last call wins. This is
//! server config: while a server runs (`SERVER_RUNNING`, set by `server.rs`) every configuring call
//! raises `ServerRunningError` (an `OSError` with `EBUSY`, crate::errors) — the runtime holds a
//! frozen snapshot, so a change could not take effect anyway.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use viperhttp_runtime::cors::{
    CorsConfig, DEFAULT_ALLOW_METHODS, DEFAULT_MAX_AGE as CORS_DEFAULT_MAX_AGE,
};
use viperhttp_runtime::rate_limit::RateLimitConfig;
use viperhttp_runtime::static_files::{StaticConfig, StaticMounts};
use viperhttp_runtime::trusted_host::TrustedHostConfig;

use crate::errors::NativeError;

/// Everything the Python side configured for the runtime.
#[derive(Debug)]
pub struct NativeRegistry {
    /// `app.mount` / `app.mount_file` registrations.
    pub mounts: StaticMounts,
    /// `CORSMiddleware`, when configured.
    pub cors: Option<Arc<CorsConfig>>,
    /// `TrustedHostMiddleware`, when configured with an active check.
    pub trusted_hosts: Option<Arc<TrustedHostConfig>>,
    /// `RateLimitMiddleware`, when configured and enabled.
    pub rate_limit: Option<RateLimitConfig>,
}

impl NativeRegistry {
    /// An empty registry (nothing mounted, nothing configured).
    pub const fn new() -> Self {
        Self {
            mounts: StaticMounts::new(),
            cors: None,
            trusted_hosts: None,
            rate_limit: None,
        }
    }

    /// Forget everything (`viperhttp.reset()`).
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

impl Default for NativeRegistry {
    fn default() -> Self {
        Self::new()
    }
}

/// The registry. Locked only briefly by registration calls and `snapshot`.
pub static NATIVE_CONFIG: Mutex<NativeRegistry> = Mutex::new(NativeRegistry::new());

/// True while a server runs; set and cleared by `server.rs`.
pub static SERVER_RUNNING: AtomicBool = AtomicBool::new(false);

/// `ServerRunningError` (`OSError(EBUSY)`) while a server runs: server config is frozen at start.
fn ensure_not_running() -> PyResult<()> {
    if SERVER_RUNNING.load(Ordering::SeqCst) {
        return Err(NativeError::ServerRunning("server is running").into());
    }
    Ok(())
}

/// A `str` argument, or `TypeError(msg)`.
fn str_arg(value: &Bound<'_, PyAny>, msg: &'static str) -> PyResult<String> {
    let s = value
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(msg))?;
    Ok(s.to_cow()?.into_owned())
}

/// Optional truthiness (`None`/absent → `default`).
fn truthy(value: Option<&Bound<'_, PyAny>>, default: bool) -> PyResult<bool> {
    match value {
        Some(v) if !v.is_none() => v.is_truthy(),
        _ => Ok(default),
    }
}

/// `app.mount(prefix, root, html=False, dotfiles=False)`: register a directory mount
/// (`dotfiles=True` serves names starting with `.`; docs/internals/static-files.md).
/// Non-str paths → `TypeError("mount paths must be str")`; validation errors
/// → `ValueError` (`invalid mount`, `mount prefix already used`).
#[pyfunction]
#[pyo3(signature = (prefix, root, html=None, dotfiles=None))]
pub fn static_mount(
    prefix: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
    html: Option<&Bound<'_, PyAny>>,
    dotfiles: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    ensure_not_running()?;
    let prefix = str_arg(prefix, "mount paths must be str")?;
    let root = str_arg(root, "mount paths must be str")?;
    let html = truthy(html, false)?;
    let dotfiles = truthy(dotfiles, false)?;
    NATIVE_CONFIG
        .lock()
        .mounts
        .mount_with(&prefix, &root, html, dotfiles)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `app.mount_file(path, file)`: register an exact-path file mount.
/// Non-str args → `TypeError("mount_file args must be str")`; validation
/// errors → `ValueError` (`invalid mount_file`, `mount_file path already used`).
#[pyfunction]
pub fn static_mount_file(path: &Bound<'_, PyAny>, file: &Bound<'_, PyAny>) -> PyResult<()> {
    ensure_not_running()?;
    let path = str_arg(path, "mount_file args must be str")?;
    let file = str_arg(file, "mount_file args must be str")?;
    NATIVE_CONFIG
        .lock()
        .mounts
        .mount_file(&path, &file)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A register-internal directory mount whose root is a host path, not mapped
/// by `vfs_root` (the bundled docs assets, docs/guide/device-apps.md#device-paths-vfs_root).
#[pyfunction]
#[pyo3(signature = (prefix, root, html=None))]
pub fn static_mount_internal(
    prefix: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
    html: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    ensure_not_running()?;
    let prefix = str_arg(prefix, "mount paths must be str")?;
    let root = str_arg(root, "mount paths must be str")?;
    let html = truthy(html, false)?;
    NATIVE_CONFIG
        .lock()
        .mounts
        .mount_internal(&prefix, Path::new(&root), html)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The strings of a list/tuple, or `TypeError(item_msg)` for a non-str item.
/// `None` when `value` is neither a list nor a tuple.
fn str_items(value: &Bound<'_, PyAny>, item_msg: &'static str) -> PyResult<Option<Vec<String>>> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = value.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| str_arg(item, item_msg))
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

/// A CORS list value: a str (kept as is) or a list/tuple of str joined with
/// `", "` (docs/internals/cors-hosts-ratelimit.md#cors-corsrs).
fn cors_joined(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    match str_items(value, "cors list must contain strings")? {
        Some(items) => Ok(items.join(", ")),
        None => Err(PyTypeError::new_err("cors value must be str or list")),
    }
}

/// `allow_origins`: a str (a comma string is split into entries) or a
/// list/tuple of str (docs/internals/cors-hosts-ratelimit.md#cors-corsrs,
/// docs/internals/cors-hosts-ratelimit.md).
fn cors_origins(value: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s
            .to_cow()?
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect());
    }
    match str_items(value, "cors list must contain strings")? {
        Some(items) => Ok(items.into_iter().map(|o| o.trim().to_owned()).collect()),
        None => Err(PyTypeError::new_err("cors value must be str or list")),
    }
}

/// The `(name, value)` pairs of `**kwargs`; a non-str name →
/// `TypeError(key_msg)`; `None` values count as "not given".
fn keyword_pairs<'py>(
    kwargs: Option<&Bound<'py, PyDict>>,
    key_msg: &'static str,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let Some(kwargs) = kwargs else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(kwargs.len());
    for (k, v) in kwargs.iter() {
        let name = str_arg(&k, key_msg)?;
        out.push((name, v));
    }
    Ok(out)
}

/// `add_middleware(CORSMiddleware, **kwargs)`: validate and store the CORS
/// config (last call wins). Keywords: `allow_origins`, `allow_methods`,
/// `allow_headers`, `allow_credentials`, `expose_headers`, `max_age`,
/// `priority` (ignored). A `None` value means the default.
#[pyfunction]
#[pyo3(signature = (**kwargs))]
pub fn configure_cors(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    ensure_not_running()?;
    let mut origins = vec!["*".to_owned()];
    let mut methods = DEFAULT_ALLOW_METHODS.to_owned();
    let mut headers = "*".to_owned();
    let mut credentials = false;
    let mut expose: Option<String> = None;
    let mut max_age = CORS_DEFAULT_MAX_AGE;
    for (name, v) in keyword_pairs(kwargs, "cors keyword must be str")? {
        let given = !v.is_none();
        match name.as_str() {
            "allow_origins" if given => origins = cors_origins(&v)?,
            "allow_methods" if given => methods = cors_joined(&v)?,
            "allow_headers" if given => headers = cors_joined(&v)?,
            "allow_credentials" => credentials = truthy(Some(&v), false)?,
            "expose_headers" if given => expose = Some(cors_joined(&v)?),
            "max_age" if given => max_age = cors_max_age(&v)?,
            "allow_origins" | "allow_methods" | "allow_headers" | "expose_headers" | "max_age"
            | "priority" => {}
            _ => return Err(PyTypeError::new_err("unknown cors keyword")),
        }
    }
    let cfg = CorsConfig::new(origins, methods, headers, credentials, expose, max_age)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    NATIVE_CONFIG.lock().cors = Some(Arc::new(cfg));
    Ok(())
}

/// `max_age`: an int ≥ 0 (values past `u32` are clamped: any cache caps
/// far below that anyway).
fn cors_max_age(value: &Bound<'_, PyAny>) -> PyResult<u32> {
    let n: i128 = value
        .extract()
        .map_err(|_| PyTypeError::new_err("max_age must be int"))?;
    if n < 0 {
        return Err(PyValueError::new_err("max_age must be >= 0"));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// `add_middleware(TrustedHostMiddleware, **kwargs)`: validate and store the
/// trusted-host check. Keywords: `allowed_hosts` (str or list/tuple of str;
/// absent/`None` = allow any), `enabled` (default True), `priority`
/// (ignored). The check is dropped when off
/// (docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs decision).
#[pyfunction]
#[pyo3(signature = (**kwargs))]
pub fn configure_trusted_host(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    ensure_not_running()?;
    let mut allowed: Option<Vec<String>> = None;
    let mut enabled = true;
    for (name, v) in keyword_pairs(kwargs, "trusted host keyword must be str")? {
        match name.as_str() {
            "allowed_hosts" if v.is_none() => allowed = None,
            "allowed_hosts" => {
                allowed = Some(if let Ok(s) = v.cast::<PyString>() {
                    vec![s.to_cow()?.into_owned()]
                } else {
                    str_items(&v, "allowed_hosts must contain strings")?
                        .ok_or_else(|| PyTypeError::new_err("allowed_hosts must be str or list"))?
                });
            }
            "enabled" => enabled = truthy(Some(&v), true)?,
            "priority" => {}
            _ => return Err(PyTypeError::new_err("unknown trusted host keyword")),
        }
    }
    let check = match allowed {
        // Default: allow any host, nothing to check.
        None => None,
        Some(list) => TrustedHostConfig::new(list, enabled)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .map(Arc::new),
    };
    NATIVE_CONFIG.lock().trusted_hosts = check;
    Ok(())
}

/// A rate-limit number: int or float (`None` = not given).
fn rate_number(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if value.is_none() {
        return Ok(None);
    }
    value
        .extract::<f64>()
        .map(Some)
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a number")))
}

/// `add_middleware(RateLimitMiddleware, **kwargs)`: validate and store the
/// limiter. Keywords: `rate`, `burst` or the doc aliases `max_requests`,
/// `window_sec` (mixing → `TypeError`), `enabled`, `priority` (ignored).
/// A zero rate/burst or `enabled=False` turns the limiter off
/// (docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs).
#[pyfunction]
#[pyo3(signature = (**kwargs))]
pub fn configure_rate_limit(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    ensure_not_running()?;
    let (mut rate, mut burst, mut max_requests, mut window_sec) = (None, None, None, None);
    let mut enabled = true;
    for (name, v) in keyword_pairs(kwargs, "ratelimit keyword must be str")? {
        match name.as_str() {
            "rate" => rate = rate_number("rate", &v)?,
            "burst" => burst = rate_number("burst", &v)?,
            "max_requests" => max_requests = rate_number("max_requests", &v)?,
            "window_sec" => window_sec = rate_number("window_sec", &v)?,
            "enabled" => enabled = truthy(Some(&v), true)?,
            "priority" => {}
            _ => return Err(PyTypeError::new_err("unknown ratelimit keyword")),
        }
    }
    let cfg = RateLimitConfig::from_kwargs(rate, burst, max_requests, window_sec, enabled)
        .map_err(|e| {
            if e.is_type_error() {
                PyTypeError::new_err(e.to_string())
            } else {
                PyValueError::new_err(e.to_string())
            }
        })?;
    NATIVE_CONFIG.lock().rate_limit = cfg;
    Ok(())
}

/// `native_config_reset()`: clear mounts and the three middleware configs
/// (part of `viperhttp.reset()`; the Python side refuses a reset while a
/// server runs, and a running server keeps its own snapshot regardless).
#[pyfunction]
pub fn native_config_reset() {
    NATIVE_CONFIG.lock().reset();
}

/// What `snapshot` hands to `RuntimeConfig`: static files, CORS, trusted
/// hosts, rate limit.
pub type Snapshot = (
    Arc<StaticConfig>,
    Option<Arc<CorsConfig>>,
    Option<Arc<TrustedHostConfig>>,
    Option<RateLimitConfig>,
);

/// Freeze the registry for a starting server: mounts are mapped under
/// `vfs_root` and canonicalised (file-system work, done with the registry
/// lock released), `static_max_age` applied.
pub fn snapshot_with_max_age(vfs_root: Option<&Path>, static_max_age: u32) -> Snapshot {
    let (mounts, cors, hosts, rate) = {
        let reg = NATIVE_CONFIG.lock();
        (
            reg.mounts.clone(),
            reg.cors.clone(),
            reg.trusted_hosts.clone(),
            reg.rate_limit.clone(),
        )
    };
    (
        Arc::new(mounts.freeze(vfs_root, static_max_age)),
        cors,
        hosts,
        rate,
    )
}

/// Register this module's functions on `_native`.
/// `content_type_for(name) -> str`: the static-file type table
/// (docs/internals/static-files.md#responses) for a file name, so `FileResponse` shows the
/// type the runtime will send (`viperhttp.responses`); the table's one owner is
/// `viperhttp_runtime::static_files::content_type_for`.
#[pyfunction]
fn content_type_for(name: &str) -> &'static str {
    viperhttp_runtime::static_files::content_type_for(std::path::Path::new(name))
}

/// `accepts_gzip(value) -> bool`: the `Accept-Encoding` rule of
/// docs/internals/static-files.md#gzip (for `TemplateResponse`); `None` → False.
#[pyfunction]
#[pyo3(signature = (value=None))]
fn accepts_gzip(value: Option<&str>) -> bool {
    let mut headers = http::HeaderMap::new();
    if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(v).ok()) {
        headers.insert(http::header::ACCEPT_ENCODING, v);
    }
    viperhttp_runtime::static_files::accepts_gzip(&headers)
}

/// `etag_matches(if_none_match, etag) -> bool`: the weak `If-None-Match` comparison of
/// docs/internals/static-files.md#responses (for `TemplateResponse`).
#[pyfunction]
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    viperhttp_runtime::static_files::none_match_hits(if_none_match, etag.as_bytes())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(content_type_for, m)?)?;
    m.add_function(wrap_pyfunction!(accepts_gzip, m)?)?;
    m.add_function(wrap_pyfunction!(etag_matches, m)?)?;
    m.add_function(wrap_pyfunction!(static_mount, m)?)?;
    m.add_function(wrap_pyfunction!(static_mount_file, m)?)?;
    m.add_function(wrap_pyfunction!(static_mount_internal, m)?)?;
    m.add_function(wrap_pyfunction!(configure_cors, m)?)?;
    m.add_function(wrap_pyfunction!(configure_trusted_host, m)?)?;
    m.add_function(wrap_pyfunction!(configure_rate_limit, m)?)?;
    m.add_function(wrap_pyfunction!(native_config_reset, m)?)?;
    Ok(())
}
