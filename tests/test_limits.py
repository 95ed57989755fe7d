"""Request limits and timeouts, end to end over raw sockets (docs/internals/http.md).

Each limit is probed at its boundary (accepted) and one past it (rejected). Timeout tests use
small values (300–500 ms) so the whole file stays fast.
"""
from __future__ import annotations

import json
import socket
import time
from typing import List

import pytest

from support.http1 import RawConn, RawResponse

APP = "apps/native_app.py"
TEXT = "text/plain; charset=utf-8"


def start(serve, **run):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps({"run": run})})


def assert_error_and_closed(conn: RawConn, resp: RawResponse, status: int, reason: str) -> None:
    """A native error that ends the connection (docs/internals/http.md)."""
    assert resp.status == status, resp
    assert resp.reason == reason
    assert resp.body == reason.encode()
    assert resp.header("content-type") == TEXT
    assert (resp.header("connection") or "").lower() == "close", resp.headers
    assert conn.closed_by_peer(), "connection left open after the error"


def hello_with_length(total: int) -> bytes:
    """A request target for /py/hello of exactly `total` bytes (the query pads it)."""
    base = "/py/hello?pad="
    assert total >= len(base)
    return (base + "x" * (total - len(base))).encode()


# --- max_uri_len → 414 ------------------------------------------------------------------------


def test_uri_at_limit_is_served(serve):
    server = start(serve, max_uri_len=100)
    target = hello_with_length(100)
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n\r\n")
    assert resp.status == 200, resp
    assert resp.body == b"hello from python"


def test_uri_one_past_limit_is_414(serve):
    server = start(serve, max_uri_len=100)
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET " + hello_with_length(101) + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        assert_error_and_closed(conn, resp, 414, "URI Too Long")


