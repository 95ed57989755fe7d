"""Dependencies end to end (docs/internals/framework.md) and background tasks (docs/internals/framework.md):
every dependency kind, teardown order on success and on error (observed through the app's /deps/log), errors,
caching; the
registration-time checks in-process."""
import time
from typing import Any, List

import pytest

import viperhttp
from viperhttp import BackgroundTasks, Depends, Router
from support.logs import wait_for_log

APP = "apps/framework_app.py"
INTERNAL = b"Internal Server Error"
FW = "apps/framework_surface_app.py"
TEXT = "text/plain; charset=utf-8"


def test_every_kind_and_teardown_order(serve):
    c = serve(APP).client
    r = c.get("/deps/all")
    assert r.status_code == 200
    assert r.json() == {"gen": "g", "agen": "ag", "value": "v", "avalue": "av", "service": "db-conn",
                        "counter": "c", "acall": "ac", "req_path": "/deps/all"}
    # entered in dict order (sub-deps first), torn down in reverse after the handler
    assert c.get("/deps/log").json() == [
        "gen:enter", "agen:enter", "value", "async_value", "conn", "service", "callable", "async_callable",
        "handler", "agen:exit", "gen:exit",
    ]
    assert c.get("/deps/sync-only").json() == {"gen": "g", "value": "v"}
    assert c.get("/deps/log").json() == ["gen:enter", "value", "handler", "gen:exit"]
    # mode="auto"/"value": a sync generator is treated as yield, an async generator yields its first item
    assert c.get("/deps/auto-modes").json() == {"gen": "g", "agen": "ag"}
    assert c.get("/deps/log").json() == ["gen:enter", "agen:enter", "handler", "agen:exit", "gen:exit"]


def test_teardown_runs_when_the_handler_raises(serve):
    server = serve(APP)
    c = server.client
    r = c.get("/deps/handler-error")
    assert r.status_code == 500 and r.content == INTERNAL
    # the handler's exception is not thrown into the generators: `except` never sees it
    assert c.get("/deps/log").json() == ["gen:enter", "agen:enter", "handler", "agen:exit", "gen:exit"]
    assert "handler failed" in server.logs()


def test_dependency_http_exception_stops_resolution(serve):
    c = serve(APP).client
    r = c.get("/deps/http-error")
    assert r.status_code == 401
    assert r.content == b'{"detail":"no token"}'
    assert r.headers["www-authenticate"] == "Bearer"
    assert c.get("/deps/log").json() == ["gen:enter", "deny", "gen:exit"]


def test_generator_contract_errors_are_500(serve):
    server = serve(APP)
    c = server.client
    for path in ("/deps/mode-yield-error", "/deps/mode-async-yield-error", "/deps/no-yield"):
        r = c.get(path)
        assert (r.status_code, r.content) == (500, INTERNAL), path
    r = c.get("/deps/double-yield")
    assert (r.status_code, r.content) == (500, INTERNAL)  # the teardown error replaces the response
    assert c.get("/deps/log").json() == ["twice:enter", "handler", "twice:again"]
    logs = server.logs()
    for message in ("dependency mode=yield requires generator", "dependency mode=async_yield requires async generator",
                    "dependency generator did not yield", "dependency generator must yield exactly once"):
        assert message in logs, message
    assert c.get("/deps/sync-only").status_code == 200  # the server keeps serving


def test_cache_depth_and_query_names(serve):
    c = serve(APP).client
    first = c.get("/deps/cache").json()
    assert first["a"] == first["b"] and first["u_differs"] is True
    second = c.get("/deps/cache").json()
    assert second["a"] != first["a"]  # cached per request only
    assert c.get("/deps/deep").json() == {"depth": 8}
    # an undeclared query value cannot replace (or clash with) a dependency
    assert c.get("/deps/conflict-query?db=evil").json() == {"db": "from-dep"}


def test_background_tasks_run_after_the_response(serve):
    c = serve(APP).client
    assert c.post("/bg").json() == {"queued": 3}
    deadline = time.monotonic() + 5
    seen = []
    while time.monotonic() < deadline:
        seen += c.get("/bg/seen").json()
        if len(seen) >= 3:
            break
        time.sleep(0.02)
    assert seen == ["from-dep", "from-handler", "from-async"]


def test_background_tasks_run_one_after_another(serve):
    server = serve(APP)
    c = server.client
    c.get("/bg/seen")
    assert c.post("/bg/order").text == "queued"
    deadline = time.monotonic() + 5
    seen = []
    while time.monotonic() < deadline and len(seen) < 3:
        seen += c.get("/bg/seen").json()
        time.sleep(0.02)
    assert seen == ["one", "two", "three"]
    assert "bg_task_error ValueError('task fails')" in server.logs()


