"""The app object and the module-level API (docs/guide, "The app"): the constructor's defaults,
positional order and type errors, `app.state`, `app.dispatch()`, `viperhttp.active_app()`,
`viperhttp.current_request()` (outside a request, inside one, isolated across awaits under
concurrency) and `viperhttp.reset()` refused while serving.

In-process only for the constructor and registration; everything else over real sockets against
tests/apps/framework_surface_app.py and tests/apps/context_app.py.
"""
from __future__ import annotations

import uuid
from typing import Annotated
from concurrent.futures import ThreadPoolExecutor
import pytest

import viperhttp
from viperhttp import Depends, Header, HTTPException, Query, Request

FW = "apps/framework_surface_app.py"
GAP = "apps/context_app.py"


def test_constructor_defaults_positional_order_and_type_errors():
    viperhttp.reset()
    try:
        app = viperhttp.ViperHTTP()
        assert app._docs_config() == {
            "title": "ViperHTTP API", "version": "1.0.0", "description": "", "docs": True,
            "openapi_url": "/openapi.json", "docs_url": "/docs", "include_websocket_docs": True,
            "cache_schema": True, "servers": None, "redoc_url": "/redoc",
            "swagger_ui_oauth2_redirect_url": "/docs/oauth2-redirect", "swagger_ui_init_oauth": None,
            "swagger_ui_parameters": None}
        viperhttp.reset()
        app = viperhttp.ViperHTTP("T", "2.0", "D", False, None, "/d", False, False, ["http://a"])
        cfg = app._docs_config()
        assert (cfg["title"], cfg["version"], cfg["description"], cfg["docs"], cfg["openapi_url"],
                cfg["docs_url"], cfg["include_websocket_docs"], cfg["cache_schema"], cfg["servers"]) == \
            ("T", "2.0", "D", False, None, "/d", False, False, ["http://a"])
        app.configure_docs(title="New", redoc_url=None)
        cfg = app._docs_config()
        assert (cfg["title"], cfg["version"], cfg["redoc_url"], cfg["docs_url"]) == ("New", "2.0", None, "/d")
        with pytest.raises(TypeError, match="^title must be str$"):
            app.configure_docs(title=1)
        assert app._docs_config()["title"] == "New"
        viperhttp.reset()
        for kwargs, message in (
            ({"title": 1}, "title must be str"),
            ({"version": 1.0}, "version must be str"),
            ({"description": b"x"}, "description must be str"),
            ({"openapi_url": 5}, "openapi_url must be str or None"),
            ({"docs_url": ["/d"]}, "docs_url must be str or None"),
            ({"swagger_ui_oauth2_redirect_url": 1}, "swagger_ui_oauth2_redirect_url must be str or None"),
            ({"swagger_ui_parameters": [("a", 1)]}, "swagger_ui_parameters must be a dict or None"),
            ({"swagger_ui_init_oauth": "id"}, "swagger_ui_init_oauth must be a dict or None"),
        ):
            with pytest.raises(TypeError) as info:
                viperhttp.ViperHTTP(**kwargs)
            assert str(info.value) == message
            assert viperhttp.active_app() is None  # a failed constructor leaves no active app
        for kwargs in ({"port": 8080}, {"https": True}, {"tls_cert_pem": "x"}):
            with pytest.raises(TypeError):
                viperhttp.ViperHTTP(**kwargs)
    finally:
        viperhttp.reset()

def test_app_state_is_a_per_app_dict_with_attribute_access(app):
    state = app.state
    assert isinstance(state, dict) and state is app.state and state == {}
    state["a"] = 1
    state.b = 2
    assert app.state.a == 1 and app.state["b"] == 2 and app.state.get("b") == 2
    viperhttp.reset()
    other = viperhttp.ViperHTTP()
    assert other.state == {} and other.state is not state

