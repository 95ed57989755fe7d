"""Dependencies end to end (api.md §5) and background tasks (§11): every dependency kind, teardown
order on success and on error (observed through the app's /deps/log), errors, caching; the
registration-time checks in-process."""
import time

import pytest

import viperhttp
from viperhttp import BackgroundTasks, Depends

APP = "apps/framework_app.py"
INTERNAL = b"Internal Server Error"


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


def test_depends_constructor():
    def f():
        return 1

    d = Depends(f)
    assert d == {"__vhttp_dep__": True, "callable": f, "deps": None, "mode": "value"} and d.use_cache is False
    assert Depends(f, {"x": Depends(f)}, mode="yield")["deps"] == {"x": Depends(f)}
    assert Depends(f, use_cache=True).use_cache is True
    for call, exc, message in (
        (lambda: Depends(), TypeError, "Depends(callable, [deps])"),
        (lambda: Depends(f, None, None), TypeError, "Depends(callable, [deps])"),
        (lambda: Depends(1), TypeError, "callable required"),
        (lambda: Depends(f, []), TypeError, "deps must be dict"),
        (lambda: Depends(f, mode=1), TypeError, "mode must be str"),
        (lambda: Depends(f, mode="lazy"), ValueError, "mode must be value|yield|async_yield|auto"),
        (lambda: Depends(f, scope="request"), TypeError, "unknown keyword"),
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
