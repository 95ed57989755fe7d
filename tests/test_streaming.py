"""StreamingResponse through the response ring, over real sockets
(docs/internals/requests-responses.md#responses; docs/internals/ipc.md, docs/internals/bridge.md#streaming).

Sources: a list, a generator, an async generator, an async iterator class, a str and a bytes
buffer, memoryview items. Framing: Content-Length when `total_len` is given, chunked otherwise
and whenever `chunked=True`. Errors: a non-bytes item or an exception mid-stream cuts the
response short (no terminating chunk / short Content-Length body, connection closed) and is
logged. Client disconnect stops the producer: the generator's finally runs (an async generator
sleeping between yields is cancelled at its await). A 64 MiB body through a 1 MiB ring arrives
intact while the server's RSS stays bounded, even with a client that stops reading for a while.
"""
from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest

from apps.bridge_support import (
    app_env, get_json, parse_response, quiet_serve, read_one, request, rss_kb, wait_for, wait_for_log,
)

APP = "apps/bridge_stream_app.py"
EXPECT = b"alpha-beta-gamma-delta"
BLOCK = 65536


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


@pytest.fixture(params=["asyncio", "uvloop"])
def server(serve, request):
    """Every streaming test runs on plain asyncio and on uvloop (the bridge picks uvloop when it
    is installed): cancellation on disconnect and fd readiness differ between the two loops."""
    loop = request.param
    srv = serve(APP, env=app_env({}, VIPERHTTP_NO_UVLOOP="1" if loop == "asyncio" else ""))
    expected = "uvloop" if loop == "uvloop" else "asyncio"
    assert get_json(srv.port, "/loop")["loop"].split(".")[0] == expected
    return srv


def state(port, key):
    return get_json(port, f"/state/{key}")["value"]


# --- sources and framing -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/s/list", "/s/gen", "/s/agen", "/s/aiter", "/s/chunked"])
def test_stream_sources_chunked(server, path):
    r = request(server.port, path)
    assert r.status == 200, r.summary()
    assert r.complete and r.trailing == b"", r.summary()
    assert r.chunked and r.header("content-length") is None, r.summary()
    assert r.body == EXPECT, r.summary()
    assert r.header("content-type") == "text/plain", r.summary()


def test_str_buffer_source_cut_into_chunk_size_slices(server):
    r = request(server.port, "/s/str?chunk=7")
    expected = ("héllo wörld " * 50).encode("utf-8")
    assert r.status == 200 and r.complete, r.summary()
    assert r.body == expected
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.chunk_sizes and max(r.chunk_sizes) <= 7, r.chunk_sizes[:20]


def test_bytes_buffer_source(server):
    r = request(server.port, "/s/bytes?chunk=1000")
    assert r.status == 200 and r.complete, r.summary()
    assert r.body == bytes(range(256)) * 40
    assert r.header("content-type") == "application/octet-stream"
    assert max(r.chunk_sizes) <= 1000, r.chunk_sizes


def test_memoryview_items(server):
    r = request(server.port, "/s/memoryview")
    assert r.status == 200 and r.complete, r.summary()
    assert r.body == bytes(range(256)) * 64


def test_none_and_empty_items_are_skipped(server):
    r = request(server.port, "/s/skips")
    assert r.status == 200 and r.complete, r.summary()
    assert r.body == b"abc"
    assert 0 not in r.chunk_sizes


def test_total_len_gives_content_length(server):
    r = request(server.port, "/s/total")
    assert r.status == 200 and r.complete and r.trailing == b"", r.summary()
    assert r.header("content-length") == str(len(EXPECT)), r.summary()
    assert r.header("transfer-encoding") is None, r.summary()
    assert r.body == EXPECT


def test_chunked_true_wins_over_total_len(server):
    r = request(server.port, "/s/total_chunked")
    assert r.status == 200 and r.complete, r.summary()
    assert r.chunked and r.header("content-length") is None, r.summary()
    assert r.body == EXPECT


def test_default_stream_content_type(server):
    r = request(server.port, "/s/default_type")
    assert r.status == 200 and r.body == b"x", r.summary()
    assert r.header("content-type") == "application/octet-stream"


