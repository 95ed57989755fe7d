//! `app.run()` runtime knobs → `RuntimeConfig` + `IpcConfig` (`runtime.md` §11):
//! each rule lives here once. Unlike the `bridge_*` knobs these never clamp:
//! non-int → `TypeError`, out of range → `ValueError("<name> out of range")`,
//! raised before anything binds.

use std::net::IpAddr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};
use viperhttp_ipc::IpcConfig;
use viperhttp_runtime::config::DEFAULT_HTTP2_MAX_STREAMS;
use viperhttp_runtime::tls::{PemSource, TlsSettings, DEFAULT_HANDSHAKE_TIMEOUT_MS};
use viperhttp_runtime::RuntimeConfig;

/// Everything `start()` needs, validated.
pub struct StartConfig {
    /// Runtime settings.
    pub runtime: RuntimeConfig,
    /// IPC sizes.
    pub ipc: IpcConfig,
    /// Python-side ring wait (`ipc_ring_wait_ms`).
    pub ring_wait_ms: u64,
    /// `vfs_root`, when set.
    pub vfs_root: Option<String>,
    /// `static_max_age` (seconds; 0 = no Cache-Control).
    pub static_max_age: u32,
}

fn int_knob(name: &str, value: &Bound<'_, PyAny>, min: i64, max: i64) -> PyResult<i64> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{name} must be int")));
    }
    let v: i64 = value
        .extract()
        .map_err(|_| PyValueError::new_err(format!("{name} out of range")))?;
    if v < min || v > max {
        return Err(PyValueError::new_err(format!("{name} out of range")));
    }
    Ok(v)
}

/// PEM given inline: str or bytes.
fn pem_knob(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!("{name} must be str or bytes")))
}

fn str_knob(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = value
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be str")))?;
    Ok(s.to_cow()?.into_owned())
}

/// The TLS keywords as given (docs/internals/tls-http2.md, "Settings").
#[derive(Default)]
struct TlsKnobs {
    https: bool,
    cert_pem: Option<Vec<u8>>,
    key_pem: Option<Vec<u8>>,
    cert_path: Option<String>,
    key_path: Option<String>,
    handshake_timeout_ms: Option<u64>,
}

/// A certificate/key path as a host path: with `vfs_root` set, paths live
/// under it as every other file path of the app does (docs/internals/tls-http2.md).
fn host_path(path: &str, vfs_root: Option<&str>) -> std::path::PathBuf {
    match vfs_root {
        Some(root) => std::path::Path::new(root).join(path.trim_start_matches('/')),
        None => std::path::PathBuf::from(path),
    }
}

impl TlsKnobs {
    /// `https=True` needs a certificate and a key (PEM first, then path); PEM or
    /// paths given with `https=False` are ignored.
    fn settings(self, vfs_root: Option<&str>) -> PyResult<Option<TlsSettings>> {
        if !self.https {
            return Ok(None);
        }
        let source =
            |pem: Option<Vec<u8>>, path: Option<String>, msg: &'static str| match (pem, path) {
                (Some(p), _) => Ok(PemSource::Inline(p)),
                (None, Some(path)) => Ok(PemSource::Path(host_path(&path, vfs_root))),
                (None, None) => Err(PyValueError::new_err(msg)),
            };
        let cert = source(
            self.cert_pem,
            self.cert_path,
            "cert_pem required when https enabled",
        )?;
        let key = source(
            self.key_pem,
            self.key_path,
            "key_pem required when https enabled",
        )?;
        Ok(Some(TlsSettings {
            cert,
            key,
            handshake_timeout_ms: self
                .handshake_timeout_ms
                .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT_MS),
        }))
    }
}

