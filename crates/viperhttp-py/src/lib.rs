//! `viperhttp._native`: the PyO3 extension, the only crate that touches Python.
//! This file only registers functions; each concern lives in its own module.

mod allocator;
mod bridge;
mod eager;
mod errors;
mod headers;
mod json;
mod knobs;
mod logs;
mod native_config;
mod query;
mod routes;
mod serialise;
mod server;
mod typed_params;
mod ws;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    allocator::configure();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Runtime records are queued from the start (a mount's WARN comes before run()).
    viperhttp_runtime::log_forward::install();
    // lifecycle and stats
    m.add_function(wrap_pyfunction!(server::start, m)?)?;
    m.add_function(wrap_pyfunction!(server::stop, m)?)?;
    m.add_function(wrap_pyfunction!(server::close, m)?)?;
    m.add_function(wrap_pyfunction!(server::is_running, m)?)?;
    m.add_function(wrap_pyfunction!(server::is_stopping, m)?)?;
    m.add_function(wrap_pyfunction!(server::in_flight, m)?)?;
    m.add_function(wrap_pyfunction!(server::open_connections, m)?)?;
    m.add_function(wrap_pyfunction!(server::_fail_in_flight, m)?)?;
    m.add_function(wrap_pyfunction!(server::bound_port, m)?)?;
    m.add_function(wrap_pyfunction!(server::set_python_middleware, m)?)?;
    m.add_function(wrap_pyfunction!(server::server_stats, m)?)?;
    m.add_function(wrap_pyfunction!(server::ipc_stats, m)?)?;
    m.add_function(wrap_pyfunction!(server::get_worker_limits, m)?)?;
    m.add_function(wrap_pyfunction!(server::server_stats_reset, m)?)?;
    m.add_function(wrap_pyfunction!(server::heap_stats, m)?)?;
    m.add_function(wrap_pyfunction!(server::https_status, m)?)?;
    m.add_function(wrap_pyfunction!(server::http2_status, m)?)?;
    m.add_function(wrap_pyfunction!(server::reload_tls, m)?)?;
    m.add_function(wrap_pyfunction!(server::set_worker_limits, m)?)?;
    // IPC, interpreter side
    m.add_function(wrap_pyfunction!(bridge::_poll_batch, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::poll_request, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::wait_request, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::wakeup_fd, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::is_cancelled, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_send_result, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::send_response, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::stream_send, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_stream_credit, m)?)?;
    m.add_function(wrap_pyfunction!(eager::_step_coroutine, m)?)?;
    m.add_class::<typed_params::FastParams>()?;
    m.add_function(wrap_pyfunction!(query::parse_query_into, m)?)?;
    m.add_function(wrap_pyfunction!(query::query_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(serialise::normalize, m)?)?;
    m.add_function(wrap_pyfunction!(serialise::serialize_response, m)?)?;
    m.add_function(wrap_pyfunction!(serialise::split_status_tuple, m)?)?;
    m.add_function(wrap_pyfunction!(json::json_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(json::set_json_default, m)?)?;
    // WebSocket, interpreter side
    m.add_function(wrap_pyfunction!(ws::ws_accept, m)?)?;
    m.add_function(wrap_pyfunction!(ws::ws_reject, m)?)?;
    m.add_function(wrap_pyfunction!(ws::ws_send, m)?)?;
    m.add_function(wrap_pyfunction!(ws::ws_close, m)?)?;
    m.add_function(wrap_pyfunction!(ws::_ws_credit, m)?)?;
    m.add_function(wrap_pyfunction!(ws::_ws_consumed, m)?)?;
    // routes
    m.add_function(wrap_pyfunction!(routes::route_add, m)?)?;
    m.add_function(wrap_pyfunction!(routes::route_match, m)?)?;
    m.add_function(wrap_pyfunction!(routes::routes_reset, m)?)?;
    m.add_function(wrap_pyfunction!(routes::percent_decode, m)?)?;
    m.add_function(wrap_pyfunction!(headers::first_header, m)?)?;
    m.add_function(wrap_pyfunction!(routes::router_stats, m)?)?;
    // runtime log records into Python logging
    m.add_function(wrap_pyfunction!(logs::_log_drain, m)?)?;
    m.add_function(wrap_pyfunction!(logs::_log_pending, m)?)?;
    m.add_function(wrap_pyfunction!(logs::_log_config, m)?)?;
    native_config::register(m)?;
    errors::register(m)?;
    // The runtime's `app.run()` keywords, from the one table that owns them (knobs.rs).
    m.add(
        "RUNTIME_KNOBS",
        pyo3::types::PyTuple::new(m.py(), knobs::names())?,
    )?;
    Ok(())
}