def test_dispatch_with_request_422_http_exception_and_dep_marker(app):
    seen = {}

    @app.get("/h/{n:int}", query={"q": Query("d", str)})
    def handler(n, q, request):
        seen["request"] = request
        seen["current"] = viperhttp.current_request()
        return {"n": n, "q": q}

    @app.get("/typed", query={"page": int})
    def typed(page):
        return page

    @app.get("/raises")
    def raises():
        raise HTTPException(409, "conflict", headers={"X-C": "1"})

    def dep():
        return 1

    @app.get("/with-deps", deps={"d": Depends(dep)})
    def with_deps(d):
        return d

    request = Request(method="GET", path="/h/5", query="q=a+b")
    assert app.dispatch("GET", "/h/5?q=a+b", request) == {"n": 5, "q": "a b"}
    assert seen["request"] is request and seen["current"] is request
    assert request.path_params == {"n": 5}
    assert viperhttp.current_request() is None  # reset after the call
    r = app.dispatch("GET", "/typed?page=x")
    assert (r["status_code"], r["body"]) == (422, {"detail": "Invalid query param: page"})
    r = app.dispatch("GET", "/typed")
    assert (r["status_code"], r["body"]) == (422, {"detail": "Missing query param: page"})
    r = app.dispatch("GET", "/raises")
    assert (r["status_code"], r["body"], r["headers"]) == (409, {"detail": "conflict"}, {"X-C": "1"})
    marker = app.dispatch("GET", "/with-deps")
    assert marker["__vhttp_dep_call__"] is True and marker["handler"] is with_deps
    assert {"handler", "params", "deps", "request", "background"} <= set(marker)

def test_app_state_and_match_while_serving(serve):
    c = serve(FW).client
    first = c.get("/state/bump").json()
    assert first == {"boot": "before-run", "counter": 1, "get": 1, "is_dict": True, "same": True}
    assert c.get("/state/bump").json()["counter"] == 2  # state survives run() and requests
    assert c.get("/meta/match", params={"p": "/m/a/b?x=1"}).json() == {"found": "m_path", "params": {"rest": "a/b"}}
    assert c.get("/meta/match", params={"method": "POST", "p": "/m/special"}).json() == {"found": None}


def test_current_request_is_none_outside_a_request():
    assert viperhttp.current_request() is None
    marker = object()
    assert viperhttp.set_current_request(marker) is None
    try:
        assert viperhttp.current_request() is marker
    finally:
        assert viperhttp.set_current_request(None) is marker
    assert viperhttp.current_request() is None

def test_active_app_and_current_request_inside_a_handler(serve):
    assert serve(GAP).client.get("/outside").json() == {"active_is_app": True, "current_path": "/outside"}

def test_reset_refused_while_serving(serve):
    """docs/internals/framework.md: reset() while a server is running → RuntimeError."""
    c = serve(GAP).client
    r = c.get("/reset-while-running").json()
    assert r["raised"] == "RuntimeError", r
    assert c.get("/ok").text == "ok"  # routes survived

def test_current_request_isolated_across_awaits_under_concurrency(serve):
    server = serve(GAP)
    run = uuid.uuid4().hex[:6]

    def one(i: int) -> dict:
        marker = f"{run}-{i}"
        r = server.client.get(f"/ctx/{marker}", headers={"X-Marker": marker})
        return {"i": i, "status": r.status_code, **r.json()}

    # 12 at a time: within the default bridge capacity (4 workers + queue 16), so no 503s.
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, range(96)))
    bad = [r for r in results if r["status"] != 200 or not r["all_own"]
           or r["marker"] != f"{run}-{r['i']}" or r["path"] != f"/ctx/{run}-{r['i']}"]
    assert not bad, bad[:5]


def test_fastapi_app_keywords(tmp_path_factory):
    """`ViperHTTP(dependencies=, exception_handlers=, middleware=, default_response_class=,
    debug=, openapi_tags=, summary=, contact=, license_info=)` and `add_api_route`, as FastAPI
    apps write them (tests/apps/app_options_app.py), over a socket."""
    from support.module_server import start_module_server

    srv = start_module_server(tmp_path_factory.mktemp("appkw"), "apps/app_options_app.py")
    c = srv.client
    ok = {"x-token": "secret"}
    try:
        # the app's dependency runs for every route, before the handler
        r = c.get("/page")
        assert (r.status_code, r.json()) == (422, {"detail": [
            {"type": "missing", "loc": ["header", "x-token"], "msg": "Field required", "input": None}]})
        assert c.get("/page", headers={"x-token": "no"}).json() == {"detail": "X-Token header invalid"}
        r = c.get("/page", headers=ok)  # default_response_class=HTMLResponse
        assert (r.text, r.headers["content-type"]) == ("<p>hi</p>", "text/html; charset=utf-8")
        # middleware=[...]: the first listed is the outermost (the inner one stamps first)
        assert r.headers["x-stamp"] == "innerouter"
        assert c.get("/json", headers=ok).headers["content-type"] == "application/json"
        r = c.get("/boom", headers=ok)  # exception_handlers={Boom: ...}
        assert (r.status_code, r.json()) == (418, {"boom": "bang"})
        r = c.get("/crash", headers=ok)  # debug=True: the traceback, as Starlette's debug mode
        assert r.status_code == 500 and "KeyError: 'missing'" in r.text and "Traceback" in r.text
        assert c.post("/listed", headers=ok).json() == ["a", "b"]  # add_api_route
        doc = c.get("/openapi.json").json()
        assert doc["info"] == {"title": "ViperHTTP API", "summary": "Shop API",
                               "contact": {"name": "Ada", "email": "ada@example.com"},
                               "license": {"name": "MIT"}, "version": "1.0.0"}
        assert doc["tags"] == [{"name": "items", "description": "Things to buy."}]
        params = doc["paths"]["/page"]["get"]["parameters"]
        assert [(p["name"], p["in"]) for p in params] == [("x-token", "header")]
    finally:
        srv.stop()


