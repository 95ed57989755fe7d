"""Bridge worker pool, over real sockets (docs/internals/bridge.md).

Every knob has a test that fails if the knob did nothing: async handlers are awaited by
worker tasks and overlap; sync handlers stay inline; a fixed pool bounds concurrency; the
queue size clamps to the pool; autoscale grows under pressure (bounded per 100 ms tick by
`bridge_scale_up_max_burst`) and shrinks back after ~2 s idle; `bridge_enqueue_wait_ms`
decides between waiting for queue space and `503 Server Busy`; the native worker limits are
validated before anything binds.

Pool state is read from `viperhttp_bridge.bridge_stats()` through app routes; time series come
from a monitor task inside the app that samples it every few ms on the loop (a stats request
itself would queue behind the slow ones).
"""
from __future__ import annotations

import sys
import threading
import time

import pytest

from apps.bridge_support import (
    app_env, brief, burst, get_json, port_is_free, quiet_serve, read_one, request, run_script,
)

APP = "apps/bridge_app.py"
LIMITS_APP = "apps/bridge_limits_app.py"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


def start(serve, loop="asyncio", **kw):
    """Starts the app on plain asyncio, or on uvloop (what the bridge picks when installed)."""
    srv = serve(APP, env=app_env(kw, VIPERHTTP_NO_UVLOOP="1" if loop == "asyncio" else ""))
    assert get_json(srv.port, "/loop")["loop"].split(".")[0] == loop
    return srv


LOOPS = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])


def sleeps(n, ms, prefix="t"):
    return [f"/async/sleep?ms={ms}&tag={prefix}{i}" for i in range(n)]


def wall(results):
    return max(r.t_send + r.elapsed for r in results) - min(r.t_send for r in results)


def statuses(results):
    return sorted(r.status for r in results)


def monitor(port, ms, every=5):
    r = request(port, f"/monitor/start?ms={ms}&every={every}")
    assert r.status == 200, r.summary()


