"""Lifespan handlers run by `app.run()` (docs/internals/lifespan.md; docs/internals/bridge.md#start-and-stop).

Startup handlers (sync and async, `@app.on_event` and `add_event_handler`) run in registration
order and are all done before the listener accepts; shutdown handlers run after SIGTERM, after
in-flight requests drained, in order; `run()` then returns None and the script exits 0. A
startup handler that raises stops the start: later handlers do not run, nothing binds, shutdown
handlers do not run, `startup_error` is logged and `run()` raises
`RuntimeError("startup failed")` (`viperhttp_bridge.StartupHandlerError`) from the handler's exception. Events are recorded one per line
into a file passed to the app through LIFESPAN_LOG.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from apps.bridge_support import (
    ROOT, TESTS, app_env, connect_refused, port_is_free, quiet_serve, request, run_script, wait_for,
)

APP = "apps/bridge_lifespan_app.py"

STARTUP = [
    "startup:s1-sync", "startup:s2-async-begin", "startup:s2-async-end", "startup:s3-sync", "startup:s4-sync",
]
SHUTDOWN = ["shutdown:d1-async-begin", "shutdown:d1-async-end", "shutdown:d2-sync"]


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


def events(path: Path):
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def popen():
    """Starts app scripts without waiting for them to listen; kills leftovers by pid."""
    procs = []

    def start(script, port, env):
        full = dict(os.environ)
        full.update({"PYTHONUNBUFFERED": "1", "VIPERHTTP_NO_UVLOOP": "1"})
        full.update(env)
        proc = subprocess.Popen([sys.executable, str(TESTS / script), str(port)], env=full,
                                cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=5)
        if p.stdout:
            p.stdout.close()


def test_startup_handlers_in_order_before_first_request(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({}, LIFESPAN_LOG=str(log)))
    # `serve` returned once the port accepted: every startup handler had finished by then.
    assert events(log) == ["main:run"] + STARTUP, events(log)
    r = request(server.port, "/")
    assert r.status == 200 and r.json() == {"startup": ["s1", "s2", "s3", "s4"]}, r.summary()


def test_port_not_accepting_while_startup_runs(popen, tmp_path):
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    proc = popen(APP, port, app_env({}, LIFESPAN_LOG=str(log)))
    assert wait_for(lambda: "startup:s2-async-begin" in events(log), 10), events(log)
    # s2 sleeps 0.5 s: nothing may be listening yet.
    assert connect_refused(port), "the listener accepted before the startup handlers finished"
    assert wait_for(lambda: "startup:s4-sync" in events(log), 5), events(log)
    assert wait_for(lambda: not connect_refused(port), 5)
    r = request(port, "/")
    assert r.json() == {"startup": ["s1", "s2", "s3", "s4"]}, r.summary()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_shutdown_handlers_run_in_order_after_sigterm(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({}, LIFESPAN_LOG=str(log)))
    assert request(server.port, "/").status == 200
    assert not any(e.startswith("shutdown:") for e in events(log))
    code = server.stop()
    assert code == 0, server.logs()
    ev = events(log)
    assert ev == ["main:run"] + STARTUP + ["request:index"] + SHUTDOWN + ["main:run-returned:None"], ev


def test_shutdown_handlers_run_after_in_flight_requests_drained(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(APP, env=app_env({}, LIFESPAN_LOG=str(log)))
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", request(server.port, "/slow?ms=600")))
    th.start()
    assert wait_for(lambda: "request:slow-begin" in events(log), 5)
    code = server.stop()
    th.join()
    assert code == 0, server.logs()
    assert out["r"].status == 200 and out["r"].body == b"slow done", out["r"].summary()
    ev = events(log)
    assert ev.index("request:slow-end") < ev.index("shutdown:d1-async-begin"), ev
    assert ev[-4:] == SHUTDOWN + ["main:run-returned:None"], ev


@pytest.mark.parametrize("mode,message,not_run", [
    ("fail_sync", "db down (sync)", ["startup:s4-sync"]),
    ("fail_async", "db down (async)", ["startup:s3-sync", "startup:s4-sync"]),
])
def test_failing_startup_handler_stops_the_start(tmp_path, mode, message, not_run):
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    proc = run_script(APP, str(port), env=app_env({}, LIFESPAN_LOG=str(log), LIFESPAN_MODE=mode))
    out = proc.stdout
    ev = events(log)
    assert proc.returncode != 0, out
    assert not set(not_run) & set(ev), f"a later startup handler ran: {ev}"
    assert not any(e.startswith("shutdown:") for e in ev), f"shutdown handlers ran: {ev}"
    assert not any(e.startswith("main:run-returned") for e in ev), ev
    assert port_is_free(port)
    assert "startup_error" in out, f"no `startup_error` log line:\n{out}"
    assert message in out, out
    assert "StartupHandlerError: startup failed" in out, f"run() must raise StartupHandlerError, a RuntimeError ('startup failed'):\n{out}"
    assert "direct cause of the following exception" in out, \
        f"the handler's exception must be the __cause__:\n{out}"
    import viperhttp_bridge
    assert issubclass(viperhttp_bridge.StartupHandlerError, RuntimeError)  # the original's class


def test_async_startup_handler_outliving_startup_timeout_keeps_running(popen, tmp_path):
    """docs/internals/lifespan.md: a handler still running after `startup_timeout_s` is left
    running as a background task and serving starts."""
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    t0 = time.monotonic()
    proc = popen(APP, port, app_env({"startup_timeout_s": 0.5}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="slow"))
    started = wait_for(lambda: proc.poll() is not None or not connect_refused(port), 10, every=0.02)
    took = time.monotonic() - t0
    assert proc.poll() is None, f"the server died: {proc.stdout.read().decode(errors='replace')}"
    assert started and took < 1.4, f"serving did not start after startup_timeout_s (took {took:.2f}s)"
    assert "startup:s2-async-end" not in events(log)
    assert wait_for(lambda: "startup:s2-async-end" in events(log), 3), events(log)
    assert request(port, "/").status == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


# --- `ViperHTTP(lifespan=...)` and the viperhttp_lifespan module (docs/internals/lifespan.md) ------------

CM_APP = "apps/lifespan_cm_app.py"


def test_lifespan_context_manager_wraps_the_event_handlers(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(CM_APP, env=app_env({}, LIFESPAN_LOG=str(log)))
    assert events(log) == ["main:run", "cm:enter-begin", "cm:enter-end", "startup:h1"], events(log)
    r = request(server.port, "/")
    assert r.json() == {"db": "conn-1", "attr": "conn-1", "sync": None, "same": True}, r.summary()
    assert server.stop() == 0, server.logs()
    assert events(log)[-4:] == ["request:index", "shutdown:d1", "cm:exit", "main:run-returned:None"], events(log)


def test_what_the_lifespan_yields_is_each_requests_state_as_in_starlette(serve, tmp_path):
    """FastAPI's lifespan state: `yield {"db": ...}` is read back as `request.state.db`, each
    request starting from its own shallow copy (a request's changes stay its own). It only went
    into `app.state` (kept too, the device framework's place): `request.state.db` was missing."""
    log = tmp_path / "events.log"
    server = serve(CM_APP, env=app_env({}, LIFESPAN_LOG=str(log)))
    for _ in range(2):
        r = request(server.port, "/request-state")
        assert r.json() == {"seen": {"db": "conn-1"}, "db_attr": "changed by this request",
                            "app_db": "conn-1"}, r.summary()
    # Starlette's `websocket.state` too (FastAPI's `websocket.state.db`): it had no `state`
    for _ in range(2):
        with ws_connect(f"ws://127.0.0.1:{server.port}/ws-state") as ws:
            assert json.loads(ws.recv(timeout=10)) == {"seen": {"db": "conn-1"}, "app_db": "conn-1",
                                                       "db_attr": "changed by this connection"}
    assert server.stop() == 0, server.logs()
    sync = serve(CM_APP, env=app_env({}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="sync"))
    assert request(sync.port, "/request-state").json()["seen"] == {}  # it yielded None
    assert sync.stop() == 0


def test_lifespan_sync_context_manager(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(CM_APP, env=app_env({}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="sync"))
    assert request(server.port, "/").json()["sync"] == "r"
    assert server.stop() == 0
    ev = events(log)
    # FastAPI 0.165 / Starlette: with `lifespan=` the on_event handlers are not run (here said once)
    assert ev[:2] == ["main:run", "cm:enter-sync"] and ev[-2:] == ["cm:exit-sync", "main:run-returned:None"], ev
    assert "startup:h1" not in ev and "shutdown:d1" not in ev, ev
    assert server.logs().count("on_event handlers not run: the app has lifespan=") == 1, server.logs()
    assert "(h1, d1)" in server.logs(), server.logs()


def test_lifespan_enter_failure_stops_the_start(tmp_path):
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    proc = run_script(CM_APP, str(port), env=app_env({}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="fail_enter"))
    ev = events(log)
    assert proc.returncode != 0, proc.stdout
    assert "startup:h1" not in ev and "shutdown:d1" not in ev and not any(e.startswith("cm:exit") for e in ev), ev
    assert "StartupHandlerError: startup failed" in proc.stdout and "cm enter failed" in proc.stdout
    assert "startup_error" in proc.stdout
    assert port_is_free(port)


def test_startup_handler_failure_exits_the_lifespan_with_the_error(tmp_path):
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    proc = run_script(CM_APP, str(port), env=app_env({}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="fail_handler"))
    ev = events(log)
    assert proc.returncode != 0, proc.stdout
    assert ev == ["main:run", "cm:enter-begin", "cm:enter-end", "startup:h1",
                  "cm:exit-exc:RuntimeError:handler failed"], ev
    assert "StartupHandlerError: startup failed" in proc.stdout and "handler failed" in proc.stdout
    assert port_is_free(port)


def test_a_start_that_fails_after_the_startup_step_exits_the_lifespan(tmp_path):
    """The port is taken: the lifespan was entered and the startup handlers ran, so the
    shutdown step runs before `run()` raises (what the startup opened is closed)."""
    import socket

    log = tmp_path / "events.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_script(CM_APP, str(port), env=app_env({}, LIFESPAN_LOG=str(log)))
    ev = events(log)
    assert proc.returncode != 0, proc.stdout
    assert "Address already in use" in proc.stdout
    assert ev[:4] == ["main:run", "cm:enter-begin", "cm:enter-end", "startup:h1"], ev
    assert "shutdown:d1" in ev and any(e.startswith("cm:exit") for e in ev), ev


def test_lifespan_exit_failure_is_logged_and_the_process_exits_cleanly(serve, tmp_path):
    log = tmp_path / "events.log"
    server = serve(CM_APP, env=app_env({}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="fail_exit"))
    assert server.stop() == 0, server.logs()
    assert "shutdown_error" in server.logs() and "cm exit failed" in server.logs()
    assert events(log)[-3:] == ["shutdown:d1", "cm:exit-failing", "main:run-returned:None"], events(log)


def test_lifespan_enter_outliving_startup_timeout_lets_serving_start(popen, tmp_path):
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    t0 = time.monotonic()
    proc = popen(CM_APP, port, app_env({"startup_timeout_s": 0.4}, LIFESPAN_LOG=str(log), LIFESPAN_MODE="slow"))
    assert wait_for(lambda: proc.poll() is not None or not connect_refused(port), 10, every=0.02)
    assert proc.poll() is None and time.monotonic() - t0 < 1.4
    assert "cm:enter-end" not in events(log)
    assert wait_for(lambda: "startup:h1" in events(log), 3), events(log)
    assert request(port, "/").json()["db"] == "conn-1"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert events(log)[-2:] == ["cm:exit", "main:run-returned:None"], events(log)


@pytest.mark.parametrize("shutdown_sleep,after_run", [("2.5", "0"), ("0", "2.5")])
def test_sigterm_during_a_slow_lifespan_enter_cancels_it_before_shutdown(popen, tmp_path,
                                                                        shutdown_sleep, after_run):
    """SIGTERM while the lifespan context manager is still entering in the background (past
    `startup_timeout_s`): the startup is cancelled before the shutdown step, so it cannot
    finish entering later — during a slow shutdown step, or after run() returned (entered,
    never exited). It never entered the default lifespan, so no on_event handler runs."""
    from conftest import free_port
    log = tmp_path / "events.log"
    port = free_port()
    proc = popen(CM_APP, port, app_env({"startup_timeout_s": 0.3}, LIFESPAN_LOG=str(log),
                                       LIFESPAN_MODE="slow", LIFESPAN_SHUTDOWN_SLEEP=shutdown_sleep,
                                       LIFESPAN_AFTER_RUN=after_run))
    assert wait_for(lambda: proc.poll() is not None or not connect_refused(port), 10, every=0.02)
    assert proc.poll() is None and "cm:enter-end" not in events(log), events(log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    out = proc.stdout.read().decode(errors="replace")
    ev = events(log)
    # the lifespan never entered the default lifespan, so no on_event handler runs (FastAPI's rule)
    expected = ["main:run", "cm:enter-begin", "main:run-returned:None"]
    assert ev == expected + (["main:loop-done"] if after_run != "0" else []), (ev, out)
    assert "startup_cancelled" in out, out


def test_lifespan_module_functions_and_state_attribute_access(serve, tmp_path):
    server = serve(CM_APP, env=app_env({}, LIFESPAN_LOG=str(tmp_path / "events.log")))
    r = request(server.port, "/module-api")
    assert r.status == 200, r.summary()
    assert r.json() == {
        "state_attr": 2, "state_is_dict": True, "missing_attr": "AttributeError", "returned_same": True,
        "handlers_shutdown": ["d1", "extra"], "handlers_startup": ["h1"], "handlers_unknown": [],
        "bad_event": "ValueError: event must be 'startup' or 'shutdown'",
        "bad_handler": "TypeError: handler must be callable",
        "bad_on_event": "ValueError: event must be 'startup' or 'shutdown'",
        "none_exc_type": "TypeError: exc_type is required",
        "none_exc_decorator": "TypeError: exc_type is required",
        "bad_lifespan": "TypeError: lifespan must be callable",
        "resolved": "on_app_error", "resolved_none": True, "class_has": [True, True, True],
    }
    assert request(server.port, "/child-error").json() == {"handled": "ChildError"}


BUSY_PORT_SCRIPT = '''\
import errno, socket, sys
import viperhttp
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
port = taken.getsockname()[1]
app = viperhttp.ViperHTTP()
if sys.argv[1] == "catch":
    try:
        app.run(host="127.0.0.1", port=port)
    except OSError as exc:
        print("caught", type(exc).__name__, exc.errno == errno.EADDRINUSE, exc.port == port, flush=True)
        sys.exit(0)
app.run(host="127.0.0.1", port=port)
'''


def test_a_scripts_run_on_a_taken_port_is_one_line_and_a_catchable_oserror(tmp_path):
    """`python main.py` whose port is taken ended in the framework's traceback (`OSError: bind
    ...`); `viperhttp run` says one line. Now, as uvicorn: one logged line naming the address,
    and uncaught the `AddressInUseError` (an `OSError`, errno EADDRINUSE) ends the script with
    its own line and status 1, no stack; a script can still catch it."""
    script = tmp_path / "busy.py"
    script.write_text(BUSY_PORT_SCRIPT)
    proc = run_script(str(script), "uncaught")
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "Traceback" not in out and "_native" not in out, out
    line = "[Errno 98] error while attempting to bind on address 127.0.0.1:"
    assert out.count(line) == 2 and "ERROR viperhttp.bridge: startup failed: " + line in out, out
    assert "AddressInUseError: " + line in out and out.strip().endswith(": Address already in use"), out
    caught = run_script(str(script), "catch")
    assert caught.returncode == 0 and "caught AddressInUseError True True" in caught.stdout, caught.stdout


def test_a_second_run_in_the_same_thread_serves_with_its_startup_handlers():
    """After `app.run()` returns, the thread's loop answers the device idiom
    `asyncio.get_event_loop().run_forever()` at once; a second `run()` in that thread (a script
    that serves again, a test running two apps) then failed at its first `run_until_complete`:
    `RuntimeError: Event loop stopped before Future completed`. Each run now serves."""
    from conftest import free_port
    from support.run_in_thread import run_answering_once

    import viperhttp
    from viperhttp import ViperHTTP

    for attempt in range(2):
        viperhttp.reset()
        events = []
        app = ViperHTTP()

        @app.on_event("startup")
        async def started():
            events.append("startup")

        @app.get("/")
        def index():
            return {"run": attempt}

        answers = run_answering_once(app, free_port())
        assert (answers, events) == ([{"run": attempt}], ["startup"]), attempt
    viperhttp.reset()


def test_address_in_use_error_survives_pickling_and_copying():
    """It crosses processes (multiprocessing, concurrent.futures) and `copy.copy` as an OSError
    does: it was rebuilt from (errno, strerror) into `__init__(host, port)` and raised."""
    import copy
    import errno
    import pickle

    from viperhttp_bridge import AddressInUseError

    error = AddressInUseError("::1", 8000)
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert (type(again), again.host, again.port, again.errno, str(again)) == (
            AddressInUseError, "::1", 8000, errno.EADDRINUSE, str(error))