def test_root_path_behind_a_proxy_as_fastapi():
    """`ViperHTTP(root_path="/api/v1")` (FastAPI's "Behind a Proxy") was a TypeError at import:
    the prefix is the first OpenAPI server and part of `request.base_url` / `url_for`;
    `root_path_in_servers=False` leaves the given servers alone."""
    from viperhttp.testclient import TestClient

    viperhttp.reset()
    try:
        app = viperhttp.ViperHTTP(root_path="/api/v1")

        @app.get("/app")
        def read_main(request: Request):
            return {"base": str(request.base_url), "for": str(request.url_for("read_main")),
                    "url": str(request.url)}

        with TestClient(app) as c:
            assert c.get("/app").json() == {"base": "http://testserver/api/v1/",
                                            "for": "http://testserver/api/v1/app",
                                            "url": "http://testserver/app"}
            assert c.get("/openapi.json").json()["servers"] == [{"url": "/api/v1"}]
        staging = {"url": "https://stag.example.com", "description": "Staging"}
        app = viperhttp.ViperHTTP(root_path="/api/v1", servers=[staging])
        with TestClient(app) as c:
            assert c.get("/openapi.json").json()["servers"] == [{"url": "/api/v1"}, staging]
        app = viperhttp.ViperHTTP(root_path="/api/v1", servers=[staging], root_path_in_servers=False)
        with TestClient(app) as c:
            assert c.get("/openapi.json").json()["servers"] == [staging]
        with pytest.raises(TypeError, match="root_path"):
            viperhttp.ViperHTTP(root_path="api")
    finally:
        viperhttp.reset()


def test_fastapi_app_keywords_are_checked():
    with pytest.raises(TypeError, match="dependencies must be a list"):
        viperhttp.ViperHTTP(dependencies=Depends(lambda: 1))
    viperhttp.reset()
    with pytest.raises(TypeError, match="debug must be bool"):
        viperhttp.ViperHTTP(debug="yes")
    viperhttp.reset()
    with pytest.raises(TypeError, match="openapi_tags"):
        viperhttp.ViperHTTP(openapi_tags=["items"])
    viperhttp.reset()
    with pytest.raises(TypeError, match="response_class"):
        viperhttp.ViperHTTP(default_response_class="html")
    viperhttp.reset()


def test_response_class_gets_the_value_first_as_fastapi(tmp_path):
    """FastAPI builds `response_class(value, status_code=...)`: a returned URL becomes the
    redirect (it was a 500: RedirectResponse has no `content`), a returned path the file."""
    from viperhttp import FileResponse, PlainTextResponse, RedirectResponse
    from viperhttp.testclient import TestClient

    page = tmp_path / "page.txt"
    page.write_text("from disk")
    viperhttp.reset()
    app = viperhttp.ViperHTTP()

    @app.get("/go", response_class=RedirectResponse)
    async def go():
        return "https://example.com/x"

    @app.get("/found", response_class=RedirectResponse, status_code=302)
    def found():
        return "/elsewhere"

    @app.get("/file", response_class=FileResponse)
    async def file():
        return str(page)

    @app.get("/count", response_class=PlainTextResponse)
    def count():
        return 5  # the content, not a status

    try:
        with TestClient(app, follow_redirects=False) as c:
            r = c.get("/go")
            assert (r.status_code, r.headers["location"]) == (307, "https://example.com/x")
            r = c.get("/found")
            assert (r.status_code, r.headers["location"]) == (302, "/elsewhere")
            assert c.get("/file").text == "from disk"
            r = c.get("/count")
            assert (r.status_code, r.text) == (200, "5")
    finally:
        viperhttp.reset()