def samples(port, wait_done=True, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        data = get_json(port, "/monitor")
        if data["done"] or not wait_done or time.monotonic() > deadline:
            return data["samples"]
        time.sleep(0.1)


# --- async / sync dispatch ----------------------------------------------------------------------


@LOOPS
def test_async_handler_is_awaited(serve, loop):
    r = request(start(serve, loop).port, "/async/nowait")
    assert r.status == 200, r.summary()
    assert r.header("content-type") == "application/json"
    assert r.json()["async"] is True


@LOOPS
def test_async_handler_that_does_not_suspend_finishes_inline(serve, loop):
    """Eager start: a coroutine that never suspends is answered by the poller, counted in
    `eager_done`, and never enters the bridge queue."""
    port = start(serve, loop).port
    before = get_json(port, "/stats")["bridge"]
    for _ in range(20):
        assert request(port, "/async/nowait").status == 200
    after = get_json(port, "/stats")["bridge"]
    assert after["eager_done"] - before["eager_done"] == 20, (before, after)
    assert after["queue_peak"] == 0, after


@LOOPS
def test_eager_start_keeps_one_task_and_one_context(serve, loop):
    """The first step runs with the worker that takes over as the current task: the same
    task before and after the suspension, and the context variables set before it are seen
    after it (a fresh context per request)."""
    port = start(serve, loop).port
    results = burst(port, [f"/async/task?ms=30&tag=r{i}" for i in range(8)])
    assert statuses(results) == [200] * 8, brief(results)
    for i, r in enumerate(results):
        data = r.json()
        assert data == {"has_task": True, "same_task": True, "tag": f"r{i}"}, data


@LOOPS
def test_context_variables_do_not_leak_between_requests(serve, loop):
    port = start(serve, loop).port
    assert request(port, "/async/cv/set?tag=leak").json() == {"tag": "leak"}
    for _ in range(5):
        assert request(port, "/async/cv/get").json() == {"tag": None}


@LOOPS
@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout() is new in Python 3.11")
def test_timeout_entered_in_the_eager_step_cancels_only_the_handler(serve, loop):
    port = start(serve, loop).port
    r = request(port, "/async/timeout?ms=50")
    assert r.status == 200 and r.json() == {"timed_out": True}, r.summary()
    # the poller and the other workers are unharmed
    assert request(port, "/sync").body == b"ok"
    assert request(port, "/async/nowait").status == 200


@LOOPS
def test_error_in_the_eager_step_is_a_500_and_the_bridge_goes_on(serve, loop):
    port = start(serve, loop).port
    r = request(port, "/async/raise")
    assert r.status == 500, r.summary()
    assert b"boom" not in r.body, r.summary()  # no traceback or message in the response
    assert request(port, "/async/nowait").status == 200


@LOOPS
@pytest.mark.parametrize("ms", ["0", "20"], ids=["eager", "after-suspension"])
def test_bare_coroutine_errors_go_to_the_exception_handlers(serve, loop, ms):
    """A dependency-free `async def` handler runs without a wrapper coroutine; what it raises,
    in its first step or on a worker after suspending, still goes through the app's
    exception handlers: HTTPException, a sync handler, an async one (which suspends too),
    and the logged 500."""
    port = start(serve, loop).port
    r = request(port, f"/async/errors?kind=http&ms={ms}")
    assert r.status == 409 and r.json() == {"detail": "conflict http"}, r.summary()
    r = request(port, f"/async/errors?kind=teapot&ms={ms}")
    assert (r.status, r.body) == (418, b"handled bare"), r.summary()
    r = request(port, f"/async/errors?kind=async_teapot&ms={ms}")
    assert r.status == 418 and r.json() == {"async_handled": "bare", "current": True}, r.summary()
    r = request(port, f"/async/errors?kind=value&ms={ms}")
    assert r.status == 500 and b"boom" not in r.body, r.summary()
    assert request(port, "/async/nowait").status == 200


@LOOPS
@pytest.mark.parametrize("ms", ["0", "20"], ids=["eager", "after-suspension"])
def test_bare_coroutine_sees_its_request_as_current(serve, loop, ms):
    port = start(serve, loop).port
    results = burst(port, [f"/async/current?ms={ms}&i={i}" for i in range(6)])
    assert statuses(results) == [200] * 6, brief(results)
    for r in results:
        assert r.json() == {"before": True, "after": True, "path": "/async/current"}, r.summary()


@LOOPS
@pytest.mark.parametrize("ms", ["0", "20"], ids=["eager", "after-suspension"])
def test_typed_bare_coroutine_gets_its_parameters_and_response_plan(serve, loop, ms):
    port = start(serve, loop).port
    r = request(port, f"/typed/async/7?ms={ms}")
    assert r.status == 201 and r.json() == {"n": 7, "tag": "ok"}, r.summary()
    r = request(port, f"/typed/async-text?ms={ms}")
    assert (r.status, r.header("content-type"), r.body) == (202, TEXT, b"text"), r.summary()
    r = request(port, f"/typed/async/x?ms={ms}")
    assert r.status == 422 and r.json()["detail"][0]["loc"] == ["path", "n"], r.summary()
    r = request(port, f"/typed/async/7?ms={ms}&kind=bad")
    assert r.status == 500 and b"not a number" not in r.body, r.summary()
    r = request(port, f"/typed/async/7?ms={ms}&kind=async_teapot")
    assert r.status == 418 and r.json() == {"async_handled": "typed", "current": True}, r.summary()


@LOOPS
@pytest.mark.parametrize("ms", ["0", "20"], ids=["eager", "after-suspension"])
def test_typed_bare_coroutine_without_response_options_returns_json(serve, loop, ms):
    """A plain dict skips the response plan (`finish_bare`) and must come out exactly as the
    plan would have made it; every other value still goes through the plan."""
    port = start(serve, loop).port
    r = request(port, f"/typed/plain/3?ms={ms}")
    assert (r.status, r.header("content-type"), r.body) == (200, JSON, b'{"n":3,"score":0.30000000000000004}'), \
        r.summary()
    # A key named like a response field is data, not a stream or a response dict.
    r = request(port, f"/typed/plain/4?ms={ms}&shape=stream-key")
    assert (r.status, r.header("content-type")) == (200, JSON), r.summary()
    assert r.json() == {"stream": 4, "body": "a key named like a response field"}, r.summary()
    r = request(port, f"/typed/plain/4?ms={ms}&shape=truthy-marker")
    assert (r.status, r.header("content-type"), r.body) == \
        (200, JSON, b'{"__vhttp_response__":1,"stream":"abc"}'), r.summary()
    r = request(port, f"/typed/plain/4?ms={ms}&shape=marker")
    assert (r.status, r.header("content-type"), r.body) == (203, "text/x", b"raw"), r.summary()
    r = request(port, f"/typed/plain/5?ms={ms}&shape=date")
    assert (r.status, r.body) == (200, b'{"when":"2024-01-05"}'), r.summary()
    r = request(port, f"/typed/plain/6?ms={ms}&shape=list")
    assert (r.status, r.header("content-type"), r.body) == (200, JSON, b"[6,1.5,null]"), r.summary()
    r = request(port, f"/typed/plain/6?ms={ms}&shape=nan")
    assert (r.status, r.body) == (500, b"Internal Server Error"), r.summary()


@LOOPS
@pytest.mark.parametrize("ms", ["0", "20"], ids=["eager", "after-suspension"])
def test_exception_handler_context_variables_stay_with_their_request(serve, loop, ms):
    port = start(serve, loop).port
    for _ in range(3):
        r = request(port, f"/async/leak?ms={ms}")
        assert r.status == 409 and r.json() == {"current": True}, r.summary()
        assert request(port, "/async/cv/get").json() == {"tag": None}


@LOOPS
def test_sync_wrapper_around_an_async_handler_keeps_the_response_plan(serve, loop):
    """A `functools.wraps` decorator runs inside the request (current_request set) and what it
    returns by itself still goes through the route's response plan."""
    port = start(serve, loop).port
    r = request(port, "/typed/wrapped/5")
    assert r.status == 201 and r.json() == {"n": 5, "tag": None}, r.summary()
    r = request(port, "/typed/wrapped/5?deny=1")
    assert r.status == 201 and r.json() == {"n": -1, "tag": None}, r.summary()


def test_bare_coroutine_queued_for_a_worker_gets_the_same_treatment(serve):
    """With the only worker busy, the next request waits unstarted in the bridge queue and a
    worker runs its first step (`_work`): errors and the current request as in the eager case."""
    port = start(serve, bridge_min_workers=1, bridge_max_workers=1).port
    results = burst(port, ["/async/sleep?ms=300&tag=a", "/async/errors?kind=teapot", "/async/current",
                           "/async/errors?kind=async_teapot", "/typed/async/3", "/typed/async/3?kind=async_teapot"],
                    stagger=0.05)
    assert [r.status for r in results] == [200, 418, 200, 418, 201, 418], brief(results)
    assert results[1].body == b"handled bare", brief(results)
    assert results[2].json()["before"] is True, brief(results)
    assert results[3].json()["current"] is True, brief(results)
    assert results[4].json() == {"n": 3, "tag": "ok"}, brief(results)
    assert results[5].json()["async_handled"] == "typed", brief(results)
    assert results[1].t_send + results[1].elapsed >= results[0].t_send + 0.28, brief(results)


def test_async_requests_wait_for_a_worker_when_every_worker_is_suspended(serve):
    """The limits keep their meaning for coroutines that suspend: with one worker busy,
    the next async request is not started before that worker frees (FIFO queue)."""
    port = start(serve, bridge_min_workers=1, bridge_max_workers=1).port
    results = burst(port, ["/async/sleep?ms=400&tag=a", "/async/task?ms=1&tag=b"], stagger=0.05)
    assert statuses(results) == [200, 200], brief(results)
    first, second = results
    assert second.t_send + second.elapsed >= first.t_send + 0.38, brief(results)


@LOOPS
def test_async_sleep_does_not_block_other_requests(serve, loop):
    port = start(serve, loop, bridge_min_workers=16, bridge_max_workers=16).port
    results = burst(port, sleeps(10, 500))
    assert statuses(results) == [200] * 10, brief(results)
    total = wall(results)
    # 10 × 0.5 s awaited concurrently: ≈ 0.5 s, not 5 s
    assert 0.45 <= total < 1.2, f"10 concurrent 500 ms async handlers took {total:.2f}s"
    assert max(r.json()["busy"] for r in results) >= 5


@LOOPS
def test_sync_request_answered_while_async_handlers_sleep(serve, loop):
    port = start(serve, loop, bridge_min_workers=8, bridge_max_workers=8).port

    async_paths = sleeps(6, 1000)
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", burst(port, async_paths)))
    th.start()
    time.sleep(0.2)
    r = request(port, "/sync")
    th.join()
    assert r.status == 200 and r.body == b"ok", r.summary()
    assert r.elapsed < 0.3, f"sync request waited {r.elapsed:.2f}s behind sleeping async handlers"
    assert statuses(out["r"]) == [200] * 6


def test_default_pool_grows_to_what_waits(serve):
    """Host default (docs/internals/bridge.md#worker-model): 4 workers at start, one more for
    each request no worker is free for, up to 256: 40 handlers waiting 400 ms wait side by side."""
    port = start(serve).port
    s = get_json(port, "/stats")["bridge"]
    assert (s["workers"], s["workers_min"], s["workers_max"], s["queue_size"], s["autoscale"]) == \
        (4, 4, 256, 256, True), s
    results = burst(port, sleeps(40, 400))
    assert statuses(results) == [200] * 40
    total = wall(results)
    assert total < 1.2, f"40 × 400 ms should wait side by side (≈0.4 s), took {total:.2f}s"
    s = get_json(port, "/stats")["bridge"]
    assert s["workers"] >= 40 and s["server_busy_503"] == 0, s


def test_a_fixed_pool_of_four_workers(serve):
    """The device's pool, asked for explicitly: 8 × 400 ms take two rounds."""
    port = start(serve, bridge_min_workers=4, bridge_max_workers=4).port
    s = get_json(port, "/stats")["bridge"]
    assert (s["workers"], s["workers_min"], s["workers_max"], s["queue_size"], s["autoscale"]) == \
        (4, 4, 4, 16, False), s
    results = burst(port, sleeps(8, 400))
    assert statuses(results) == [200] * 8
    total = wall(results)
    assert 0.75 <= total < 1.3, f"8 × 400 ms on 4 workers should take two rounds (≈0.8 s), took {total:.2f}s"


def test_sync_handlers_stay_inline(serve):
    port = start(serve, bridge_min_workers=4, bridge_max_workers=4).port
    results = burst(port, ["/sync/stats"] * 40)
    assert statuses(results) == [200] * 40
    busy = [r.json()["workers_busy"] for r in results]
    assert busy == [0] * 40, f"sync handlers ran inside worker tasks: workers_busy={busy}"
    s = get_json(port, "/stats")["bridge"]
    assert s["workers_busy"] == 0 and s["queue_peak"] == 0, s
    # Contrast: an async handler that suspends is counted as a busy worker.
    r = request(port, "/async/sleep?ms=5")
    assert r.json()["busy"] >= 1, r.summary()


# --- event loop choice (docs/internals/bridge.md "Event loop") ------------------------------------------------


def test_loop_set_before_run_is_kept_even_with_uvloop_installed(serve):
    srv = serve("apps/preset_loop_app.py", env={"VIPERHTTP_NO_UVLOOP": ""})
    time.sleep(0.1)
    data = get_json(srv.port, "/loop")
    assert data["same"] is True and data["loop"].startswith("asyncio"), data
    assert data["ticks"] >= 2, f"a task created before run() did not run: {data}"


# --- fixed pool, queue size ----------------------------------------------------------------------


@LOOPS
def test_fixed_pool_of_two_third_request_waits(serve, loop):
    port = start(serve, loop, bridge_min_workers=2, bridge_max_workers=2).port
    s = get_json(port, "/stats")["bridge"]
    assert (s["workers"], s["workers_max"], s["autoscale"]) == (2, 2, False), s
    results = burst(port, sleeps(3, 500))
    assert statuses(results) == [200] * 3
    lat = sorted(r.elapsed for r in results)
    assert lat[1] < 0.9, f"two requests should run at once: {lat}"
    assert lat[2] >= 0.95, f"the third request should wait for a worker (≈1.0 s): {lat}"
    assert lat[2] < 1.6, lat


@pytest.mark.parametrize("given,expected", [(1, 4), (2, 4), (4, 4), (40, 40)])
def test_queue_size_clamped_to_max_workers(serve, given, expected):
    port = start(serve, bridge_min_workers=4, bridge_max_workers=4, bridge_queue_size=given).port
    s = get_json(port, "/stats")["bridge"]
    assert s["queue_size"] == expected, s


def test_queue_size_clamp_is_effective(serve):
    # pool 3, queue_size 1 → clamped to 3: 3 running + 3 queued are served, the rest is 503.
    port = start(serve, bridge_min_workers=3, bridge_max_workers=3, bridge_queue_size=1,
                 bridge_enqueue_wait_ms=0).port
    results = burst(port, sleeps(9, 800), stagger=0.03)
    codes = [r.status for r in results]
    assert codes.count(200) == 6 and codes.count(503) == 3, brief(results)


# --- Server Busy / enqueue wait ------------------------------------------------------------------


def test_enqueue_wait_expiry_answers_server_busy(serve):
    port = start(serve, bridge_min_workers=1, bridge_max_workers=1, bridge_queue_size=1,
                 bridge_enqueue_wait_ms=50).port
    # 1 runs, 1 waits in the bridge queue; every later request finds the queue full and gets
    # 503 Server Busy after ~50 ms (not after the 1 s handler frees a slot).
    results = burst(port, sleeps(8, 1000), stagger=0.02)
    ok = [r for r in results if r.status == 200]
    busy = [r for r in results if r.status == 503]
    assert len(ok) == 2 and len(busy) == 6, brief(results)
    for r in busy:
        assert r.complete and not r.trailing, r.summary()
        assert r.body == b"Server Busy", r.summary()
        assert r.header("content-type") == TEXT, r.summary()
        assert r.elapsed < 0.5, f"Server Busy should come after ~50 ms of waiting: {r.summary()}"
    s = get_json(port, "/stats")["bridge"]
    assert s["server_busy_503"] == 6, s


def test_server_busy_keeps_connection_alive(serve):
    """docs/internals/bridge.md#worker-model: `Server Busy` is sent by Python through IPC, keep-alive kept."""
    server = start(serve, bridge_min_workers=1, bridge_max_workers=1, bridge_queue_size=1,
                   bridge_enqueue_wait_ms=0)
    held = []
    th = threading.Thread(target=lambda: held.extend(burst(server.port, sleeps(2, 800), stagger=0.02)))
    th.start()
    try:
        time.sleep(0.3)  # one request runs, one fills the bridge queue
        sock = server.connect()
        try:
            sock.sendall(b"GET /async/sleep?ms=10 HTTP/1.1\r\nHost: t\r\n\r\n")
            r = read_one(sock)
            assert r.status == 503 and r.body == b"Server Busy", r.summary()
            assert (r.header("connection") or "").lower() != "close", r.summary()
            th.join()
            sock.sendall(b"GET /sync HTTP/1.1\r\nHost: t\r\n\r\n")
            r = read_one(sock)
            assert r.status == 200 and r.body == b"ok", r.summary()
        finally:
            sock.close()
    finally:
        th.join()
    assert statuses(held) == [200, 200], brief(held)


def test_long_enqueue_wait_lets_requests_wait_for_space(serve):
    port = start(serve, bridge_min_workers=1, bridge_max_workers=1, bridge_queue_size=1,
                 bridge_enqueue_wait_ms=3000).port
    results = burst(port, sleeps(5, 200), stagger=0.02)
    assert statuses(results) == [200] * 5, brief(results)
    s = get_json(port, "/stats")["bridge"]
    assert s["server_busy_503"] == 0, s


# --- autoscale -----------------------------------------------------------------------------------


def test_autoscale_grows_under_pressure_and_shrinks_after_idle(serve):
    port = start(serve, bridge_min_workers=1, bridge_max_workers=3, bridge_queue_size=32).port
    s = get_json(port, "/stats")["bridge"]
    assert (s["workers"], s["workers_min"], s["workers_max"], s["autoscale"]) == (1, 1, 3, True), s
    monitor(port, 15000, every=10)
    t0 = time.monotonic()
    results = burst(port, sleeps(9, 600))
    load_end = time.monotonic()
    assert statuses(results) == [200] * 9
    # 9 × 0.6 s on one worker would be 5.4 s; scaled to 3 it is ≈ 2 s.
    assert load_end - t0 < 3.5, f"autoscale did not add workers: {load_end - t0:.2f}s"
    s = get_json(port, "/stats")["bridge"]
    assert s["scale_ups"] >= 2, s
    # Back to min after idle: one worker retires per 20 idle ticks (2 s).
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        s = get_json(port, "/stats")["bridge"]
        if s["workers"] == 1:
            break
        time.sleep(0.1)
    back = time.monotonic() - load_end
    assert s["workers"] == 1, f"pool did not shrink back to min: {s}"
    assert s["scale_downs"] >= 2, s
    assert back >= 3.0, f"2 workers retired after only {back:.2f}s idle (expected ≈ 2 × 2 s)"
    time.sleep(0.1)  # let the monitor (10 ms period) sample the final state too
    series = samples(port, wait_done=False)
    peak = max(x["workers"] for x in series)
    assert peak == 3, f"peak workers {peak}"
    # Shrinking is one worker per 20 idle ticks (2 s): the first retirement comes well after the
    # last request ended, the second ≈ 2 s after the first.
    t_load_end = max(r.json()["end"] for r in results)  # the app's clock, like the samples'
    t2 = min(x["t"] for x in series if x["t"] > t_load_end and x["workers"] == 2)
    t1 = min((x["t"] for x in series if x["t"] > t2 and x["workers"] == 1), default=None)
    assert t1 is not None, "the monitor never saw the pool back at 1 worker"
    assert t2 - t_load_end >= 1.5, f"first worker retired {t2 - t_load_end:.2f}s after the load ended"
    assert t1 - t2 >= 1.5, f"second worker retired {t1 - t2:.2f}s after the first (expected ≈ 2 s)"


def _time_to_max(series, mx):
    t_first = next(x["t"] for x in series if x["queue_depth"] > 0 or x["workers_busy"] > 0)
    t_max = next(x["t"] for x in series if x["workers"] == mx)
    return t_max - t_first


def test_scale_up_max_burst_one_adds_one_worker_per_tick(serve):
    port = start(serve, bridge_min_workers=1, bridge_max_workers=8, bridge_queue_size=64,
                 bridge_scale_up_max_burst=1).port
    monitor(port, 2500, every=5)
    results = burst(port, sleeps(16, 1200))
    assert statuses(results) == [200] * 16
    series = samples(port)
    assert max(x["workers"] for x in series) == 8, [x["workers"] for x in series]
    # Ticks are ≥ 100 ms apart: two samples < 100 ms apart straddle at most one tick.
    for i, a in enumerate(series):
        for b in series[i + 1:]:
            if b["t"] - a["t"] >= 0.1:
                break
            assert b["workers"] - a["workers"] <= 1, (
                f"+{b['workers'] - a['workers']} workers within {b['t'] - a['t']:.3f}s with burst 1")
    ttm = _time_to_max(series, 8)
    assert ttm >= 0.55, f"1 → 8 workers with burst 1 needs 7 ticks (≈0.7 s), took {ttm:.2f}s"


def test_scale_up_max_burst_eight_grows_in_one_step(serve):
    port = start(serve, bridge_min_workers=1, bridge_max_workers=8, bridge_queue_size=64,
                 bridge_scale_up_max_burst=8).port
    monitor(port, 2500, every=5)
    results = burst(port, sleeps(16, 1200))
    assert statuses(results) == [200] * 16
    series = samples(port)
    ttm = _time_to_max(series, 8)
    assert ttm <= 0.35, f"1 → 8 workers with burst 8 should take one or two ticks, took {ttm:.2f}s"
    jumps = [b["workers"] - a["workers"] for a, b in zip(series, series[1:])]
    assert max(jumps) >= 2, jumps


def test_autoscale_false_with_min_below_max_is_fixed_pool_of_min(serve):
    port = start(serve, bridge_min_workers=1, bridge_max_workers=4, bridge_autoscale=False).port
    s = get_json(port, "/stats")["bridge"]
    assert s["autoscale"] is False and s["workers"] == 1, s
    monitor(port, 1500, every=10)
    results = burst(port, sleeps(3, 300))
    assert statuses(results) == [200] * 3
    total = wall(results)
    assert total >= 0.85, f"3 × 300 ms on a fixed pool of 1 must run one after another, took {total:.2f}s"
    series = samples(port)
    assert {x["workers"] for x in series} == {1}, sorted({x["workers"] for x in series})
    assert get_json(port, "/stats")["bridge"]["scale_ups"] == 0


def test_autoscale_default_on_when_max_above_min(serve):
    port = start(serve, bridge_min_workers=2, bridge_max_workers=5).port
    s = get_json(port, "/stats")["bridge"]
    assert (s["autoscale"], s["workers"], s["workers_min"], s["workers_max"]) == (True, 2, 2, 5), s


@pytest.mark.parametrize("kw,expected", [
    ({"bridge_min_workers": 0}, (1, 1)),           # < 1 → 1
    ({"bridge_min_workers": 3}, (3, 3)),           # only min → max = min
    ({"bridge_max_workers": 3}, (3, 3)),           # only max → min = max
    ({"bridge_min_workers": 3, "bridge_max_workers": 2}, (3, 3)),  # max < min → min
])
def test_bridge_worker_knobs_clamp(serve, kw, expected):
    port = start(serve, **kw).port
    s = get_json(port, "/stats")["bridge"]
    assert (s["workers_min"], s["workers_max"]) == expected, s
    assert s["workers"] == expected[0], s


# --- native worker limits (docs/internals/architecture.md#knobs) --------------------------------------------


@pytest.mark.parametrize("kw,message", [
    ({"max_workers": 300}, "invalid worker limits"),
    ({"min_workers": 0}, "min_workers out of range"),
    ({"min_workers": 65536}, "min_workers out of range"),
    ({"max_workers": 0}, "max_workers out of range"),
    ({"max_workers": 70000}, "max_workers out of range"),
    ({"min_workers": 5, "max_workers": 2}, "invalid worker limits"),
    ({"runtime_threads": 0}, "runtime_threads out of range"),
    ({"runtime_threads": 65536}, "runtime_threads out of range"),
])
def test_native_worker_limits_rejected_before_binding(kw, message):
    from conftest import free_port
    port = free_port()
    proc = run_script(LIMITS_APP, str(port), env=app_env(kw))
    out = proc.stdout
    assert proc.returncode not in (0, None), out
    assert f"ValueError: {message}" in out, out
    assert "STARTUP-RAN" in out, out  # the app itself was set up; run() raised
    assert "BOUND None" in out, out
    assert "PORT-FREE True" in out, out
    assert port_is_free(port)


def test_native_worker_threads_follow_max_workers_and_runtime_threads(serve):
    port = serve(APP, env=app_env({"max_workers": 3}, BRIDGE_RUN="app")).port
    s = get_json(port, "/stats")["server"]
    assert s["workers_active"] == 3, s
    port = serve(APP, env=app_env({"max_workers": 3, "runtime_threads": 2}, BRIDGE_RUN="app")).port
    s = get_json(port, "/stats")["server"]
    assert s["workers_active"] == 2, s


def test_slow_sync_handlers_leave_the_event_loop_its_turns(serve):
    """Six clients keep 50 ms sync handlers coming while an `async def` handler sleeps 1 s: its
    sleep ends after about one more batch, not after the loop ran a growing pile of them (the
    wake-up fd's poll used to run beside the one already scheduled, adding one batch per turn:
    2-3 s here)."""
    import http.client
    import threading

    srv = serve("apps/fair_app.py")
    stop = threading.Event()

    def load():
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        while not stop.is_set():
            conn.request("GET", "/cpu")
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        took = [get_json(srv.port, "/sleep")["took"] for _ in range(3)]
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert max(took) < 1.8, took
