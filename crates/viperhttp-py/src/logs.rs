//! Runtime log records into Python `logging` (docs/internals/logging.md). The runtime
//! queues formatted records (`viperhttp_runtime::log_forward`); the bridge
//! calls these on its own thread to drain them, so no runtime thread ever
//! waits for the GIL to log.

use pyo3::prelude::*;
use viperhttp_runtime::log_forward;

/// `_log_drain(max)` → `[(level, logger_name, message), ...]`, oldest first.
/// `level` is the `set_log_level` number (1 error … 5 trace); the logger name
/// is the target under `viperhttp` (see [`logger_name`]).
#[pyfunction]
pub fn _log_drain(max: usize) -> Vec<(u8, String, String)> {
    log_forward::queue()
        .drain(max)
        .into_iter()
        .map(|r| (r.level, logger_name(r.target), r.message))
        .collect()
}

/// `viperhttp::access` → `viperhttp.access`; a module path of the runtime crate
/// (`viperhttp_runtime::static_files`, the default target) → `viperhttp.static_files`,
/// so every record lands under the `viperhttp` logger.
fn logger_name(target: &str) -> String {
    let rest = target
        .strip_prefix("viperhttp_runtime")
        .or_else(|| target.strip_prefix("viperhttp"));
    match rest {
        Some("") => "viperhttp".to_owned(),
        Some(rest) => format!("viperhttp{}", rest.replace("::", ".")),
        None => target.replace("::", "."),
    }
}

/// `_log_pending()` → whether records wait (one atomic load).
#[pyfunction]
pub fn _log_pending() -> bool {
    log_forward::queue().has_pending()
}

/// `_log_config(level, access)`: the level forwarded (0 off … 5 trace) and
/// whether the per-response access line is formatted at all.
#[pyfunction]
pub fn _log_config(level: u8, access: bool) {
    log_forward::install();
    log_forward::set_max_level(level);
    log_forward::set_access_enabled(access);
}
