"""Serving without an event loop (docs/internals/bridge.md#serving-without-an-event-loop).

A sync app that has not imported asyncio is served by the bridge's plain loop: asyncio, ssl
and uvloop are never imported. The first request that needs a loop creates it and the loop
serves from then on; stops, `sys.exit()`, `micropython.schedule` and shutdown hooks work in
either mode. Every test runs the app as a real server (tests/apps/direct_app.py).
"""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import websockets
from conftest import TESTS, free_port

APP = "apps/direct_app.py"


def state(srv) -> dict:
    return srv.client.get("/state").json()


def test_a_sync_app_is_served_without_asyncio(serve) -> None:
    srv = serve(APP, env={"VIPERHTTP_NO_UVLOOP": ""})  # uvloop allowed: it must not load either
    for _ in range(50):
        assert srv.client.get("/hello").json() == {"msg": "ok"}
    assert state(srv) == {"loop": False, "asyncio": False, "ssl": False, "events": []}
    assert srv.stop() == 0
    assert "shutdown_hook_ran" in srv.logs()  # a hook needs no loop until it runs: one is made then


@pytest.mark.parametrize("path, body", [
    ("/async", {"async": True}),
    ("/sleep?n=1", {"slept": "1"}),
    ("/bg", {"bg": True}),
])
def test_the_first_request_that_needs_a_loop_brings_it(serve, path: str, body: dict) -> None:
    srv = serve(APP)
    assert state(srv)["loop"] is False
    assert srv.client.get(path).json() == body
    after = state(srv)
    assert after["loop"] is True and after["asyncio"] is True
    # the loop serves from now on, sync and async alike
    assert srv.client.get("/hello").json() == {"msg": "ok"}
    assert srv.client.get("/sleep?n=2").json() == {"slept": "2"}
    if path == "/bg":
        deadline = time.monotonic() + 5
        while "bg" not in state(srv)["events"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state(srv)["events"] == ["bg"]
    assert srv.stop() == 0


def test_a_stream_brings_the_loop(serve) -> None:
    srv = serve(APP)
    r = srv.client.get("/stream")
    assert (r.status_code, r.text) == (200, "abc")
    assert state(srv)["loop"] is True


def test_a_websocket_brings_the_loop(serve) -> None:
    srv = serve(APP)
    assert state(srv)["loop"] is False

    async def talk() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/ws") as ws:
            await ws.send("hi")
            return await ws.recv()

    assert asyncio.run(talk()) == "echo:hi"
    assert state(srv)["loop"] is True


def test_requests_in_flight_at_the_switch_are_all_answered(serve) -> None:
    """Sync and async requests arrive together: the batch that meets the first coroutine is
    split between the plain loop (before it) and the loop's workers (from it on). Four requests
    sleep, one per default worker: more would be the bridge's overload (`503 Server Busy` once
    the queue has waited `bridge_enqueue_wait_ms`), in either mode."""
    srv = serve(APP)
    results: dict = {}

    def get(i: int) -> None:
        with httpx.Client(base_url=srv.base, timeout=10) as c:
            path = f"/sleep?n={i}" if i % 15 == 0 else "/hello"
            r = c.get(path)
            results[i] = (path, r.status_code, r.text)

    threads = [threading.Thread(target=get, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60
    for i, (path, status, text) in sorted(results.items()):
        assert (status, text) == (200, f'{{"slept":"{i}"}}' if path.startswith("/sleep") else '{"msg":"ok"}'), srv.logs()
    assert state(srv)["loop"] is True


def test_an_app_that_imports_asyncio_has_its_loop_from_the_start(serve) -> None:
    srv = serve(APP, "asyncio")
    assert state(srv)["loop"] is True


def test_a_handler_that_imports_asyncio_gets_the_loop_it_set(serve) -> None:
    srv = serve(APP)
    assert srv.client.get("/import-asyncio").json() == {"imported": True}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = state(srv)
        if now["events"]:
            break
        time.sleep(0.02)
    # the loop the handler set is the one that serves, so what it scheduled on it ran
    assert now == {"loop": True, "asyncio": True, "ssl": now["ssl"], "events": ["scheduled-on-the-set-loop"]}


def test_micropython_schedule_runs_on_the_interpreter_thread(serve) -> None:
    srv = serve(APP)
    assert srv.client.get("/schedule").json() == {"scheduled": True}
    assert state(srv) == {"loop": False, "asyncio": False, "ssl": False, "events": ["scheduled:interpreter"]}


def test_sigterm_drains_a_direct_server(serve) -> None:
    """The signal stops the listener at once; the request in a sync handler finishes; the process
    exits 0 after the shutdown hook, well within the grace period."""
    srv = serve(APP)
    got: dict = {}

    def slow() -> None:
        with httpx.Client(timeout=10) as c:
            got["slow"] = c.get(srv.url("/slow?s=0.6")).json()

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=10) == 0
    took = time.monotonic() - started
    t.join()
    assert got["slow"] == {"slept": 0.6}
    assert took < 5, took  # not the 10 s grace period: the drain ended once nothing was in flight
    assert "shutdown_hook_ran" in srv.logs()
    assert "Traceback" not in srv.logs()


def test_a_request_that_needs_the_loop_during_the_drain_is_served(serve) -> None:
    """SIGTERM arrives while a sync handler runs and an async request waits behind it: the drain
    meets the coroutine, makes the loop and finishes there."""
    srv = serve(APP)
    got: dict = {}

    def get(name: str, path: str) -> None:
        with httpx.Client(timeout=10) as c:
            got[name] = c.get(srv.url(path)).json()

    slow = threading.Thread(target=get, args=("slow", "/slow?s=0.8"))
    slow.start()
    time.sleep(0.2)
    late = threading.Thread(target=get, args=("async", "/sleep?n=9"))
    late.start()
    time.sleep(0.2)
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=10) == 0
    slow.join()
    late.join()
    assert got == {"slow": {"slept": 0.8}, "async": {"slept": "9"}}
    assert "Traceback" not in srv.logs()


def test_app_stop_from_another_thread(serve) -> None:
    srv = serve(APP)
    assert srv.client.get("/stop").json() == {"stopping": True}
    assert srv.proc.wait(timeout=10) == 0
    assert "shutdown_hook_ran" in srv.logs()


def test_sys_exit_ends_a_direct_server_with_its_status(serve) -> None:
    srv = serve(APP)
    r = srv.client.get("/exit")
    assert r.status_code == 503
    assert srv.proc.wait(timeout=10) == 3
    assert "interpreter_exit" in srv.logs()


@pytest.mark.parametrize("mode", ["direct", "loop"])
def test_requests_whose_clients_left_while_queued_are_dropped_and_serving_goes_on(serve, mode: str) -> None:
    """Requests whose clients disconnect while they wait in the native queue are dropped by the
    poll, in either mode, and the next request is answered at once. (Here the wake-up fd is
    still readable from the wake that brought the slow request; the bare contract is checked
    by the next test.)"""
    srv = serve(APP, *(["asyncio"] if mode == "loop" else []))
    assert state(srv)["loop"] is (mode == "loop")
    got: dict = {}

    def slow() -> None:
        with httpx.Client(timeout=10) as c:
            got["slow"] = c.get(srv.url("/slow?s=0.6")).status_code

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.15)  # the interpreter thread is in the sync handler now
    socks = []
    for _ in range(5):  # queued behind it, then abandoned
        s = srv.connect()
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    time.sleep(0.1)
    for s in socks:
        s.close()
    t.join()
    assert got["slow"] == 200
    time.sleep(0.2)  # the bridge has polled the abandoned batch
    started = time.monotonic()
    with httpx.Client(timeout=3) as c:
        assert c.get(srv.url("/hello")).json() == {"msg": "ok"}
    assert time.monotonic() - started < 1.0


def test_an_empty_poll_always_leaves_the_consumer_parked() -> None:
    """`_poll_batch` takes a batch made only of requests whose clients left while they were
    queued: it comes back empty, and the consumer must be parked, so that the next request's
    push makes the wake-up fd readable (before the fix it stayed un-parked and that request
    woke nobody). Driven step by step in tests/apps/poll_contract_app.py, over real sockets."""
    out = subprocess.run([sys.executable, str(TESTS / "apps/poll_contract_app.py"), str(free_port())],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["queued=True", "cancelled=True", "first_poll=0", "woken=True",
                                  "second_poll=1", "status=HTTP/1.1", "200", "OK", "done"], out.stderr