/// Build the start configuration from `host`, `port` and the runtime keywords.
pub fn build(host: &str, port: i64, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<StartConfig> {
    let mut runtime = RuntimeConfig::default();
    let mut ipc = IpcConfig::default();
    let mut ring_wait_ms = 10_000u64;
    let mut vfs_root = None;
    let mut static_max_age = 300u32;
    if !(0..=65535).contains(&port) {
        return Err(PyValueError::new_err("invalid port"));
    }
    runtime.port = port as u16;
    runtime.host = host
        .parse::<IpAddr>()
        .or_else(|_| {
            if host == "localhost" {
                Ok(IpAddr::from([127, 0, 0, 1]))
            } else {
                Err(())
            }
        })
        .map_err(|_| PyValueError::new_err(format!("invalid host: {host}")))?;

    let mut min_workers: Option<i64> = None;
    let mut max_workers: Option<i64> = None;
    let mut runtime_threads: Option<i64> = None;
    const U32: i64 = u32::MAX as i64;
    let mut tls = TlsKnobs::default();
    if let Some(kw) = kwargs {
        for (key, value) in kw.iter() {
            let name: String = key.extract()?;
            if value.is_none() {
                continue; // None = the default
            }
            let v = &value;
            match name.as_str() {
                "ipc_ring_size" => ipc.ring_size = int_knob(&name, v, 64 * 1024, 1 << 30)? as usize,
                "ipc_request_queue_len" => {
                    ipc.request_queue_len = int_knob(&name, v, 1, 65535)? as usize
                }
                "ipc_response_queue_len" => {
                    ipc.response_queue_len = int_knob(&name, v, 1, 65535)? as usize
                }
                "ipc_ring_wait_ms" => ring_wait_ms = int_knob(&name, v, 0, U32)? as u64,
                "ipc_enqueue_retry_ms" => {
                    runtime.timeouts.enqueue_retry_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "runtime_threads" => runtime_threads = Some(int_knob(&name, v, 1, 65535)?),
                "min_workers" => min_workers = Some(int_knob(&name, v, 1, 65535)?),
                "max_workers" => max_workers = Some(int_knob(&name, v, 1, 65535)?),
                "max_uri_len" => {
                    runtime.limits.max_uri_len = int_knob(&name, v, 1, 65535)? as usize
                }
                "max_headers" => runtime.limits.max_headers = int_knob(&name, v, 1, 1000)? as usize,
                "max_header_size" => {
                    runtime.limits.max_header_size = int_knob(&name, v, 1, 65535)? as usize
                }
                "max_body_size" => {
                    runtime.limits.max_body_size = int_knob(&name, v, 1, U32)? as usize
                }
                "max_connections" => {
                    runtime.limits.max_connections = int_knob(&name, v, 1, 1 << 20)? as usize
                }
                "max_body_memory" => {
                    runtime.limits.max_body_memory = int_knob(&name, v, 1, 1 << 40)? as usize
                }
                "min_body_rate" => {
                    runtime.timeouts.min_body_rate = int_knob(&name, v, 0, U32)? as u64
                }
                "send_timeout_ms" => runtime.timeouts.send_ms = int_knob(&name, v, 0, U32)? as u64,
                "ws_max_message_size" => {
                    runtime.ws.max_message_size = int_knob(&name, v, 1, 1 << 30)? as usize
                }
                "ws_ping_interval_ms" => {
                    runtime.ws.ping_interval_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "ws_pong_timeout_ms" => {
                    runtime.ws.pong_timeout_ms = int_knob(&name, v, 1, U32)? as u64
                }
                "ws_handshake_timeout_ms" => {
                    runtime.ws.handshake_timeout_ms = int_knob(&name, v, 1, U32)? as u64
                }
                "ws_queue_size" => runtime.ws.queue_size = int_knob(&name, v, 1, 65535)? as usize,
                "max_keepalive_requests" => {
                    runtime.limits.max_keepalive_requests = int_knob(&name, v, 1, U32)? as usize
                }
                "header_timeout_ms" => {
                    runtime.timeouts.header_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "keepalive_timeout_ms" => {
                    runtime.timeouts.keepalive_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "body_timeout_ms" => runtime.timeouts.body_ms = int_knob(&name, v, 0, U32)? as u64,
                "response_timeout_ms" => {
                    runtime.timeouts.response_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "stream_idle_timeout_ms" => {
                    runtime.timeouts.stream_idle_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "static_max_age" => static_max_age = int_knob(&name, v, 0, U32)? as u32,
                "server_header" => {
                    let s = v
                        .cast::<PyString>()
                        .map_err(|_| PyTypeError::new_err("server_header must be str"))?;
                    runtime.server_header = Some(s.to_cow()?.into_owned());
                }
                "reuse_port" => runtime.reuse_port = v.is_truthy()?,
                "shared_store" => {
                    let s = v
                        .cast::<PyString>()
                        .map_err(|_| PyTypeError::new_err("shared_store must be str"))?;
                    let url = s.to_cow()?.into_owned();
                    if !url.is_empty() {
                        viperhttp_runtime::shared_store::validate_url(&url)
                            .map_err(PyValueError::new_err)?;
                        runtime.shared_store = Some(url);
                    }
                }
                "vfs_root" => {
                    let s = v
                        .cast::<PyString>()
                        .map_err(|_| PyTypeError::new_err("vfs_root must be str"))?;
                    vfs_root = Some(s.to_cow()?.into_owned());
                }
                "https" => tls.https = v.is_truthy()?,
                "http2" => runtime.http2.enabled = v.is_truthy()?,
                // Checked on every start, even with http2=False; 0 means the default.
                "http2_max_streams" => {
                    runtime.http2.max_streams = match int_knob(&name, v, 0, 64)? {
                        0 => DEFAULT_HTTP2_MAX_STREAMS,
                        n => n as u32,
                    }
                }
                "http2_idle_timeout_ms" => {
                    runtime.http2.idle_timeout_ms = int_knob(&name, v, 0, U32)? as u64
                }
                "tls_handshake_timeout_ms" => {
                    tls.handshake_timeout_ms = Some(int_knob(&name, v, 0, U32)? as u64)
                }
                "tls_cert_pem" => tls.cert_pem = Some(pem_knob(&name, v)?),
                "tls_key_pem" => tls.key_pem = Some(pem_knob(&name, v)?),
                // `tls_cert` / `tls_key`: the original's documented spellings.
                "tls_cert_path" | "tls_cert" => tls.cert_path = Some(str_knob(&name, v)?),
                "tls_key_path" | "tls_key" => tls.key_path = Some(str_knob(&name, v)?),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unexpected keyword argument '{other}'"
                    )))
                }
            }
        }
    }
    // Worker limits (runtime.md §3.3 host checks, in this order).
    if let Some(max) = max_workers {
        if max > 256 {
            return Err(PyValueError::new_err("invalid worker limits"));
        }
    }
    if let (Some(min), Some(max)) = (min_workers, max_workers) {
        if min > max {
            return Err(PyValueError::new_err("invalid worker limits"));
        }
    }
    if let Some(t) = runtime_threads.or(max_workers) {
        runtime.threads = t as usize;
    }
    runtime.tls = tls.settings(vfs_root.as_deref())?;
    if runtime.limits.max_body_size > ipc.ring_size / 2 {
        return Err(PyValueError::new_err("max_body_size exceeds ipc ring"));
    }
    Ok(StartConfig {
        runtime,
        ipc,
        ring_wait_ms,
        vfs_root,
        static_max_age,
    })
}
