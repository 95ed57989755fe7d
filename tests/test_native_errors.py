"""Native failures raise the exception classes `viperhttp/_native.pyi` declares, all mapped in
crates/viperhttp-py/src/errors.rs, and the bridge handles backpressure as backpressure: a
warning and a dropped response, never a logged handler error (docs/internals/bridge.md,
"Native errors").

In-process for what needs no server (no server runs in the test process); everything else
inside a handler of tests/apps/native_errors_app.py over a real socket.
"""
from __future__ import annotations

import errno
import socket

import pytest

import viperhttp
from viperhttp import _native
from support.logs import wait_for_log

APP = "apps/native_errors_app.py"

#: The declared hierarchy: class -> its parent (each keeps the builtin it replaced as a base).
HIERARCHY = {
    "BackpressureError": ValueError,
    "RingFullError": _native.BackpressureError,
    "QueueFullError": _native.BackpressureError,
    "StoppingError": _native.BackpressureError,
    "ResponseError": ValueError,
    "HeadersTooLargeError": _native.ResponseError,
    "FrameTooLargeError": _native.ResponseError,
    "NotRunningError": RuntimeError,
    "WrongThreadError": RuntimeError,
    "ServerRunningError": OSError,
    "RouteError": ValueError,
    "TlsConfigError": ValueError,
    "TlsCertMissingError": _native.TlsConfigError,
}


@pytest.mark.parametrize("name,base", sorted(HIERARCHY.items()))
def test_declared_classes_exist_with_their_bases(name, base):
    cls = getattr(_native, name)
    assert cls.__bases__ == (base,)
    assert cls.__module__ == "viperhttp._native"


@pytest.mark.parametrize("call", [
    lambda: _native._send_result(1, "x"),
    lambda: _native.send_response(1, "x"),
    lambda: _native.stream_send(1, b"x"),
    lambda: _native._poll_batch(1),
    lambda: _native.ws_send(1, "x"),
    lambda: _native.wakeup_fd(),
], ids=["_send_result", "send_response", "stream_send", "_poll_batch", "ws_send", "wakeup_fd"])
def test_ipc_calls_without_a_server_raise_not_running(call):
    assert not _native.is_running()
    with pytest.raises(_native.NotRunningError, match="server not running"):
        call()


def test_route_registration_failures_raise_route_error():
    try:
        with pytest.raises(_native.RouteError, match="unsupported method"):
            _native.route_add("BREW", "/pot")
        _native.route_add("GET", "/a/{x:int}")
        with pytest.raises(_native.RouteError, match="route add failed"):
            _native.route_add("GET", "/a/{x:int}")  # duplicate method + pattern
    finally:
        viperhttp.reset()


def test_unusable_tls_material_raises_tls_config_error():
    with pytest.raises(_native.TlsConfigError):
        _native.start("127.0.0.1", 0, https=True, tls_cert_pem="not a certificate",
                      tls_key_pem="not a key")
    assert not _native.is_running()


def test_https_without_certificate_or_key_raises_tls_cert_missing_error():
    """A `ValueError` with the original's message; `app.run()` tells it apart by its class."""
    with pytest.raises(_native.TlsCertMissingError, match="^cert_pem required when https enabled$"):
        _native.start("127.0.0.1", 0, https=True)
    with pytest.raises(_native.TlsCertMissingError, match="^key_pem required when https enabled$"):
        _native.start("127.0.0.1", 0, https=True, tls_cert_pem="x")
    assert not _native.is_running()


@pytest.fixture
def errors_app(serve):
    return serve(APP)


CASES = {
    # case -> (declared class, message fragment)
    "start_while_running": ("ServerRunningError", "already running"),
    "mount_while_running": ("ServerRunningError", "server is running"),
    "worker_limits_while_running": ("ServerRunningError", "server running"),
    "off_thread": ("WrongThreadError", "off the interpreter thread"),
    "invalid_status": ("ResponseError", "invalid status code"),
    "strict_body_type": ("ResponseError", "response body must be"),
    "invalid_header": ("ResponseError", "invalid response header"),
    "headers_too_large": ("HeadersTooLargeError", "headers too large"),
    "missing_request_id": ("ResponseError", "response missing request_id"),
    "stream_data_type": ("ResponseError", "data must be"),
    "frame_too_large": ("FrameTooLargeError", "exceeds the ring"),
}


def test_each_native_failure_while_serving_raises_its_declared_class(errors_app):
    got = errors_app.client.get("/errors").json()
    assert set(got) == set(CASES)
    for case, (cls, fragment) in CASES.items():
        out = got[case]
        assert out["cls"] == cls, (case, out)
        assert fragment in out["msg"], (case, out)
        # The builtin it replaced is still a base: `except ValueError` callers keep working.
        builtin = HIERARCHY[cls] if HIERARCHY[cls] in (ValueError, RuntimeError, OSError) \
            else HIERARCHY[HIERARCHY[cls].__name__]
        assert builtin.__name__ in out["mro"], (case, out)
        if cls == "ServerRunningError":
            assert out["errno"] == errno.EBUSY, (case, out)
    # Nothing above was a handler error.
    assert "handler_error" not in errors_app.logs()


def test_backpressure_on_a_plain_response_is_a_dropped_response_not_a_handler_error(errors_app):
    r = errors_app.client.get("/backpressure/plain")
    # The bridge sends no 500 (it would meet the same full queue): the runtime's 504 answers.
    assert r.status_code == 504
    logs = wait_for_log(errors_app, "response_dropped")
    assert "response_dropped" in logs and "QueueFullError: response queue full" in logs
    assert "handler_error" not in logs and "http_worker_error" not in logs
    assert errors_app.client.get("/stats").json()["responses_dropped"] == 1
    # A real handler error is still one, and the server keeps serving.
    assert errors_app.client.get("/raises").status_code == 500
    assert "handler_error" in wait_for_log(errors_app, "handler_error")


def test_backpressure_mid_stream_ends_the_stream_without_a_stream_error(errors_app):
    with socket.create_connection(("127.0.0.1", errors_app.port), timeout=10) as s:
        s.sendall(b"GET /backpressure/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
    assert b"first " in data and b"never" not in data
    assert not data.endswith(b"0\r\n\r\n")  # aborted: no terminating chunk
    logs = wait_for_log(errors_app, "stream_dropped")
    assert "stream_dropped" in logs and "RingFullError: ipc ring full" in logs
    assert "async_stream_error" not in logs
    assert errors_app.client.get("/stats").json()["streams_active"] == 0