def test_default_uri_limit_8192(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET " + hello_with_length(8192) + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        assert resp.status == 200, resp
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET " + hello_with_length(8193) + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        assert_error_and_closed(conn, resp, 414, "URI Too Long")


def test_uri_limit_applies_to_static_and_unknown_paths(serve):
    server = start(serve, max_uri_len=64)
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET /" + b"n" * 64 + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        assert_error_and_closed(conn, resp, 414, "URI Too Long")


# --- max_headers (count) → 431 -----------------------------------------------------------------


def headers_request(count: int) -> bytes:
    """GET /py/hello with exactly `count` header lines (Host included)."""
    lines = ["Host: test"] + [f"X-H{i}: v" for i in range(count - 1)]
    return ("GET /py/hello HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()


def test_header_count_at_limit_is_served(serve):
    server = start(serve, max_headers=10)
    with RawConn(server.connect()) as conn:
        resp = conn.request(headers_request(10))
    assert resp.status == 200, resp


def test_header_count_one_past_limit_is_431(serve):
    server = start(serve, max_headers=10)
    with RawConn(server.connect()) as conn:
        resp = conn.request(headers_request(11))
        assert_error_and_closed(conn, resp, 431, "Request Header Fields Too Large")


def test_default_header_count_100(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        assert conn.request(headers_request(100)).status == 200
    with RawConn(server.connect()) as conn:
        resp = conn.request(headers_request(101))
        assert_error_and_closed(conn, resp, 431, "Request Header Fields Too Large")


# --- max_header_size (sum of header lines) → 431 ----------------------------------------------


def sized_headers_request(total: int) -> bytes:
    """GET /py/hello whose header lines (without CRLFs) sum to exactly `total` bytes."""
    host = "Host: test"
    pad_name = "X-Pad: "
    value_len = total - len(host) - len(pad_name)
    assert value_len >= 1
    lines = [host, pad_name + "p" * value_len]
    assert sum(len(ln) for ln in lines) == total
    return ("GET /py/hello HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()


def test_header_size_at_limit_is_served(serve):
    server = start(serve, max_header_size=300)
    with RawConn(server.connect()) as conn:
        resp = conn.request(sized_headers_request(300))
    assert resp.status == 200, resp


def test_header_size_one_past_limit_is_431(serve):
    server = start(serve, max_header_size=300)
    with RawConn(server.connect()) as conn:
        resp = conn.request(sized_headers_request(301))
        assert_error_and_closed(conn, resp, 431, "Request Header Fields Too Large")


def test_header_size_counts_all_lines(serve):
    server = start(serve, max_header_size=300)
    lines = ["Host: test"] + [f"X-{i:02d}: " + "v" * 20 for i in range(12)]  # 10 + 12 × 27 = 334
    with RawConn(server.connect()) as conn:
        resp = conn.request(("GET /py/hello HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode())
        assert_error_and_closed(conn, resp, 431, "Request Header Fields Too Large")


def test_default_header_size_16384(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        assert conn.request(sized_headers_request(16384)).status == 200
    with RawConn(server.connect()) as conn:
        resp = conn.request(sized_headers_request(16385))
        assert_error_and_closed(conn, resp, 431, "Request Header Fields Too Large")


# --- max_body_size → 413 -----------------------------------------------------------------------


def test_body_at_limit_is_echoed(serve):
    server = start(serve, max_body_size=1000)
    body = bytes(range(250)) * 4
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + body)
    assert resp.status == 200
    assert resp.body == body


def test_a_body_limit_above_half_the_default_ring_grows_the_rings(serve):
    """`max_body_size=12 MiB` with the default 8 MiB rings: the rings follow it (a record holds
    the whole body), so a 10 MiB body is served instead of a start-up error."""
    server = start(serve, max_body_size=12 * 1024 * 1024)
    body = b"x" * (10 * 1024 * 1024)
    r = server.client.post("/py/echo", content=body, timeout=60)
    assert r.status_code == 200 and len(r.content) == len(body)


def test_a_body_limit_a_given_ring_cannot_hold_is_refused():
    from viperhttp import _native

    with pytest.raises(ValueError, match="^max_body_size exceeds ipc ring$"):
        _native.start(host="127.0.0.1", port=0, max_body_size=1024 * 1024, ipc_ring_size=1024 * 1024)
    with pytest.raises(ValueError, match="^max_body_size exceeds ipc ring$"):
        _native.start(host="127.0.0.1", port=0, max_body_size=(1 << 29) + 1)  # 2x is past the 1 GiB cap


def test_content_length_one_past_limit_is_413_before_reading(serve):
    server = start(serve, max_body_size=1000)
    with RawConn(server.connect(), timeout=5) as conn:
        # the body is never sent: the answer must come from the declared length alone
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1001\r\n\r\n")
        assert resp.head_bytes.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
        assert_error_and_closed(conn, resp, 413, "Payload Too Large")
    assert json.loads(_get(server, "/__seen").body) == []


def _get(server, target: str) -> RawResponse:
    with RawConn(server.connect()) as conn:
        return conn.request(f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())


def chunked(parts: List[bytes], end: bool = True) -> bytes:
    out = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts)
    return out + (b"0\r\n\r\n" if end else b"")


def test_chunked_body_at_limit_is_echoed(serve):
    server = start(serve, max_body_size=1000)
    parts = [b"a" * 600, b"b" * 400]
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + chunked(parts))
    assert resp.status == 200
    assert resp.body == b"".join(parts)


def test_chunked_body_past_limit_is_413_while_reading(serve):
    server = start(serve, max_body_size=1000)
    with RawConn(server.connect(), timeout=5) as conn:
        # 1001 bytes and no terminating chunk: the 413 must come while the body is being read
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + chunked([b"a" * 600, b"b" * 401], end=False))
        assert_error_and_closed(conn, resp, 413, "Payload Too Large")
    assert json.loads(_get(server, "/__seen").body) == []


CHUNKED_POST = b"POST /py/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_chunk_of_exactly_the_remaining_budget_is_accepted(serve):
    # Sizes announced up front are held to what max_body_size leaves: 1000 in one chunk,
    # and 400 after 600, are exactly the budget.
    server = start(serve, max_body_size=1000, body_timeout_ms=30000)
    for parts in ([b"x" * 1000], [b"a" * 600, b"b" * 400]):
        with RawConn(server.connect(), timeout=5) as conn:
            resp = conn.request(CHUNKED_POST + chunked(parts))
        assert resp.status == 200, resp
        assert resp.body == b"".join(parts)


@pytest.mark.parametrize("body", [
    pytest.param(b"fffffffff\r\n", id="size-line-alone-past-1MiB"),
    pytest.param(b"100001\r\n", id="one-past-1MiB"),
    pytest.param(chunked([b"a" * 600], end=False) + b"ffda9\r\n", id="one-past-what-600-left"),
])
def test_chunk_size_past_the_remaining_budget_is_413_at_once(serve, body):
    # The chunk's data never comes: the 413 must come from its size line alone. The body
    # timeout (30 s) is far past the client's read timeout (5 s), so an answer proves the
    # server did not wait for it.
    server = start(serve, max_body_size=1024 * 1024, body_timeout_ms=30000)
    with RawConn(server.connect(), timeout=5) as conn:
        resp = conn.request(CHUNKED_POST + body)
        assert_error_and_closed(conn, resp, 413, "Payload Too Large")
    assert json.loads(_get(server, "/__seen").body) == []


def test_expect_100_continue(serve):
    server = start(serve, max_body_size=1000)
    with RawConn(server.connect(), timeout=5) as conn:
        conn.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = conn.read_response()
        assert interim.status == 100, interim
        conn.send(b"hello")
        resp = conn.read_response()
        assert resp.status == 200
        assert resp.body == b"hello"
    with RawConn(server.connect(), timeout=5) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
                            b"Content-Length: 1001\r\n\r\n")
        assert resp.status == 413, "over the limit: 413 without 100 Continue"


# --- max_connections ---------------------------------------------------------------------------


def test_max_connections_extra_connection_waits_in_backlog(serve):
    server = start(serve, max_connections=4, header_timeout_ms=20000, keepalive_timeout_ms=20000,
                   body_timeout_ms=20000, min_body_rate=0)
    held = [server.connect() for _ in range(4)]
    extra = None
    try:
        # Each of the four has a request in progress (a body still to come), so none is idle
        # and none may be closed to make room (idle ones are: tests/test_hardening.py).
        for s in held:
            s.sendall(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.3)  # let the runtime accept the four
        extra = server.connect()  # the kernel completes the handshake; the runtime does not accept
        extra.sendall(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
        extra.settimeout(0.8)
        with pytest.raises(socket.timeout):
            data = extra.recv(65536)
            pytest.fail(f"the 5th connection was served while 4 were open: {data[:80]!r}")
        held.pop().close()
        t0 = time.monotonic()
        with RawConn(extra, timeout=5) as conn:
            resp = conn.read_response()
        assert resp.status == 200
        assert resp.body == b"hello from python"
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in held:
            s.close()
        if extra is not None:
            extra.close()


def test_keepalive_dropped_near_max_connections(serve):
    """Keep-alive is dropped when open connections ≥ 90 % of max_connections (docs/internals/http.md)."""
    server = start(serve, max_connections=10, header_timeout_ms=20000, keepalive_timeout_ms=20000)
    held = [server.connect() for _ in range(7)]
    try:
        with RawConn(server.connect()) as conn:
            time.sleep(0.2)
            resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")  # 8 open < 9
            assert (resp.header("connection") or "").lower() == "keep-alive"
            held.append(server.connect())
            time.sleep(0.2)
            resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")  # 9 open ≥ 9
            assert resp.status == 200
            assert (resp.header("connection") or "").lower() == "close", resp.headers
            assert conn.closed_by_peer()
    finally:
        for s in held:
            s.close()


# --- max_keepalive_requests --------------------------------------------------------------------


def test_max_keepalive_requests_closes_on_the_last(serve):
    server = start(serve, max_keepalive_requests=3)
    with RawConn(server.connect()) as conn:
        for i in range(2):
            resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
            assert resp.status == 200
            assert (resp.header("connection") or "").lower() == "keep-alive", i
        resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
        assert resp.status == 200
        assert (resp.header("connection") or "").lower() == "close"
        assert conn.closed_by_peer()


def test_keepalive_timeout_zero_turns_keep_alive_off(serve):
    server = start(serve, keepalive_timeout_ms=0)
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
        assert resp.status == 200
        assert (resp.header("connection") or "").lower() == "close"
        assert conn.closed_by_peer()


# --- header_timeout_ms -------------------------------------------------------------------------


def test_slowloris_partial_head_gets_408_and_close(serve):
    server = start(serve, header_timeout_ms=400)
    with RawConn(server.connect(), timeout=5) as conn:
        t0 = time.monotonic()
        conn.send(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n")
        got = b""
        conn.sock.settimeout(0.1)
        # trickle a header byte every 100 ms: progress must not extend the head deadline
        for i in range(30):
            try:
                conn.sock.sendall(b"X-Slow-%d: 1\r\n" % i)
            except OSError:
                break
            try:
                chunk = conn.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            got += chunk
            if not chunk or b"\r\n\r\n" in got:
                break
        elapsed = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), f"got {got!r} after {elapsed:.2f}s"
    assert b"\r\n\r\nRequest Timeout" in got or got.endswith(b"\r\n\r\n"), got
    assert b"connection: close" in got.lower()
    assert 0.3 <= elapsed < 1.5, elapsed


def test_partial_head_without_progress_gets_408(serve):
    server = start(serve, header_timeout_ms=400)
    with RawConn(server.connect(), timeout=5) as conn:
        t0 = time.monotonic()
        conn.send(b"GET /py/hel")
        resp = conn.read_response()
        elapsed = time.monotonic() - t0
        assert_error_and_closed(conn, resp, 408, "Request Timeout")
    assert 0.3 <= elapsed < 1.5, elapsed


def test_idle_new_connection_closed_silently(serve):
    server = start(serve, header_timeout_ms=400)
    with server.connect() as sock:
        sock.settimeout(5)
        t0 = time.monotonic()
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - t0
    assert data == b"", f"an idle connection got bytes: {data!r}"
    assert 0.3 <= elapsed < 1.5, elapsed


# --- keepalive_timeout_ms ----------------------------------------------------------------------


def test_idle_keepalive_connection_closed_silently(serve):
    server = start(serve, keepalive_timeout_ms=400, header_timeout_ms=3000)
    with RawConn(server.connect(), timeout=5) as conn:
        resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
        assert (resp.header("connection") or "").lower() == "keep-alive"
        time.sleep(0.15)  # inside the window: still usable
        assert conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n").status == 200
        t0 = time.monotonic()
        assert conn.closed_by_peer(timeout=5), "idle kept-alive connection not closed"
        elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5, f"closed after {elapsed:.2f}s, keepalive_timeout_ms=400"


def test_keepalive_then_slow_head_gets_408(serve):
    # keep-alive wait (long) ends at the first byte; then header_timeout_ms runs for the head
    server = start(serve, keepalive_timeout_ms=3000, header_timeout_ms=400)
    with RawConn(server.connect(), timeout=5) as conn:
        assert conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n").status == 200
        time.sleep(0.6)  # longer than header_timeout_ms, shorter than keepalive_timeout_ms
        t0 = time.monotonic()
        conn.send(b"GET /py/hel")
        resp = conn.read_response()
        elapsed = time.monotonic() - t0
        assert_error_and_closed(conn, resp, 408, "Request Timeout")
    assert 0.3 <= elapsed < 1.5, elapsed


# --- body_timeout_ms ---------------------------------------------------------------------------


def test_stalled_body_gets_408_and_close(serve):
    server = start(serve, body_timeout_ms=400)
    with RawConn(server.connect(), timeout=5) as conn:
        t0 = time.monotonic()
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello")
        elapsed = time.monotonic() - t0
        assert_error_and_closed(conn, resp, 408, "Request Timeout")
    assert 0.3 <= elapsed < 1.5, elapsed
    assert json.loads(_get(server, "/__seen").body) == []


def test_stalled_chunked_body_gets_408(serve):
    server = start(serve, body_timeout_ms=400)
    with RawConn(server.connect(), timeout=5) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"5\r\nhello\r\n")
        assert_error_and_closed(conn, resp, 408, "Request Timeout")


def test_body_timeout_restarts_on_progress(serve):
    # min_body_rate off: this is the idle rule alone (the rate rule: tests/test_hardening.py).
    server = start(serve, body_timeout_ms=400, min_body_rate=0)
    with RawConn(server.connect(), timeout=5) as conn:
        conn.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 6\r\n\r\n")
        for b in b"abcdef":  # 6 × 200 ms = 1.2 s in all, never 400 ms without progress
            time.sleep(0.2)
            conn.send(bytes([b]))
        resp = conn.read_response()
    assert resp.status == 200, resp
    assert resp.body == b"abcdef"


# --- response_timeout_ms -----------------------------------------------------------------------


def test_response_timeout_is_504(serve):
    server = start(serve, response_timeout_ms=300)
    with RawConn(server.connect(), timeout=5) as conn:
        t0 = time.monotonic()
        resp = conn.request(b"GET /py/sleep?s=1 HTTP/1.1\r\nHost: test\r\n\r\n")
        elapsed = time.monotonic() - t0
        assert_error_and_closed(conn, resp, 504, "Gateway Timeout")
    assert elapsed < 0.9, elapsed


def test_bodies_that_arrive_together_wait_for_room_in_the_ring(serve):
    """Twelve 900 KiB bodies at once through a 4 MiB request ring (room for four): each waits
    for the interpreter to take the ones before it instead of `503 Backpressure` at once (the
    original's rule, which refused uploads well inside the limits whenever a few came together)."""
    import concurrent.futures

    import httpx

    server = start(serve, max_body_size=1024 * 1024, ipc_ring_size=4 * 1024 * 1024)
    body = bytes(range(256)) * (900 * 4)

    def post(_i):
        r = httpx.post(server.url("/py/echo"), content=body, timeout=30)
        return r.status_code, r.content == body

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(post, range(24)))
    assert results == [(200, True)] * 24, results


def test_overload_refusals_are_reported_once_per_period(serve):
    """Without the wait (`ipc_enqueue_retry_ms=0`) a full ring answers `503 Backpressure` at
    once; the log says so once per 10 s with a count, not once per refusal."""
    import concurrent.futures

    import httpx

    server = start(serve, max_body_size=1024 * 1024, ipc_ring_size=2 * 1024 * 1024, ipc_enqueue_retry_ms=0)
    body = b"y" * (900 * 1024)

    def post(_i):
        try:
            return httpx.post(server.url("/py/echo"), content=body, timeout=30).status_code
        except httpx.HTTPError:
            return None

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(post, range(48)))
    assert 503 in codes and 200 in codes, codes
    deadline = time.monotonic() + 5
    while "answered 503 Backpressure" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.logs().count("answered 503 Backpressure") == 1, server.logs()


def test_a_client_that_sends_the_whole_oversized_body_first_reads_the_413(serve):
    """Python's `http.client` (and `requests`) sends a whole body before it reads the answer.
    A 10 MiB upload past a 1 MiB limit is answered 413 at its head; the lingering close drains
    the rest so the client reads that 413 instead of a broken pipe."""
    import http.client

    server = start(serve, max_body_size=1024 * 1024)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = b"z" * (10 * 1024 * 1024)
    conn.request("POST", "/py/echo", body=body, headers={"Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    assert resp.status == 413 and resp.getheader("connection") == "close"
    resp.read()
    conn.close()