def test_depends_constructor():
    def f():
        return 1

    d = Depends(f)
    assert d == {"__vhttp_dep__": True, "callable": f, "deps": None, "mode": "value"} and d.use_cache is False
    assert Depends(f, {"x": Depends(f)}, mode="yield")["deps"] == {"x": Depends(f)}
    assert Depends(f, use_cache=True).use_cache is True
    for call, exc, message in (
        # FastAPI's `Depends()` shorthand: the original's message, then what to write instead
        (lambda: Depends(), TypeError, "Depends(callable, [deps]) (the callable is required: write "
                                       "Depends(TheClass) where FastAPI allows Depends(); docs/guide/dependencies.md)"),
        (lambda: Depends(f, None, None), TypeError, "Depends(callable, [deps])"),
        (lambda: Depends(1), TypeError, "callable required"),
        (lambda: Depends(f, []), TypeError, "deps must be dict"),
        (lambda: Depends(f, mode=1), TypeError, "mode must be str"),
        (lambda: Depends(f, mode="lazy"), ValueError, "mode must be value|yield|async_yield|auto"),
        (lambda: Depends(f, scope="req"), ValueError,
         'Depends(scope=...) must be "function", "request" or None, not \'req\''),
        (lambda: Depends(f, lazy=True), TypeError, "unknown keyword"),
    ):
        with pytest.raises(exc) as info:
            call()
        assert str(info.value) == message


def test_registration_errors_name_route_and_argument():
    def f():
        return 1

    def chain(n):
        return Depends(f, {"inner": chain(n - 1)}) if n > 1 else Depends(f)

    viperhttp.reset()
    app = viperhttp.ViperHTTP()
    try:
        cases = [
            ({"db": f}, TypeError, "dependency must be Depends() (route GET /r, dependency 'db')"),
            ({"db": Depends(f, {"conn": "x"})}, TypeError,
             "dependency must be Depends() (route GET /r, dependency 'db.conn')"),
            ({1: Depends(f)}, TypeError, "deps spec keys must be str (route GET /r, dependency '1')"),
            ({f"k{i}": Depends(f) for i in range(17)}, ValueError, "deps spec too large (route GET /r)"),
            ({"db": Depends(f, {f"k{i}": Depends(f) for i in range(17)})}, ValueError,
             "dependency list too large (route GET /r, dependency 'db')"),
            ({"deep": chain(9)}, ValueError, "dependency chain too deep"),
            ({"id": Depends(f)}, ValueError, "dependency name conflicts with params (route GET /r, dependency 'id')"),
            ({"db": {"__vhttp_dep__": True, "callable": 5, "deps": None, "mode": "value"}}, TypeError,
             "callable required (route GET /r, dependency 'db')"),
        ]
        for deps, exc, message in cases:
            path = "/r/{id}" if "id" in deps else "/r"
            with pytest.raises(exc) as info:
                app.get(path, deps=deps)(lambda **kw: kw)
            expected = message.replace("route GET /r,", f"route GET {path},").replace("route GET /r)", f"route GET {path})")
            assert str(info.value).startswith(expected), (str(info.value), expected)
        app.get("/ok", deps={"deep": chain(8)})(lambda deep: deep)  # depth 8 is allowed
        assert [r["path"] for r in app.routes()] == ["/ok"]
    finally:
        viperhttp.reset()


def test_background_tasks_object():
    bg = BackgroundTasks()
    assert bg.drain_tasks() == [] and len(bg) == 0
    with pytest.raises(TypeError, match=r"^add_task\(callable, \*args, \*\*kwargs\)$"):
        bg.add_task()
    with pytest.raises(TypeError, match="^callable required$"):
        bg.add_task(5)
    bg.add_task(print, 1, sep="-")
    assert bg.drain_tasks() == [(print, (1,), {"sep": "-"})]
    assert bg.drain_tasks() == []


# registration errors, caching and teardown order (apps/framework_surface_app.py) ------------------


def test_registration_time_dependency_errors_name_route_and_argument(app):
    def f():
        return 1

    def chain(n):
        return Depends(f, {"inner": chain(n - 1)}) if n > 1 else Depends(f)

    with pytest.raises(ValueError) as info:
        app.get("/deep", deps={"top": chain(9)})(lambda top: top)
    assert str(info.value).startswith("dependency chain too deep (route GET /deep, dependency 'top.")
    with pytest.raises(ValueError) as info:
        app.get("/qc", query={"page": int}, deps={"page": Depends(f)})(lambda page: page)
    assert str(info.value) == "dependency name conflicts with params (route GET /qc, dependency 'page')"
    with pytest.raises(ValueError) as info:
        app.get("/mode", deps={"m": {"__vhttp_dep__": True, "callable": f, "deps": None, "mode": "lazy"}})(
            lambda m: m)
    assert str(info.value) == "mode must be value|yield|async_yield|auto (route GET /mode, dependency 'm')"
    router = Router(prefix="/r", deps={"db": Depends(f)})
    router.get("/x")(lambda db: db)
    with pytest.raises(ValueError) as info:
        app.include_router(router, deps={"db": Depends(f)})  # include deps clash with router deps
    assert str(info.value).startswith("duplicate dependency key")
    assert app.routes() == []

