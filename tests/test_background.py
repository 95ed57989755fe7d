"""Background tasks run by the bridge, over real sockets (docs/internals/framework.md;
docs/internals/bridge.md#one-request).

Tasks are injected when the handler declares `background_tasks`, run after the response was
handed to the runtime (the client has its response before a slow task finishes), sync and async
alike, in `add_task` order; failures are logged `bg_task_error` and never reach the client;
they also run when an exception handler produced the response, and are dropped when the
request ended in an unhandled 500. Effects are recorded into `app.state` and read back by a
later request.
"""
from __future__ import annotations

import time

import pytest

from apps.bridge_support import app_env, burst, get_json, quiet_serve, request, wait_for, wait_for_log

APP = "apps/bridge_app.py"


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


@pytest.fixture
def port(serve):
    return serve(APP, env=app_env({})).port


def state(port, key):
    return get_json(port, f"/state/{key}")["value"]


def wait_state(port, key, expected, timeout=3.0):
    wait_for(lambda: state(port, key) == expected, timeout)
    return state(port, key)


def test_sync_and_async_tasks_run_after_response(port):
    r = request(port, "/bg/basic?key=k1", method="POST")
    assert r.status == 200 and r.json() == {"queued": 3}, r.summary()
    assert wait_state(port, "k1", ["sync", "async", "async-kw"]) == ["sync", "async", "async-kw"]
    s = get_json(port, "/stats")["bridge"]
    assert s["bg_tasks_pending"] == 0, s


def test_response_arrives_before_slow_async_task_finishes(port):
    r = request(port, "/bg/slow?key=k2&ms=1000")
    assert r.status == 200 and r.body == b"queued", r.summary()
    assert r.elapsed < 0.5, f"the response waited for the background task: {r.summary()}"
    assert state(port, "k2") is None  # not done yet
    s = get_json(port, "/stats")["bridge"]
    assert s["bg_tasks_pending"] == 1, s
    assert wait_state(port, "k2", ["done"]) == ["done"]
    assert get_json(port, "/stats")["bridge"]["bg_tasks_pending"] == 0


def test_response_arrives_before_slow_sync_task_finishes(port):
    r = request(port, "/bg/slow_sync?key=k3&ms=800")
    assert r.status == 200 and r.body == b"queued", r.summary()
    assert r.elapsed < 0.5, f"the response waited for the sync background task: {r.summary()}"
    assert wait_state(port, "k3", ["done"]) == ["done"]


def test_task_failure_is_logged_and_not_sent(serve):
    server = serve(APP, env=app_env({}))
    r = request(server.port, "/bg/fail?key=k4")
    assert r.status == 200 and r.body == b"response-unaffected", r.summary()
    assert r.complete and r.trailing == b"", r.summary()
    # A failing task does not skip the others (docs/internals/bridge.md#one-request).
    assert wait_state(server.port, "k4", ["after-failures"]) == ["after-failures"]
    logs = wait_for_log(server, "bg-boom-sync", "bg-boom-async")
    # each line names the request whose task failed
    assert "bg_task_error ValueError('bg-boom-sync') in GET /bg/fail" in logs, logs
    assert "bg_task_error ValueError('bg-boom-async') in GET /bg/fail" in logs, logs
    assert "Traceback" in logs
    r = request(server.port, "/sync")
    assert r.status == 200 and r.body == b"ok"


def test_tasks_run_in_add_order(port):
    assert request(port, "/bg/order?key=k5").status == 200
    assert wait_state(port, "k5", [1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]


def test_tasks_run_when_exception_handler_produced_the_response(port):
    r = request(port, "/bg/handled?key=k6")
    assert r.status == 418 and r.body == b"handled teapot", r.summary()
    assert wait_state(port, "k6", ["ran"]) == ["ran"]


def test_tasks_dropped_after_unhandled_500(port):
    r = request(port, "/bg/unhandled?key=k7")
    assert r.status == 500 and r.body == b"Internal Server Error", r.summary()
    time.sleep(0.3)
    assert state(port, "k7") is None


def test_tasks_from_async_handler(port):
    r = request(port, "/bg/async_handler?key=k8")
    assert r.status == 200 and r.body == b"ok", r.summary()
    assert wait_state(port, "k8", ["from-async-handler"]) == ["from-async-handler"]


def test_injected_task_object_is_empty_per_request(port):
    for _ in range(3):
        r = request(port, "/bg/none")
        assert r.status == 200 and r.json() == {"pending": 0}, r.summary()


def test_many_requests_each_run_their_tasks(port):
    results = burst(port, ["/bg/slow?key=many&ms=200" for _ in range(20)])
    assert [r.status for r in results] == [200] * 20
    assert wait_state(port, "many", ["done"] * 20) == ["done"] * 20


def test_a_responses_own_background_runs_after_it():
    """Starlette's `background=` on responses (a `BackgroundTasks` or a `BackgroundTask`): run
    after the response, after the request's own tasks; a plain dict with a "background" key is
    just data."""
    import viperhttp
    from viperhttp import BackgroundTasks, JSONResponse, StreamingResponse, ViperHTTP
    from viperhttp.background import BackgroundTask
    from viperhttp.testclient import TestClient

    viperhttp.reset()
    app = ViperHTTP()
    log = []

    @app.get("/stream")
    async def stream():
        tasks = BackgroundTasks()
        tasks.add_task(log.append, "after the stream")

        async def body():
            yield b"x"
        return StreamingResponse(body(), background=tasks)

    @app.get("/json")
    def json_reply(background_tasks: BackgroundTasks):
        background_tasks.add_task(log.append, "request's")
        return JSONResponse(content={"ok": True}, background=BackgroundTask(log.append, "response's"))

    @app.get("/data")
    def data():
        return {"background": "blue"}

    try:
        with TestClient(app) as client:
            assert client.get("/stream").content == b"x" and log == ["after the stream"]
            assert client.get("/json").json() == {"ok": True}
            assert log[1:] == ["request's", "response's"]
            assert client.get("/data").json() == {"background": "blue"}
        with pytest.raises(TypeError, match="BackgroundTasks or a BackgroundTask"):
            JSONResponse(content={}, background=lambda: None)
    finally:
        viperhttp.reset()