def test_a_dependency_that_raises_wins_over_another_ones_422():
    """FastAPI's bigger-applications tutorial: with `?token` missing (the app's dependency
    cannot run) and a wrong `X-Token` (the route's dependency raises 400), FastAPI answers the
    400: every dependency whose parameters are valid runs before the 422. Both missing: one 422
    naming both; answers compared with FastAPI 0.165."""
    from viperhttp.testclient import TestClient

    calls = []

    async def query_token(token: str):
        calls.append("query_token")
        if token != "jessica":
            raise HTTPException(400, "No Jessica token provided")

    async def verify_token(x_token: Annotated[str, Header()]):
        calls.append("verify_token")
        if x_token != "fake-super-secret-token":
            raise HTTPException(400, "X-Token header invalid")

    viperhttp.reset()
    app = viperhttp.ViperHTTP(dependencies=[Depends(query_token)])

    @app.get("/items/", dependencies=[Depends(verify_token)])
    async def items():
        return [{"item": "Portal Gun"}]

    @app.get("/n/{n}", dependencies=[Depends(verify_token)])
    async def n(n: int):
        return n

    try:
        with TestClient(app) as c:
            r = c.get("/items/", headers={"X-Token": "invalid"})
            assert (r.status_code, r.json()) == (400, {"detail": "X-Token header invalid"})
            assert calls == ["verify_token"]
            r = c.get("/items/")
            assert r.status_code == 422
            assert [e["loc"] for e in r.json()["detail"]] == [["query", "token"], ["header", "x-token"]]
            r = c.get("/n/x?token=jessica", headers={"X-Token": "invalid"})  # the route's own 422 too
            assert (r.status_code, r.json()) == (400, {"detail": "X-Token header invalid"})
            r = c.get("/n/x?token=jessica", headers={"X-Token": "fake-super-secret-token"})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "n"]
            assert c.get("/n/3?token=jessica", headers={"X-Token": "fake-super-secret-token"}).json() == 3
    finally:
        viperhttp.reset()


def test_fastapi_static_files_mount(tmp_path):
    """`app.mount("/static", StaticFiles(directory=...), name="static")` serves the directory
    natively (it was `TypeError: mount paths must be str`); mounting another app is refused
    with what to do instead."""
    from viperhttp.staticfiles import StaticFiles
    from viperhttp.testclient import TestClient

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "site" / "app.css").write_text("body{}")
    viperhttp.reset()
    app = viperhttp.ViperHTTP()
    app.mount("/static", StaticFiles(directory=tmp_path / "site"), name="static")
    app.mount("/site", StaticFiles(directory=str(tmp_path / "site"), html=True))
    try:
        with pytest.raises(TypeError, match="include_router"):
            app.mount("/sub", viperhttp.APIRouter())
        with pytest.raises(RuntimeError, match="does not exist"):
            StaticFiles(directory=tmp_path / "missing")
        with TestClient(app) as c:
            r = c.get("/static/app.css")
            assert (r.status_code, r.text) == (200, "body{}") and r.headers["content-type"].startswith("text/css")
            assert c.get("/site/").text == "<h1>home</h1>"
            assert c.get("/static/").status_code == 404  # html=False: no index page
    finally:
        viperhttp.reset()


def test_the_422_keeps_a_dependencys_own_errors_and_follows_overrides():
    """A dependency raising RequestValidationError itself answered `{"detail": []}` (the
    listing kept only parameter errors); an overridden dependency's parameters were listed
    although the override takes none."""
    from viperhttp import RequestValidationError
    from viperhttp.testclient import TestClient

    def raiser():
        raise RequestValidationError([{"type": "value_error", "loc": ["body", "x"], "msg": "bad", "input": 1}])

    def needs_token(token: str):
        return token

    viperhttp.reset()
    app = viperhttp.ViperHTTP()

    @app.get("/r")
    def r(v=Depends(raiser)):
        return v

    @app.get("/x")
    def x(n: int, t=Depends(needs_token)):
        return [n, t]

    app.dependency_overrides[needs_token] = lambda: "fake"
    try:
        with TestClient(app) as c:
            assert c.get("/r").json()["detail"] == [{"type": "value_error", "loc": ["body", "x"], "msg": "bad",
                                                     "input": 1}]
            assert [e["loc"] for e in c.get("/x?n=a").json()["detail"]] == [["query", "n"]]
            assert c.get("/x?n=1").json() == [1, "fake"]
    finally:
        viperhttp.reset()