def test_streams_on_one_keepalive_connection(server):
    with server.connect() as sock:
        for path in ("/s/gen", "/s/total", "/s/agen"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            r = read_one(sock)
            assert r.status == 200 and r.complete and r.body == EXPECT, r.summary()


# --- errors mid-stream -----------------------------------------------------------------------------


def _read_until_closed(server, path, timeout=5.0):
    """Sends `path` without `Connection: close` (the server itself must close the connection)
    and reads until EOF/reset: (parsed response, closed by the server)."""
    with server.connect() as sock:
        sock.settimeout(timeout)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        raw = b""
        closed = False
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            raw += chunk
    return parse_response(raw), closed


def _cut_short(server, path, prefix, log_needle, attempts=15):
    """The response is cut short: headers and every item produced before the failure arrive,
    then the connection closes without a terminating chunk. Repeated, since a race between
    the abort and the frames before it shows only sometimes."""
    for attempt in range(attempts):
        r, closed = _read_until_closed(server, path)
        where = f"attempt {attempt + 1}/{attempts}: {r.summary()}"
        assert r.status == 200, f"no response head before the cut ({where})"
        assert closed, f"the connection was not closed after the stream was cut ({where})"
        assert not r.complete, f"a cut stream must not look complete ({where})"
        assert r.body == prefix, f"items produced before the failure were lost ({where})"
    logs = wait_for_log(server, log_needle)
    assert "async_stream_error" in logs and log_needle in logs, logs
    assert f" in GET {path.split('?')[0]}" in logs, logs  # the line names the request
    ok = request(server.port, "/s/list")
    assert ok.status == 200 and ok.body == EXPECT, ok.summary()
    return r


def test_non_bytes_item_cuts_stream_short(server):
    r = _cut_short(server, "/s/bad_item", b"first-second-", "TypeError('stream chunk must be bytes or str')")
    assert r.chunked and b"never" not in r.raw


def test_non_bytes_item_from_async_generator_cuts_stream_short(server):
    _cut_short(server, "/s/bad_item_async", b"first-", "TypeError('stream chunk must be bytes or str')")


def test_exception_mid_stream_cuts_short_and_is_logged(server):
    _cut_short(server, "/s/raise", b"part-1-part-2-", "RuntimeError('stream-boom')")


def test_exception_in_async_generator_cuts_short_and_is_logged(server):
    _cut_short(server, "/s/raise_async", b"part-1-", "RuntimeError('astream-boom')")


def test_exception_mid_fixed_length_stream_closes_connection(server):
    r = _cut_short(server, "/s/raise_fixed", b"0123456789", "RuntimeError('fixed-boom')")
    assert r.header("content-length") == "100" and not r.chunked


# --- client disconnect -------------------------------------------------------------------------------


def _open_stream_and_leave(server, path, read_bytes, marker=b""):
    """Reads at least `read_bytes` (and up to `marker`), then closes the connection."""
    sock = server.connect()
    sock.settimeout(5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    got = b""
    while len(got) < read_bytes or marker not in got:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    sock.close()
    return time.monotonic(), got


def test_disconnect_cancels_async_generator_sleeping_between_yields(server):
    # The generator sleeps 5 s between yields: it must be cancelled at its await, not at the
    # next yield.
    t0, got = _open_stream_and_leave(server, "/s/endless_agen?key=ag1&every_ms=5000", 10,
                                      marker=b"tick 0")
    assert b"tick 0" in got
    assert wait_for(lambda: "finally" in (state(server.port, "ag1") or []), 3.0), state(server.port, "ag1")
    took = time.monotonic() - t0
    value = state(server.port, "ag1")
    assert took < 1.2, f"the generator was closed {took:.2f}s after the client left"
    assert value[0] in ("CancelledError", "GeneratorExit") and value[-1] == "finally", value
    assert wait_for(lambda: get_json(server.port, "/stats")["bridge"]["streams_active"] == 0, 2.0)


def test_disconnect_stops_fast_async_generator(server):
    t0, _ = _open_stream_and_leave(server, "/s/endless_agen?key=ag2&every_ms=20", 200, marker=b"tick 3")
    assert wait_for(lambda: "finally" in (state(server.port, "ag2") or []), 3.0), state(server.port, "ag2")
    assert time.monotonic() - t0 < 1.2


def test_disconnect_closes_sync_generator(server):
    t0, _ = _open_stream_and_leave(server, "/s/endless_gen?key=g1", 200000)
    assert wait_for(lambda: "finally" in (state(server.port, "g1") or []), 3.0), state(server.port, "g1")
    took = time.monotonic() - t0
    value = state(server.port, "g1")
    assert took < 1.2, f"the generator was closed {took:.2f}s after the client left"
    assert value == ["GeneratorExit", "finally"], value
    assert wait_for(lambda: get_json(server.port, "/stats")["bridge"]["streams_active"] == 0, 2.0)


@pytest.mark.parametrize("path,read_bytes,marker", [
    ("/s/endless_agen?key=ag3&every_ms=20", 10, b"tick 2"),  # client gone seen at a send
    ("/s/endless_gen?key=g3", 200000, b""),  # a producer waiting for credit sees it
])
def test_streams_dropped_half_way_leave_no_cancelled_ids(server, path, read_bytes, marker):
    # Found by the soak (docs/internals/benchmarks.md "Soak"): the runtime marks the id of a
    # stream whose client left as cancelled, and only a terminal frame clears the mark
    # (docs/internals/ipc.md#9-request-ids). The producer stopped without one, so every
    # dropped stream kept a mark for the life of the process.
    for _ in range(12):
        _open_stream_and_leave(server, path, read_bytes, marker=marker)
    ok = wait_for(lambda: get_json(server.port, "/stats")["ipc"]["cancelled_ids"] == 0
                  and get_json(server.port, "/stats")["bridge"]["streams_active"] == 0, 5.0)
    assert ok, get_json(server.port, "/stats")["ipc"]


def test_a_blocking_routes_sync_generator_runs_in_the_thread_pool(server):
    # Its generator sleeps 1.5 s between items in a pool thread: other requests are answered
    # meanwhile (inline, each would wait for the sleep), and when the client leaves the
    # generator is closed as soon as the item being produced is done (its finally runs).
    sock = server.connect()
    sock.settimeout(5)
    sock.sendall(b"GET /s/blocking_gen?key=bg1 HTTP/1.1\r\nHost: t\r\n\r\n")
    got = b""
    while b"tick" not in got:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    time.sleep(0.1)  # the generator is in its sleep now
    t0 = time.monotonic()
    assert state(server.port, "bg1")[0].startswith("viperhttp-sync")
    assert time.monotonic() - t0 < 1.0, "a request waited for the stream's generator"
    sock.close()
    assert wait_for(lambda: "finally" in (state(server.port, "bg1") or []), 4.0), state(server.port, "bg1")
    assert state(server.port, "bg1")[-2:] == ["GeneratorExit", "finally"]
    assert wait_for(lambda: get_json(server.port, "/stats")["bridge"]["streams_active"] == 0, 2.0)


def test_blocking_on_an_async_route_pools_its_sync_source_too(server):
    assert request(server.port, "/s/blocking_gen_async?key=bga1").body == b"tick\n"
    assert state(server.port, "bga1")[0].startswith("viperhttp-sync")


def test_a_slow_inline_sync_generator_is_reported_once(server):
    for _ in range(2):
        assert request(server.port, "/s/slow_inline_gen").body == b"ab"
    log = wait_for_log(server, "slow_sync_stream GET /s/slow_inline_gen")
    assert log.count("slow_sync_stream") == 1, log
    assert "blocking=True" in log


# --- background tasks after a stream ---------------------------------------------------------------------


def test_background_task_runs_after_last_chunk(server):
    r = request(server.port, "/s/with_bg?key=sb")
    assert r.status == 200 and r.body == b"one-two" and r.complete, r.summary()
    assert wait_for(lambda: state(server.port, "sb") == ["last-chunk-produced", "bg-ran"], 2.0), \
        state(server.port, "sb")


# --- large body through a small ring --------------------------------------------------------------------


def _expected_digest(mb):
    h = hashlib.sha256()
    for i in range(mb * 1024 * 1024 // BLOCK):
        h.update(i.to_bytes(4, "big") * (BLOCK // 4))
    return h.hexdigest()


class RssSampler:
    def __init__(self, pid):
        self.pid = pid
        self.peak = rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def _read_big(server, path, pause_after=8 * 1024 * 1024, pause_s=1.0):
    """Reads the whole (chunked or fixed-length) response with a raw socket, hashing the body;
    stops reading for `pause_s` after `pause_after` body bytes (a slow client)."""
    sock = server.connect()
    sock.settimeout(20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    chunked = b"transfer-encoding: chunked" in head.lower()
    h = hashlib.sha256()
    total = 0
    paused = False
    ended = False

    def more():
        nonlocal buf
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise EOFError
        buf += chunk

    try:
        while True:
            if not paused and total >= pause_after:
                paused = True
                time.sleep(pause_s)
            if chunked:
                while b"\r\n" not in buf:
                    more()
                line, _, buf = buf.partition(b"\r\n")
                size = int(line, 16)
                if size == 0:
                    ended = True
                    break
                while len(buf) < size + 2:
                    more()
                h.update(buf[:size])
                total += size
                buf = buf[size + 2:]
            else:
                if buf:
                    h.update(buf)
                    total += len(buf)
                    buf = b""
                more()
    except EOFError:
        ended = not chunked
    finally:
        sock.close()
    return head, total, h.hexdigest(), ended


@pytest.mark.parametrize("path", ["/s/big?mb=64", "/s/big_async?mb=64", "/s/big?mb=64&total=1"])
def test_64mib_stream_through_small_ring_complete_and_rss_bounded(serve, path):
    server = serve(APP, env=app_env({"ipc_ring_size": 1048576, "max_body_size": 65536}))
    assert get_json(server.port, "/stats")["ipc"]["ring_size"] == 1048576
    warm = request(server.port, path.replace("mb=64", "mb=2"))  # warm-up: allocator, code paths
    assert warm.status == 200 and warm.complete, warm.summary()
    base = rss_kb(server.proc.pid)
    sampler = RssSampler(server.proc.pid)
    head, total, digest, ended = _read_big(server, path)
    peak = sampler.stop()
    assert head.startswith(b"HTTP/1.1 200"), head
    assert total == 64 * 1024 * 1024, total
    assert ended, "the body did not end properly"
    assert digest == _expected_digest(64)
    if "total=1" in path:
        assert b"content-length: 67108864" in head.lower(), head
    grew = (peak - base) / 1024
    assert grew < 64, f"server RSS grew by {grew:.1f} MiB streaming 64 MiB (base {base} kB, peak {peak} kB)"
    s = get_json(server.port, "/stats")
    assert s["bridge"]["streams_active"] == 0, s["bridge"]
