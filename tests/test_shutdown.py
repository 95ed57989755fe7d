"""Graceful stop on SIGTERM/SIGINT (docs/internals/bridge.md#start-and-stop, docs/internals/framework.md).

In-flight requests (running or still queued) complete with 200, the listener is closed at once
(new connections refused), idle keep-alive connections are closed, background tasks share the
drain, shutdown handlers run after it and the process exits 0. `shutdown_timeout_s` bounds the
drain: a handler that outlives it is cut (its socket closed, no 503) and the process still exits
soon after the grace period.
"""
from __future__ import annotations

import signal
import threading
import time

import pytest

from apps.bridge_support import (
    app_env, brief, burst, connect_refused, quiet_serve, read_one, request, wait_for,
)

APP = "apps/bridge_app.py"


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


def events(path):
    return path.read_text().splitlines() if path.exists() else []


class Load:
    """A burst of requests running in a thread."""

    def __init__(self, port, paths, **kw):
        self.results = None
        self.thread = threading.Thread(target=self._run, args=(port, paths), kwargs=kw)
        self.thread.start()

    def _run(self, port, paths, **kw):
        self.results = burst(port, paths, **kw)

    def join(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        return self.results


def test_sigterm_lets_in_flight_requests_finish(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({"bridge_min_workers": 8, "bridge_max_workers": 8},
                                    BRIDGE_EVENTS=str(log)))
    load = Load(server.port, [f"/slow/event?ms=1500&tag=r{i}" for i in range(4)])
    assert wait_for(lambda: sum(e.startswith("begin:") for e in events(log)) == 4, 5), events(log)
    t_sig = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    # The listener closes at once: new connections are refused while the 4 requests still run.
    assert wait_for(lambda: connect_refused(server.port), 0.5, every=0.02), \
        "new connections were still accepted after SIGTERM"
    refused_after = time.monotonic() - t_sig
    results = load.join()
    assert [r.status for r in results] == [200] * 4, brief(results)
    assert sorted(r.json()["tag"] for r in results) == ["r0", "r1", "r2", "r3"]
    done = min(r.t_send + r.elapsed for r in results) - t_sig
    assert refused_after < done, f"refused only {refused_after:.2f}s after SIGTERM, requests done at {done:.2f}s"
    code = server.proc.wait(timeout=10)
    took = time.monotonic() - t_sig
    assert code == 0, server.logs()
    assert took < 3.0, f"exit took {took:.2f}s after SIGTERM"
    ev = events(log)
    assert ev.index("shutdown") > max(i for i, e in enumerate(ev) if e.startswith("end:")), ev
    assert ev[-1] == "run-returned:None", ev


def test_queued_requests_are_still_dispatched_during_drain(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({"bridge_min_workers": 1, "bridge_max_workers": 1},
                                    BRIDGE_EVENTS=str(log)))
    load = Load(server.port, [f"/slow/event?ms=300&tag=q{i}" for i in range(3)], stagger=0.02)
    assert wait_for(lambda: "begin:q0" in events(log), 5), events(log)
    time.sleep(0.1)  # q1, q2 are queued behind q0
    server.proc.send_signal(signal.SIGTERM)
    results = load.join()
    assert [r.status for r in results] == [200] * 3, brief(results)
    assert server.proc.wait(timeout=10) == 0, server.logs()


def test_idle_keepalive_connection_closed_on_stop(serve):
    server = serve(APP, env=app_env({}))
    idle = server.connect()
    try:
        idle.sendall(b"GET /sync HTTP/1.1\r\nHost: t\r\n\r\n")
        r = read_one(idle)
        assert r.status == 200 and r.body == b"ok", r.summary()
        load = Load(server.port, ["/async/sleep?ms=1000"])  # keeps the drain busy for ~1 s
        time.sleep(0.2)
        t_sig = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        idle.settimeout(3)
        try:
            eof = idle.recv(1) == b""
        except ConnectionResetError:
            eof = True
        closed_after = time.monotonic() - t_sig
        assert eof and closed_after < 0.5, f"idle keep-alive connection not closed at stop ({closed_after:.2f}s)"
        assert [x.status for x in load.join()] == [200]
    finally:
        idle.close()
    assert server.proc.wait(timeout=10) == 0


def test_shutdown_timeout_bounds_the_drain(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({"shutdown_timeout_s": 1}, BRIDGE_EVENTS=str(log)))
    load = Load(server.port, ["/slow/event?ms=10000&tag=stuck"])
    assert wait_for(lambda: "begin:stuck" in events(log), 5), events(log)
    t_sig = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(timeout=10)
    took = time.monotonic() - t_sig
    assert code == 0, server.logs()
    assert 0.8 <= took < 3.0, f"expected an exit roughly after the 1 s grace period, took {took:.2f}s"
    (r,) = load.join()
    # Cut at the deadline: the socket is closed, no 503 and no response at all.
    assert r.status == 0 and r.raw == b"", r.summary()
    # ... and the operator is told, at the start and at the cut
    logs = server.logs()
    assert "stopping: 1 request(s) in flight, up to 1.0s to finish" in logs, logs
    assert "stopping: 1 request(s) not finished in time are cut" in logs, logs
    ev = events(log)
    assert "end:stuck" not in ev and "shutdown" in ev and ev[-1] == "run-returned:None", ev


@pytest.mark.parametrize("app", [APP, "apps/blocking_app.py"])  # with and without an event loop
def test_a_request_whose_client_left_while_queued_is_not_started(serve, tmp_path, app):
    """Four clients each wait 1.3 s for a handler that blocks 0.8 s: the first is served, the
    second's handler starts in time, the last two leave before their turn and their handlers
    never start (nothing they would do happens after their client gave up)."""
    log = tmp_path / "events.log"
    server = serve(app, env=app_env({}, BRIDGE_EVENTS=str(log)))
    results = burst(server.port, [f"/sync/event?ms=800&tag=c{i}" for i in range(4)], stagger=0.02, timeout=1.3)
    assert results[0].status == 200, brief(results)
    time.sleep(1.5)
    started = sorted(e for e in events(log) if e.startswith("begin:"))
    assert started == ["begin:c0", "begin:c1"], events(log)
    s = request(server.port, "/stats").json()["bridge"]
    assert s["skipped_cancelled"] == 2, s


@pytest.mark.parametrize("app", [APP, "apps/blocking_app.py"])
def test_the_grace_period_bounds_a_batch_of_blocking_handlers(serve, tmp_path, app):
    """SIGTERM while blocking handlers wait in line: those not started when
    `shutdown_timeout_s` ends are not started, so the stop takes about the grace period, not
    the sum of the handlers."""
    log = tmp_path / "events.log"
    server = serve(app, env=app_env({"shutdown_timeout_s": 1}, BRIDGE_EVENTS=str(log)))
    first = Load(server.port, ["/sync/event?ms=700&tag=q0"], timeout=20)
    assert wait_for(lambda: "begin:q0" in events(log), 5), events(log)
    # five more arrive while q0 blocks: the next poll takes them as one batch
    load = Load(server.port, [f"/sync/event?ms=700&tag=q{i}" for i in range(1, 6)], timeout=20)
    time.sleep(0.1)
    t_sig = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0, server.logs()
    took = time.monotonic() - t_sig
    assert took < 2.5, f"stop took {took:.2f}s: the queued handlers ran past the grace period"
    started = [e for e in events(log) if e.startswith("begin:")]
    assert 1 <= len(started) <= 3, started
    results = first.join() + load.join()
    assert sum(r.status == 200 for r in results) == len([e for e in events(log) if e.startswith("end:")])


def test_background_tasks_share_the_drain(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({}, BRIDGE_EVENTS=str(log)))
    r = request(server.port, "/bg/slow?key=drain&ms=600")
    assert r.status == 200, r.summary()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0, server.logs()
    ev = events(log)
    assert "drain:done" in ev, f"the pending background task was dropped at shutdown: {ev}"
    assert ev.index("drain:done") < ev.index("shutdown"), ev


def test_sigint_stops_gracefully_without_keyboardinterrupt(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({}, BRIDGE_EVENTS=str(log)))
    load = Load(server.port, ["/slow/event?ms=400&tag=int"])
    assert wait_for(lambda: "begin:int" in events(log), 5)
    server.proc.send_signal(signal.SIGINT)
    (r,) = load.join()
    assert r.status == 200, r.summary()
    assert server.proc.wait(timeout=10) == 0, server.logs()
    assert "KeyboardInterrupt" not in server.logs()
    assert events(log)[-1] == "run-returned:None"
