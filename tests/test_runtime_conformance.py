"""Runtime edge cases found by a spec audit, over real sockets: reason phrases
(docs/internals/http.md#responses-written-by-the-runtime), a 1xx final status, HEAD of an empty GET,
`Connection` never lying about a close (docs/internals/http.md, docs/internals/bridge.md#start-and-stop),
streams shorter or longer than their `total_len` (docs/internals/ipc.md), the stop sequence while a sync
handler runs or a static file is being sent (docs/internals/bridge.md#start-and-stop), and every
`server_stats()` key (docs/internals/logging.md).
"""
from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from apps.bridge_support import connect_refused, get_json, wait_for, wait_for_log

APP = "apps/conformance_app.py"


@pytest.fixture
def server(serve):
    return serve(APP)


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout), return all bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            out += b"<TIMEOUT>"
        return out


def get(path: str, extra: str = "", version: str = "HTTP/1.1", method: str = "GET") -> bytes:
    return f"{method} {path} {version}\r\nHost: x\r\n{extra}\r\n".encode()


def head_and_body(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for ln in lines[1:]:
        n, _, v = ln.partition(b":")
        headers.setdefault(n.strip().lower().decode(), []).append(v.strip().decode())
    return lines[0], headers, body


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out + b"<RST>"
        if not chunk:
            return out
        out += chunk


# --- status line (docs/internals/http.md#responses-written-by-the-runtime) ----------------------------------


@pytest.mark.parametrize("code,line", [
    (200, b"HTTP/1.1 200 OK"),
    (203, b"HTTP/1.1 203 Non-Authoritative Information"),
    (299, b"HTTP/1.1 299 "),
    (599, b"HTTP/1.1 599 "),
    (999, b"HTTP/1.1 999 "),
    (418, b"HTTP/1.1 418 I'm a teapot"),
])
def test_reason_phrase_iana_or_empty(server, code, line):
    raw = exchange(server.port, get(f"/status/{code}", "Connection: close\r\n"))
    status_line, _, body = head_and_body(raw)
    assert status_line == line, raw[:120]
    assert b"<none>" not in raw
    assert body == b"x"


def test_final_1xx_status_is_500_and_logged(server):
    raw = exchange(server.port, get("/status/103", "Connection: close\r\n"))
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 500 Internal Server Error", raw[:200]
    assert body == b"Internal Server Error"
    assert headers["content-type"] == ["text/plain; charset=utf-8"]
    wait_for_log(server, "1xx status cannot be a final response")


# --- HEAD (docs/internals/framework.md#routing, docs/internals/http.md) -------------------------------


def test_head_of_empty_get_keeps_content_length_zero(server):
    _, get_headers, _ = head_and_body(exchange(server.port, get("/empty", "Connection: close\r\n")))
    raw = exchange(server.port, get("/empty", "Connection: close\r\n", method="HEAD"))
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 200 OK"
    assert get_headers["content-length"] == ["0"]
    assert headers.get("content-length") == ["0"], raw
    assert body == b""


# --- Connection header tells the truth (docs/internals/http.md) ---------------------------------------------


def test_http10_stream_of_unknown_length_says_close(server):
    raw = exchange(server.port, get("/unknown-length", "Connection: keep-alive\r\n", version="HTTP/1.0")
                   + get("/plain", "", version="HTTP/1.0"))
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.0 200 OK"
    assert headers["connection"] == ["close"], raw
    assert body == b"aaabbb"  # delimited by the close; the pipelined request is not served


def test_http10_fixed_length_keeps_alive_when_asked(server):
    raw = exchange(server.port, get("/plain", "Connection: keep-alive\r\n", version="HTTP/1.0")
                   + get("/plain", "", version="HTTP/1.0"))
    assert raw.count(b"HTTP/1.0 200 OK") == 2, raw
    assert b"Connection: keep-alive" in raw.split(b"\r\n\r\n")[0]


def test_expect_continue_rejected_without_reading_body_says_close(server):
    data = (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    raw = exchange(server.port, data)
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 404 Not Found", raw
    assert headers["connection"] == ["close"], raw
    assert b"<TIMEOUT>" not in raw  # and the server really closed


def test_expect_continue_405_from_the_native_router_says_close(server):
    # POST to a GET route: 405 from the native router, the announced body never read -> close
    data = (b"POST /status/200 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    raw = exchange(server.port, data)
    status_line, headers, _ = head_and_body(raw)
    assert status_line == b"HTTP/1.1 405 Method Not Allowed", raw
    assert headers["connection"] == ["close"], raw
    assert b"<TIMEOUT>" not in raw


def test_expect_continue_body_read_by_python_keeps_alive(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        s.sendall(b"abc")
        raw = b""
        while b"abc" not in raw:
            chunk = s.recv(65536)
            assert chunk, raw
            raw += chunk
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 200 OK" and body == b"abc", raw
    assert headers["connection"] == ["keep-alive"], raw


# --- streams and total_len (docs/internals/ipc.md) ----------------------------------------------------------


def test_stream_shorter_than_total_len_delivers_every_byte_then_closes(server):
    for _ in range(8):
        raw = exchange(server.port, get("/short"))
        status_line, headers, body = head_and_body(raw)
        assert status_line == b"HTTP/1.1 200 OK", raw[:100]
        assert headers["content-length"] == ["20"]
        assert body == b"abcd" * 3, raw  # a short body, every produced byte, then EOF
    wait_for_log(server, "stream ended short of total_len")


def test_stream_longer_than_total_len_is_cut_and_connection_closed(server):
    raw = exchange(server.port, get("/long") + get("/plain"))
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 200 OK"
    assert headers["content-length"] == ["5"]
    assert body == b"abcde", raw  # exactly total_len bytes, nothing after: not the pipelined answer
    assert b"<TIMEOUT>" not in raw, "connection left open after a cut response"
    wait_for_log(server, "longer than total_len")


# --- stats (docs/internals/logging.md) ----------------------------------------------------------------------

SPEC_SERVER_STATS_KEYS = """accepts_total accepts_enqueued accepts_rejected accept_queue_used accept_queue_peak
workers_active workers_started workers_limit_min workers_limit_max workers_recv_psram workers_recv_ram
ws_handoffs ws_tasks_active requests_started requests_handled request_errors ipc_req_ring_alloc_fail
ipc_req_queue_push_fail backpressure_503_sent ipc_pending_dropped ipc_pending_peak ipc_pending_used
ipc_wait_timeouts stream_chunks_sent scheduler_yields state_read_req_hits state_wait_ipc_hits
state_stream_hits event_loop_enabled event_conn_active event_conn_peak event_conn_dropped
event_state_accept_hits event_state_dispatched_hits event_state_closed_hits https_enabled
https_handshake_ok https_handshake_fail http2_enabled http2_preface_seen http2_goaway_sent http2_rst_sent
http2_err_protocol http2_err_flow_control http2_err_frame_size http2_err_compression
http2_err_refused_stream http2_err_stream_closed http2_err_internal http2_err_http11_required
http2_task_fallback_used http2_psram_slots mp_stream_backpressure_yield_hits
mp_stream_backpressure_queue_hits mp_stream_backpressure_ring_hits mp_stream_backpressure_delay_ms_total
parse_errors static_served static_not_modified cors_preflight cors_forbidden trusted_host_rejected
ratelimit_rejected connections_open log_dropped ratelimit_store_errors""".split()


def test_server_stats_has_every_spec_key(server):
    stats = get_json(server.port, "/stats")
    missing = sorted(set(SPEC_SERVER_STATS_KEYS) - set(stats))
    assert not missing, missing
    assert stats["workers_limit_max"] >= stats["workers_limit_min"] >= 1
    assert stats["event_loop_enabled"] is True


# --- stop sequence (docs/internals/bridge.md#start-and-stop) ------------------------------------------------


def test_sigterm_during_sync_handler_closes_listener_at_once(serve):
    srv = serve(APP)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(get("/slow?ms=4000"))
    time.sleep(0.3)  # the sync handler now holds the interpreter for ~3.7 s more
    srv.proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    # Before the fix the listener stayed open until the handler returned (~3.7 s here).
    assert wait_for(lambda: connect_refused(srv.port), timeout=2.5), "listener still open during the drain"
    refused_after = time.monotonic() - t0
    raw = read_all(sock)  # the response says close: read to EOF
    sock.close()
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 200 OK" and body == b"slow done", raw
    assert headers["connection"] == ["close"], raw
    assert refused_after < 2.5
    assert srv.proc.wait(timeout=15) == 0


def test_response_in_flight_at_stop_says_only_close(serve):
    srv = serve(APP)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(get("/aslow?ms=800"))
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    raw = read_all(sock)  # the response says close: read to EOF
    sock.close()
    _, headers, body = head_and_body(raw)
    assert body == b"aslow done"
    assert headers["connection"] == ["close"], raw
    assert srv.proc.wait(timeout=15) == 0


def test_static_transfer_in_progress_finishes_during_drain(serve, tmp_path):
    root = tmp_path / "static"
    root.mkdir()
    size = 24 * 1024 * 1024
    (root / "big.bin").write_bytes(os.urandom(1024) * (size // 1024))
    srv = serve(APP, env={"STATIC_DIR": str(root)})
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(get("/static/big.bin"))
    got = sock.recv(65536)  # the transfer has begun; now read slowly
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    sock.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"200 OK" in head.split(b"\r\n")[0]
    assert len(body) == size, f"static transfer cut at stop: {len(body)} of {size} bytes"
    assert srv.proc.wait(timeout=15) == 0


# --- sys.exit in app code = interpreter death (docs/internals/bridge.md#start-and-stop) ---------------------


def test_sys_exit_in_a_handler_fails_in_flight_with_503_and_exits_with_its_status(serve):
    srv = serve(APP)
    waiting = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    waiting.sendall(get("/aslow?ms=3000"))
    time.sleep(0.3)  # /aslow is in flight in a worker
    raw = exchange(srv.port, get("/exit/3"))
    status_line, headers, body = head_and_body(raw)
    assert status_line == b"HTTP/1.1 503 Service Unavailable", raw
    assert headers["connection"] == ["close"] and body == b"Service Unavailable"
    other = read_all(waiting)
    waiting.close()
    status_line, headers, body = head_and_body(other)
    assert status_line == b"HTTP/1.1 503 Service Unavailable", other
    assert headers["connection"] == ["close"] and body == b"Service Unavailable"
    assert srv.proc.wait(timeout=10) == 3
    logs = srv.logs()
    assert "interpreter_exit" in logs and "shutdown hook ran" in logs
    assert connect_refused(srv.port)


def test_sys_exit_with_a_message_in_an_async_handler_exits_1(serve):
    srv = serve(APP)
    raw = exchange(srv.port, get("/aexit"))
    assert raw.startswith(b"HTTP/1.1 503 Service Unavailable"), raw
    assert srv.proc.wait(timeout=10) == 1
    assert "fatal: configuration gone" in srv.logs()
