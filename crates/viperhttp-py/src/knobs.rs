//! `app.run()` runtime knobs → `RuntimeConfig` + `IpcConfig`: one table
//! ([`KNOBS`]) owns every name, its check and the field it sets, and each knob
//! is named as its Rust field (docs/internals/architecture.md, "Knobs"). Unlike the `bridge_*` knobs these never clamp:
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
    /// Python-side ring/queue wait bound.
    pub ipc_ring_wait_ms: u64,
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

/// `tls_cert_path`, also as the original's spelling `tls_cert`.
fn set_tls_cert_path(k: &mut Knobs, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    k.tls.tls_cert_path = Some(str_knob(name, v)?);
    Ok(())
}

/// `tls_key_path`, also as the original's spelling `tls_key`.
fn set_tls_key_path(k: &mut Knobs, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    k.tls.tls_key_path = Some(str_knob(name, v)?);
    Ok(())
}

/// The TLS keywords as given (docs/internals/tls-http2.md, "Settings").
#[derive(Default)]
struct TlsKnobs {
    https: bool,
    tls_cert_pem: Option<Vec<u8>>,
    tls_key_pem: Option<Vec<u8>>,
    tls_cert_path: Option<String>,
    tls_key_path: Option<String>,
    tls_handshake_timeout_ms: Option<u64>,
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
                (None, None) => Err(crate::errors::TlsCertMissingError::new_err(msg)),
            };
        let cert = source(
            self.tls_cert_pem,
            self.tls_cert_path,
            "cert_pem required when https enabled",
        )?;
        let key = source(
            self.tls_key_pem,
            self.tls_key_path,
            "key_pem required when https enabled",
        )?;
        Ok(Some(TlsSettings {
            cert,
            key,
            tls_handshake_timeout_ms: self
                .tls_handshake_timeout_ms
                .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT_MS),
        }))
    }
}

/// The knobs as they are read: where each lands, plus the few that need a
/// final check together (worker limits, TLS).
struct Knobs {
    runtime: RuntimeConfig,
    ipc: IpcConfig,
    ipc_ring_wait_ms: u64,
    vfs_root: Option<String>,
    static_max_age: u32,
    min_workers: Option<i64>,
    max_workers: Option<i64>,
    runtime_threads: Option<i64>,
    tls: TlsKnobs,
}