def test_use_cache_generator_one_call_one_teardown(serve):
    c = serve(FW).client
    first = c.get("/dc/cached-gen").json()
    assert first["a"] == first["b"]
    assert c.get("/log").json() == ["cached:enter", "handler", "cached:exit"]
    second = c.get("/dc/cached-gen").json()
    assert second["a"] == second["b"] == first["a"] + 1  # per request, not across requests

def test_all_teardowns_run_and_the_first_teardown_error_wins(serve):
    c = serve(FW).client
    r = c.get("/td/all-fail")
    # reverse order: c (async) fails first, so its error replaces the handler's response
    assert (r.status_code, r.json()) == (409, {"teardown_error": "c"})
    assert c.get("/log").json() == ["a:enter", "b:enter", "c:enter", "handler", "c:exit", "b:exit", "a:exit"]

def test_handler_exception_wins_over_teardown_errors(serve):
    c = serve(FW).client
    r = c.get("/td/handler-wins")
    assert (r.status_code, r.json()) == (418, {"handler_error": "from-handler"})
    assert c.get("/log").json() == ["a:enter", "b:enter", "handler", "b:exit", "a:exit"]

def test_http_exception_from_teardown_replaces_the_response(serve):
    c = serve(FW).client
    r = c.get("/td/http")
    assert (r.status_code, r.content, r.headers["x-teardown"]) == (409, b'{"detail":"teardown says no"}', "1")
    assert c.get("/log").json() == ["h:enter", "handler", "h:exit"]

def test_async_generator_contract_errors(serve):
    server = serve(FW)
    c = server.client
    for path in ("/dg/async-double", "/dg/async-noyield", "/dg/yield-asyncgen"):
        r = c.get(path)
        assert (r.status_code, r.content, r.headers["content-type"]) == (500, INTERNAL, TEXT), path
    assert c.get("/log").json() == ["agen2:enter", "handler", "agen2:again"]
    logs = wait_for_log(server, "dependency async generator must yield exactly once",
                        "dependency async generator did not yield",
                        "dependency mode=yield does not accept async generator")
    for message in ("dependency async generator must yield exactly once", "dependency async generator did not yield",
                    "dependency mode=yield does not accept async generator"):
        assert message in logs, message
    assert c.get("/ok").text == "ok"

def test_teardown_runs_before_background_tasks(serve):
    """docs/internals/framework.md: teardown after the handler, before the response is sent and before
    background tasks (docs/internals/framework.md: tasks run after the response was handed over)."""
    c = serve(FW).client
    assert c.get("/dg/teardown-before-bg").text == "ok"
    deadline = time.monotonic() + 5
    log: List[Any] = []
    while time.monotonic() < deadline:
        log += c.get("/log").json()
        if "bg" in log:
            break
        time.sleep(0.02)
    assert log == ["dep:enter", "handler", "dep:exit", "bg"]

def test_dependencies_see_current_request(serve):
    assert serve(FW).client.get("/dg/current?a=1").json() == {"path": "/dg/current", "query": "a=1"}


def test_a_legacy_marked_coroutine_function_is_awaited_as_in_fastapi():
    """Before Python 3.13 FastAPI and Starlette test "is it async" with
    `asyncio.iscoroutinefunction`, which also knows asyncio's legacy `_is_coroutine` marker
    (Cython < 3's `async def` carries it): such a dependency, handler or background task is
    called on the event loop and awaited, never sent to the thread pool. With
    `sync_handlers="threadpool"` they ran in a pool thread (`callables.is_coroutine_function`)."""
    import asyncio
    import sys
    import threading

    from viperhttp.testclient import TestClient

    if sys.version_info >= (3, 13):
        pytest.skip("the marker is only FastAPI's test before Python 3.13")
    threads = {}

    async def _answer(name):
        return [name]

    def marked(name):
        def call(*args):
            threads[name] = threading.current_thread().name
            return _answer(name)
        call._is_coroutine = asyncio.coroutines._is_coroutine
        return call

    async def reference():
        threads["async"] = threading.current_thread().name

    viperhttp.reset()
    app = viperhttp.ViperHTTP(sync_handlers="threadpool")
    handler = marked("handler")

    def route(value=Depends(marked("dependency")), tasks: BackgroundTasks = None, _r=Depends(reference)):
        tasks.add_task(marked("task"))
        return handler()

    route._is_coroutine = asyncio.coroutines._is_coroutine
    app.get("/marked")(route)
    try:
        with TestClient(app) as client:
            assert client.get("/marked").json() == ["handler"]
            deadline = time.monotonic() + 5
            while "task" not in threads and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        viperhttp.reset()
    assert {name: threads.get(name) for name in ("dependency", "handler", "task")} == dict.fromkeys(
        ("dependency", "handler", "task"), threads["async"])
