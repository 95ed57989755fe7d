"""Runtime overload and isolation, over real sockets: deferred push
(docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol), the four 503s and isolation
(docs/internals/bridge.md#overload-and-isolation), the response timeout (docs/internals/http.md).

The interpreter thread is blocked on purpose with a sync handler in `time.sleep`, so the
native request queue (`ipc_request_queue_len`) fills and the runtime's own answers can be
observed: `503 Queue Full` after `ipc_enqueue_retry_ms`, `504 Gateway Timeout` after
`response_timeout_ms`, native 404s and static files served meanwhile. Every request is sent on
its own connection and read to EOF, so each gets exactly one response (nothing trailing).
"""
from __future__ import annotations

import random
import socket
import struct
import threading
import time

import pytest

from apps.bridge_support import app_env, brief, burst, get_json, quiet_serve, request

APP = "apps/bridge_app.py"
TEXT = "text/plain; charset=utf-8"


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


def start(serve, env_extra=None, **kw):
    return serve(APP, env=app_env(kw, **(env_extra or {})))


class Background:
    """One blocking request running in a thread."""

    def __init__(self, port, path, **kw):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(port, path), kwargs=kw)
        self.thread.start()

    def _run(self, port, path, **kw):
        self.result = request(port, path, **kw)

    def join(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        return self.result


def assert_one_response(r):
    assert r.error is None, r.summary()
    assert r.complete and r.trailing == b"", f"not exactly one complete response: {r.summary()}"


# --- 503 Queue Full (deferred push) ---------------------------------------------------------------


def test_queue_full_answers_503_after_enqueue_retry(serve):
    port = start(serve, ipc_request_queue_len=1, ipc_enqueue_retry_ms=200).port
    blocker = Background(port, "/sync/sleep?ms=1500&tag=blocker")
    time.sleep(0.2)  # the blocker is inside its handler: the interpreter thread is stuck
    results = burst(port, [f"/sync/sleep?ms=0&tag=b{i}" for i in range(6)], stagger=0.01)
    b = blocker.join()
    assert b.status == 200 and b.json()["tag"] == "blocker", b.summary()
    for r in results + [b]:
        assert_one_response(r)
    ok = [r for r in results if r.status == 200]
    full = [r for r in results if r.status == 503]
    # One request fits the native queue (len 1) and is served after the blocker; the other
    # five are parked, then answered 503 Queue Full once ipc_enqueue_retry_ms (200) expired.
    assert len(ok) == 1 and len(full) == 5, brief(results)
    for r in full:
        assert r.body == b"Queue Full", r.summary()
        assert r.header("content-type") == TEXT, r.summary()
        assert (r.header("connection") or "").lower() == "close", r.summary()
        assert r.header("retry-after") is None, r.summary()
        assert 0.15 <= r.elapsed < 0.9, f"Queue Full should come after ≈200 ms parked: {r.summary()}"
    s = get_json(port, "/stats")["server"]
    assert s["ipc_req_queue_push_fail"] >= 5, s
    assert s["backpressure_503_sent"] >= 5, s


def test_queue_full_without_parking_when_retry_is_zero(serve):
    port = start(serve, ipc_request_queue_len=1, ipc_enqueue_retry_ms=0).port
    blocker = Background(port, "/sync/sleep?ms=1000")
    time.sleep(0.2)
    results = burst(port, [f"/sync/sleep?ms=0&tag=b{i}" for i in range(4)], stagger=0.01)
    assert blocker.join().status == 200
    full = [r for r in results if r.status == 503]
    assert len(full) == 3, brief(results)
    for r in full:
        assert_one_response(r)
        assert r.body == b"Queue Full", r.summary()
        assert r.elapsed < 0.15, f"ipc_enqueue_retry_ms=0 must not park: {r.summary()}"


def test_generous_enqueue_retry_lets_the_same_burst_succeed(serve):
    port = start(serve, ipc_request_queue_len=1, ipc_enqueue_retry_ms=5000).port
    blocker = Background(port, "/sync/sleep?ms=600&tag=blocker")
    time.sleep(0.2)
    results = burst(port, [f"/sync/sleep?ms=100&tag=b{i}" for i in range(6)], stagger=0.01)
    b = blocker.join()
    assert b.status == 200
    assert [r.status for r in results] == [200] * 6, brief(results)
    for r in results:
        assert_one_response(r)
    assert sorted(r.json()["tag"] for r in results) == [f"b{i}" for i in range(6)]
    s = get_json(port, "/stats")["server"]
    assert s["backpressure_503_sent"] == 0, s


def test_parked_requests_are_served_in_arrival_order(serve):
    """docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol: parked connections are served FIFO as
    queue space frees.
    Two rounds of 8 parked requests, since the order only breaks when waiters race."""
    port = start(serve, ipc_request_queue_len=1, ipc_enqueue_retry_ms=5000).port
    for round_ in range(2):
        blocker = Background(port, "/sync/sleep?ms=500&tag=blocker")
        time.sleep(0.15)
        results = burst(port, [f"/sync/sleep?ms=30&tag=b{i}" for i in range(8)], stagger=0.03)
        blocker.join()
        assert [r.status for r in results] == [200] * 8, brief(results)
        ends = [r.t_send + r.elapsed for r in results]
        order = sorted(range(8), key=lambda i: ends[i])
        assert order == list(range(8)), f"round {round_ + 1}: served in order {order}, sent in order 0..7"


# --- isolation: a stuck interpreter ----------------------------------------------------------------


def test_native_404_and_static_served_while_interpreter_stuck(serve, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "hello.txt").write_bytes(b"static hello\n")
    port = start(serve, env_extra={"BRIDGE_STATIC": str(static)}).port
    assert request(port, "/static/hello.txt").body == b"static hello\n"
    stuck = Background(port, "/sync/sleep?ms=3000&tag=stuck")
    time.sleep(0.2)
    t_end = time.monotonic() + 1.5
    n = 0
    while time.monotonic() < t_end:
        r = request(port, "/no/such/route")
        assert r.status == 404 and r.body == b"Not Found", r.summary()
        assert r.elapsed < 0.3, f"native 404 waited on the interpreter: {r.summary()}"
        r = request(port, "/static/hello.txt")
        assert r.status == 200 and r.body == b"static hello\n", r.summary()
        assert r.elapsed < 0.3, f"static file waited on the interpreter: {r.summary()}"
        n += 1
        time.sleep(0.1)
    assert n >= 5
    assert stuck.result is None, "the stuck handler finished too early for this test to mean anything"
    s = stuck.join()
    assert s.status == 200 and s.json()["tag"] == "stuck", s.summary()


def test_response_timeout_answers_504_instead_of_hanging(serve):
    port = start(serve, response_timeout_ms=500).port
    stuck = Background(port, "/sync/sleep?ms=3000&tag=stuck")
    time.sleep(0.1)
    waiting = request(port, "/sync")  # queued behind the stuck handler
    s = stuck.join()
    for r in (s, waiting):
        assert_one_response(r)
        assert r.status == 504, r.summary()
        assert r.reason == "Gateway Timeout", r.summary()
        assert r.body == b"Gateway Timeout", r.summary()
        assert (r.header("connection") or "").lower() == "close", r.summary()
    assert 0.45 <= s.elapsed < 1.5, s.summary()
    assert 0.45 <= waiting.elapsed < 1.5, waiting.summary()
    # The interpreter comes back: late frames for the timed-out ids are dropped, new requests work.
    time.sleep(2.6)
    r = request(port, "/sync")
    assert r.status == 200 and r.body == b"ok", r.summary()
    stats = get_json(port, "/stats")
    assert stats["server"]["ipc_wait_timeouts"] >= 2, stats
    # The late terminal frames of the two timed-out ids cleared their cancellation marks.
    assert stats["ipc"]["cancelled_ids"] == 0, stats["ipc"]


def test_no_response_timeout_by_default_for_slow_handler(serve):
    port = start(serve).port
    r = request(port, "/sync/sleep?ms=1200")
    assert r.status == 200, r.summary()


# --- clients that reset mid-request ---------------------------------------------------------------


def _reset_after(port: int, delay: float) -> None:
    """Send `GET /sync`, wait `delay` seconds, then close with RST (SO_LINGER 0)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(b"GET /sync HTTP/1.1\r\nHost: test\r\n\r\n")
    if delay:
        time.sleep(delay)
    s.close()


def test_clients_reset_mid_request_leave_no_cancelled_ids(serve):
    """A client that resets its connection while its request is in flight gets its id marked
    cancelled only while a terminal frame is still to come (docs/internals/ipc.md#9-request-ids).
    Resets land at random points of the request's life (queued, being handled, response just
    delivered but unread); afterwards no mark may be left behind and no slot may stay pending.
    Before the fix a reset just after delivery left one mark per such client for good."""
    port = start(serve).port
    rng = random.Random(11)
    for _ in range(40):
        threads = [
            threading.Thread(target=_reset_after, args=(port, rng.random() * 0.001))
            for _ in range(50)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    deadline = time.monotonic() + 10
    while True:
        ipc = get_json(port, "/stats")["ipc"]
        # pending_ids counts the /stats request itself.
        if ipc["cancelled_ids"] == 0 and ipc["pending_ids"] <= 1:
            break
        assert time.monotonic() < deadline, f"marks or slots left behind: {ipc}"
        time.sleep(0.05)
    r = request(port, "/sync")
    assert r.status == 200 and r.body == b"ok", r.summary()