/// How one keyword's value is checked and stored.
enum Rule {
    /// An `int` (not `bool`) in `min..=max`, else `TypeError("<name> must be int")` /
    /// `ValueError("<name> out of range")`; `set` stores it.
    Int {
        min: i64,
        max: i64,
        set: fn(&mut Knobs, i64),
    },
    /// A value with its own conversion (str, PEM, truthiness).
    Other(fn(&mut Knobs, &str, &Bound<'_, PyAny>) -> PyResult<()>),
}

/// One `app.run()` keyword owned by the runtime.
struct Knob {
    name: &'static str,
    rule: Rule,
}

/// `int!(runtime.timeouts => header_timeout_ms, 0, U32)`: an int knob whose name is the
/// name of the Rust field it sets, so the two cannot drift apart.
macro_rules! int {
    ($($p:ident).+ => $field:ident, $min:expr, $max:expr) => {
        Knob {
            name: stringify!($field),
            rule: Rule::Int {
                min: $min,
                max: $max,
                set: |k, v| k.$($p.)+$field = v as _,
            },
        }
    };
    ($field:ident, $min:expr, $max:expr) => {
        Knob {
            name: stringify!($field),
            rule: Rule::Int {
                min: $min,
                max: $max,
                set: |k, v| k.$field = v as _,
            },
        }
    };
}

/// The same for a knob whose value is kept as given (`Option<i64>`), checked later.
macro_rules! int_opt {
    ($field:ident, $min:expr, $max:expr) => {
        Knob {
            name: stringify!($field),
            rule: Rule::Int {
                min: $min,
                max: $max,
                set: |k, v| k.$field = Some(v),
            },
        }
    };
}

const U32: i64 = u32::MAX as i64;
/// The largest `ipc_ring_size` (each ring).
const MAX_RING: usize = 1 << 30;

/// Every runtime knob of `app.run()`: the one list (docs/internals/architecture.md,
/// "Knobs"). `viperhttp_bridge.knobs` reads the names from `_native.RUNTIME_KNOBS`.
static KNOBS: &[Knob] = &[
    int!(ipc => ipc_ring_size, 64 * 1024, MAX_RING as i64),
    int!(ipc => ipc_request_queue_len, 1, 65535),
    int!(ipc => ipc_response_queue_len, 1, 65535),
    int!(ipc_ring_wait_ms, 0, U32),
    int!(runtime.timeouts => ipc_enqueue_retry_ms, 0, U32),
    int_opt!(runtime_threads, 1, 65535),
    int_opt!(min_workers, 1, 65535),
    int_opt!(max_workers, 1, 65535),
    int!(runtime.limits => max_uri_len, 1, 65535),
    int!(runtime.limits => max_headers, 1, 1000),
    int!(runtime.limits => max_header_size, 1, 65535),
    int!(runtime.limits => max_body_size, 1, U32),
    int!(runtime.limits => max_connections, 1, 1 << 20),
    int!(runtime.limits => max_body_memory, 1, 1 << 40),
    int!(runtime.limits => max_keepalive_requests, 1, U32),
    int!(runtime.timeouts => min_body_rate, 0, U32),
    int!(runtime.timeouts => send_timeout_ms, 0, U32),
    int!(runtime.timeouts => header_timeout_ms, 0, U32),
    int!(runtime.timeouts => keepalive_timeout_ms, 0, U32),
    int!(runtime.timeouts => body_timeout_ms, 0, U32),
    int!(runtime.timeouts => response_timeout_ms, 0, U32),
    int!(runtime.timeouts => stream_idle_timeout_ms, 0, U32),
    int!(runtime.ws => ws_max_message_size, 1, 1 << 30),
    int!(runtime.ws => ws_ping_interval_ms, 0, U32),
    int!(runtime.ws => ws_pong_timeout_ms, 1, U32),
    int!(runtime.ws => ws_handshake_timeout_ms, 1, U32),
    int!(runtime.ws => ws_queue_size, 1, 65535),
    int!(static_max_age, 0, U32),
    Knob {
        name: "server_header",
        rule: Rule::Other(|k, name, v| {
            k.runtime.server_header = Some(str_knob(name, v)?);
            Ok(())
        }),
    },
    Knob {
        name: "reuse_port",
        rule: Rule::Other(|k, _, v| {
            k.runtime.reuse_port = v.is_truthy()?;
            Ok(())
        }),
    },
    Knob {
        name: "shared_store",
        rule: Rule::Other(|k, name, v| {
            let url = str_knob(name, v)?;
            if !url.is_empty() {
                viperhttp_runtime::shared_store::validate_url(&url)
                    .map_err(PyValueError::new_err)?;
                k.runtime.shared_store = Some(url);
            }
            Ok(())
        }),
    },
    Knob {
        name: "forwarded_allow_ips",
        rule: Rule::Other(|k, name, v| {
            // A comma-separated str or a list of str: addresses, CIDR blocks or "*".
            let list = if let Ok(text) = v.extract::<String>() {
                text
            } else if let Ok(items) = v.extract::<Vec<String>>() {
                items.join(",")
            } else {
                return Err(PyTypeError::new_err(format!(
                    "{name} must be str or a list of str"
                )));
            };
            let allow = viperhttp_runtime::forwarded::ForwardedAllow::parse(&list)
                .map_err(PyValueError::new_err)?;
            k.runtime.forwarded_allow_ips = (!allow.is_empty()).then(|| std::sync::Arc::new(allow));
            Ok(())
        }),
    },
    Knob {
        name: "vfs_root",
        rule: Rule::Other(|k, name, v| {
            k.vfs_root = Some(str_knob(name, v)?);
            Ok(())
        }),
    },
    Knob {
        name: "https",
        rule: Rule::Other(|k, _, v| {
            k.tls.https = v.is_truthy()?;
            Ok(())
        }),
    },
    Knob {
        name: "http2",
        rule: Rule::Other(|k, _, v| {
            k.runtime.http2.http2 = v.is_truthy()?;
            Ok(())
        }),
    },
    // Checked on every start, even with http2=False; 0 means the default.
    Knob {
        name: "http2_max_streams",
        rule: Rule::Int {
            min: 0,
            max: 64,
            set: |k, v| {
                k.runtime.http2.http2_max_streams = match v {
                    0 => DEFAULT_HTTP2_MAX_STREAMS,
                    n => n as u32,
                }
            },
        },
    },
    int!(runtime.http2 => http2_idle_timeout_ms, 0, U32),
    Knob {
        name: "tls_handshake_timeout_ms",
        rule: Rule::Int {
            min: 0,
            max: U32,
            set: |k, v| k.tls.tls_handshake_timeout_ms = Some(v as u64),
        },
    },
    Knob {
        name: "tls_cert_pem",
        rule: Rule::Other(|k, name, v| {
            k.tls.tls_cert_pem = Some(pem_knob(name, v)?);
            Ok(())
        }),
    },
    Knob {
        name: "tls_key_pem",
        rule: Rule::Other(|k, name, v| {
            k.tls.tls_key_pem = Some(pem_knob(name, v)?);
            Ok(())
        }),
    },
    Knob {
        name: "tls_cert_path",
        rule: Rule::Other(set_tls_cert_path),
    },
    Knob {
        name: "tls_key_path",
        rule: Rule::Other(set_tls_key_path),
    },
    // `tls_cert` / `tls_key`: the original's documented spellings of the two above.
    Knob {
        name: "tls_cert",
        rule: Rule::Other(set_tls_cert_path),
    },
    Knob {
        name: "tls_key",
        rule: Rule::Other(set_tls_key_path),
    },
];

/// The names of every runtime knob, in table order (`_native.RUNTIME_KNOBS`).
pub fn names() -> impl ExactSizeIterator<Item = &'static str> {
    KNOBS.iter().map(|k| k.name)
}

/// Build the start configuration from `host`, `port` and the runtime keywords.
pub fn build(host: &str, port: i64, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<StartConfig> {
    let mut k = Knobs {
        runtime: RuntimeConfig::default(),
        ipc: IpcConfig::default(),
        ipc_ring_wait_ms: 10_000,
        vfs_root: None,
        static_max_age: 300,
        min_workers: None,
        max_workers: None,
        runtime_threads: None,
        tls: TlsKnobs::default(),
    };
    if !(0..=65535).contains(&port) {
        return Err(PyValueError::new_err("invalid port"));
    }
    k.runtime.port = port as u16;
    k.runtime.host = host
        .parse::<IpAddr>()
        .or_else(|_| {
            if host == "localhost" {
                Ok(IpAddr::from([127, 0, 0, 1]))
            } else {
                Err(())
            }
        })
        .map_err(|_| PyValueError::new_err(format!("invalid host: {host}")))?;
    let mut ring_given = false;
    if let Some(kw) = kwargs {
        for (key, value) in kw.iter() {
            let name: String = key.extract()?;
            if value.is_none() {
                continue; // None = the default
            }
            ring_given |= name == "ipc_ring_size";
            let Some(knob) = KNOBS.iter().find(|kn| kn.name == name) else {
                return Err(PyTypeError::new_err(format!(
                    "unexpected keyword argument '{name}'"
                )));
            };
            match knob.rule {
                Rule::Int { min, max, set } => set(&mut k, int_knob(&name, &value, min, max)?),
                Rule::Other(set) => set(&mut k, &name, &value)?,
            }
        }
    }
    // Worker limits, checked in this order (docs/internals/architecture.md#knobs).
    if let Some(max) = k.max_workers {
        if max > 256 {
            return Err(PyValueError::new_err("invalid worker limits"));
        }
    }
    if let (Some(min), Some(max)) = (k.min_workers, k.max_workers) {
        if min > max {
            return Err(PyValueError::new_err("invalid worker limits"));
        }
    }
    let mut runtime = k.runtime;
    let mut ipc = k.ipc;
    // `max_workers` is the original's name for the runtime threads; `runtime_threads` wins.
    if let Some(t) = k.runtime_threads.or(k.max_workers) {
        runtime.runtime_threads = t as usize;
    }
    runtime.tls = k.tls.settings(k.vfs_root.as_deref())?;
    // A request record carries the whole body, and a ring must hold two of the largest. The
    // rings grow with a larger `max_body_size` unless their size was given (decision,
    // docs/internals/http.md "Limits"): they are mapped, and only written pages are resident.
    let needed = runtime.limits.max_body_size.saturating_mul(2);
    if needed > ipc.ipc_ring_size {
        if ring_given || needed > MAX_RING {
            return Err(PyValueError::new_err("max_body_size exceeds ipc ring"));
        }
        ipc.ipc_ring_size = needed;
    }
    Ok(StartConfig {
        runtime,
        ipc,
        ipc_ring_wait_ms: k.ipc_ring_wait_ms,
        vfs_root: k.vfs_root,
        static_max_age: k.static_max_age,
    })
}
