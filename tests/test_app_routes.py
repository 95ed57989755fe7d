"""`app.routes` as FastAPI users use it and as the original's method (docs/internals/framework.md,
"The route list"): the route objects, FastAPI's "route names as operation ids" recipe, fields
set after registration in the served OpenAPI document, and the pinned `app.routes()` rows."""
import pytest
import tempfile

from viperhttp import APIRouter, ViperHTTP
from viperhttp.routing import APIRoute
from viperhttp.testclient import TestClient


def _app():
    app = ViperHTTP()

    @app.get("/items/{item_id}", tags=["items"])
    def read_item(item_id: int):
        """Reads one item."""
        return {"item_id": item_id}

    @app.api_route("/both", methods=["GET", "POST"])
    def both():
        return {"ok": True}

    users = APIRouter(prefix="/users", tags=["users"])

    @users.get("/", name="all_users")
    def list_users():
        return []

    app.include_router(users)

    @app.websocket("/ws")
    async def feed(ws):
        await ws.accept()
        await ws.close()

    return app


def use_route_names_as_operation_ids(app):
    """FastAPI's recipe (path operation advanced configuration), word for word."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            route.operation_id = route.name


def _operation_ids(doc):
    return {path: {method: op["operationId"] for method, op in ops.items()} for path, ops in doc["paths"].items()}


def test_fastapis_route_names_as_operation_ids_recipe():
    """Iterating `app.routes` was a TypeError (a method); now the recipe's ids are the served
    document's, one `APIRoute` per decorator call (both methods of `/both` get `both`)."""
    app = _app()
    use_route_names_as_operation_ids(app)
    with TestClient(app) as client:
        assert client.get("/items/3").json() == {"item_id": 3}
        doc = client.get("/openapi.json").json()
    assert _operation_ids(doc) == {"/items/{item_id}": {"get": "read_item"},
                                   "/both": {"get": "both", "post": "both"},
                                   "/users/": {"get": "all_users"}}  # FastAPI's path for "/" under a prefix


def test_app_routes_is_a_list_of_route_objects_and_still_the_originals_method():
    app = _app()
    static = tempfile.mkdtemp()
    app.mount("/static", static, name="static")
    rows = app.routes()  # pinned: one dict per method, the original's keys
    assert [(r["method"], r["path"]) for r in rows] == [
        ("GET", "/items/{item_id}"), ("GET", "/both"), ("POST", "/both"), ("GET", "/users"), ("WS", "/ws")]
    assert rows[0]["docs"] == {"tags": ["items"]} and rows[0]["handler"].__name__ == "read_item"
    assert set(rows[1]) == {"method", "path", "handler"}

    routes = app.routes
    assert [r.path for r in routes] == ["/items/{item_id}", "/both", "/users", "/ws", "/static"]
    assert len(routes) == 5 and routes[-1].name == "static" and routes[-1].directory == static
    assert routes[0] in routes and routes[0] is app.routes[0]
    http = [r for r in routes if isinstance(r, APIRoute)]
    assert [(r.name, r.methods) for r in http] == [("read_item", {"GET"}), ("both", {"GET", "POST"}),
                                                  ("all_users", {"GET"})]
    assert http[0].tags == ["items"] and http[2].tags == ["users"] and http[0].endpoint(item_id=1) == {"item_id": 1}
    assert type(routes[3]).__name__ == "APIWebSocketRoute" and routes[3].name == "feed"
    assert [r.path for r in routes[1:3]] == ["/both", "/users"]
    with TestClient(app) as client:  # the docs routes the server adds come after
        assert client.get("/both").json() == {"ok": True}
        paths = [r.path for r in app.routes]
    assert paths[:5] == ["/items/{item_id}", "/both", "/users", "/ws", "/openapi.json"]
    assert paths[-1] == "/static" and "/docs" in paths


def test_fields_set_on_registered_routes_reach_the_served_document():
    """summary / description / tags / deprecated / include_in_schema set after registration are
    the document's, also when it was built and cached before (the cache is invalidated)."""
    app = _app()
    with TestClient(app) as client:
        before = client.get("/openapi.json").json()
        assert before["paths"]["/items/{item_id}"]["get"]["summary"] == "Reads one item."  # the docstring
        item, both = app.routes[0], app.routes[1]
        item.summary = "One item"
        item.description = "From the store."
        item.tags = ["store"]
        item.deprecated = True
        both.include_in_schema = False
        after = client.get("/openapi.json").json()
        item.summary = None  # back to what the decorator said: none, the docstring
        again = client.get("/openapi.json").json()
    op = after["paths"]["/items/{item_id}"]["get"]
    assert (op["summary"], op["description"], op["tags"], op["deprecated"]) == (
        "One item", "From the store.", ["store"], True)
    assert "/both" in before["paths"] and "/both" not in after["paths"]
    assert again["paths"]["/items/{item_id}"]["get"]["summary"] == "Reads one item."
    assert (item.summary, item.tags, both.include_in_schema) == (None, ["store"], False)
    # the original's rows carry the same metadata (the generator's source)
    assert app.routes()[0]["docs"]["tags"] == ["store"]


def test_fields_set_on_routes_keep_the_originals_row_shape():
    """A route declared without docs metadata: the recipe's `operation_id` is in the row's
    `docs`, placed before `handler` as the original's rows have it (it was appended after it),
    and setting the field back to None leaves no empty `docs` (it left `'docs': {}`)."""
    app = ViperHTTP()

    @app.get("/plain")
    def plain():
        return 1

    @app.websocket("/ws", protocols=["chat"])
    async def feed(ws):
        await ws.close()

    before = app.routes()
    with TestClient(app) as client:
        default_id = client.get("/openapi.json").json()["paths"]["/plain"]["get"]["operationId"]
        use_route_names_as_operation_ids(app)
        rows = app.routes()
        assert list(rows[0]) == ["method", "path", "docs", "handler"] and rows[0]["docs"] == {"operation_id": "plain"}
        assert rows[1] == before[1]
        assert client.get("/openapi.json").json()["paths"]["/plain"]["get"]["operationId"] == "plain"
        app.routes[0].operation_id = None
        assert client.get("/openapi.json").json()["paths"]["/plain"]["get"]["operationId"] == default_id
    assert app.routes()[:2] == before and list(app.routes()[0]) == ["method", "path", "handler"]


def test_route_description_and_response_model_are_fastapis():
    """`description` was None without `description=` and `response_model` only `response_model=`:
    now FastAPI 0.165's values (the docstring through `inspect.cleandoc` up to a form feed; the
    return annotation unless absent, `None`, a Response class or a generator's item stream).
    The served document keeps the device generator's summary / description."""
    from typing import Iterator, List, Optional

    from pydantic import BaseModel

    from viperhttp.responses import HTMLResponse

    class Item(BaseModel):
        name: str

    app = ViperHTTP()

    @app.get("/doc")
    def doc() -> Item:
        """Read an item.

          Indented second paragraph.
        \f
        hidden from the description
        """
        return Item(name="x")

    @app.get("/given", description="given")
    def given() -> List[Item]:
        """not this"""
        return []

    @app.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse("<p>x</p>")

    @app.get("/none")
    def none() -> None:
        return None

    @app.get("/explicit", response_model=None)
    def explicit() -> Item:
        return Item(name="x")

    @app.get("/text")
    def text() -> str:
        return "x"

    @app.get("/stream")
    def stream() -> Iterator[Item]:
        yield Item(name="a")

    @app.get("/maybe")
    def maybe() -> Optional[Item]:
        return None

    @app.get("/bare")
    def bare():
        return {}

    @app.get("/routes")
    def routes():
        return [[r.path, r.description, repr(r.response_model)] for r in app.routes[:9]]

    item = f"<class '{Item.__module__}.{Item.__qualname__}'>"
    with TestClient(app) as client:
        assert client.get("/routes").json() == [
            ["/doc", "Read an item.\n\n  Indented second paragraph.", item],
            ["/given", "given", f"typing.List[{item[8:-2]}]"],
            ["/page", "", "None"], ["/none", "", "None"], ["/explicit", "", "None"], ["/text", "", "<class 'str'>"],
            ["/stream", "", "None"], ["/maybe", "", f"typing.Optional[{item[8:-2]}]"], ["/bare", "", "None"]]
        assert client.get("/text").text == "x"  # served as before: `-> str` is text, not JSON
        op = client.get("/openapi.json").json()["paths"]["/doc"]["get"]
    # the device generator's rule, unchanged (docs/internals/api-docs.md): first line, the rest
    assert (op["summary"], op["description"]) == ("Read an item.",
                                                   "Indented second paragraph.\n\n\nhidden from the description")


def test_app_router_is_the_apps_own_router_as_in_fastapi():
    """`app.router` was an AttributeError: now FastAPI's spellings through it reach the app's
    own routes and events; what is not provided says so."""
    import contextlib

    import pytest

    events = []
    app = ViperHTTP()

    def both():
        return {"both": True}

    app.router.add_api_route("/both", both, methods=["GET", "POST"])
    sub = APIRouter(prefix="/sub")

    @sub.get("/c", name="c")
    def c():
        return {"c": 1}

    app.router.include_router(sub)

    @app.router.get("/deco")
    def deco():
        return "deco"

    app.router.on_startup.append(lambda: events.append("startup"))
    app.router.on_shutdown.append(lambda: events.append("shutdown"))

    @app.get("/info")
    def info():
        return {"paths": [r.path for r in app.router.routes][:4], "provider": app.router.dependency_overrides_provider is app,
                "url": app.router.url_path_for("c"), "events": list(events)}

    with TestClient(app) as client:
        assert client.post("/both").json() == {"both": True} and client.get("/sub/c").json() == {"c": 1}
        assert client.get("/deco").text == "deco"
        assert client.get("/info").json() == {"paths": ["/both", "/sub/c", "/deco", "/info"], "provider": True,
                                              "url": "/sub/c", "events": ["startup"]}
    assert events == ["startup", "shutdown"]
    assert app.router.routes[0] is app.routes[0]

    # `lifespan_context`: the default runs the handlers; a replacement is the app's lifespan
    import asyncio

    async def by_hand():
        async with app.router.lifespan_context(app):
            events.append("inside")

    asyncio.run(by_hand())
    assert events == ["startup", "shutdown", "startup", "inside", "shutdown"]
    del events[:]
    seen = []

    @contextlib.asynccontextmanager
    async def lifespan(app_):
        seen.append("enter")
        yield {"db": "conn"}
        seen.append("exit")

    app.router.lifespan_context = lifespan
    assert app.router.lifespan_context is lifespan
    with TestClient(app) as client:
        # as FastAPI 0.165: a lifespan replaces the on_event handlers (it does not enter the default)
        assert client.get("/info").json()["events"] == []
    assert seen == ["enter", "exit"] and app.state.db == "conn" and events == []

    with pytest.raises(AttributeError, match="route_class.*custom APIRoute subclass is not supported"):
        app.router.route_class = APIRoute
    with pytest.raises(AttributeError, match="redirect_slashes.*trailing slash"):
        app.router.redirect_slashes = False
    with pytest.raises(AttributeError, match="has no 'default'.*providing routes, add_api_route"):
        app.router.default
    with pytest.raises(AttributeError, match="cannot be assigned"):
        app.router.routes = []


def test_one_route_name_rule_as_starlettes_get_name():
    """`route.name` (HTTP and WebSocket) and `app.url_path_for` read one rule, Starlette's: `name=`
    even when empty, else the handler's `__name__` even when empty, else its class's name. The
    copies differed: a callable instance was not found by `url_path_for` (LookupError), an HTTP
    route's empty `__name__` was named `function` and `name=""` was ignored."""
    app = ViperHTTP()

    class Handler:
        def __call__(self):
            return {"ok": True}

    def unnamed():
        return {"unnamed": True}

    unnamed.__name__ = ""

    def given():
        return {"given": True}

    app.get("/instance")(Handler())
    app.get("/unnamed")(unnamed)
    app.get("/given", name="")(given)
    app.websocket("/ws")(unnamed)
    assert [r.name for r in app.routes] == ["Handler", "", "", ""]
    assert app.url_path_for("Handler") == "/instance" and app.url_path_for("") == "/unnamed"
    with TestClient(app) as client:
        assert client.get(app.url_path_for("Handler")).json() == {"ok": True}

def test_a_lifespan_wrapping_the_default_runs_the_handlers_once():
    """FastAPI's recipe `orig = app.router.lifespan_context`, then a lifespan that enters
    `orig(app)`: the startup and shutdown handlers run inside it, once, as in FastAPI 0.165
    (they ran a second time when the bridge ran them itself after entering the lifespan)."""
    import contextlib

    events = []
    app = ViperHTTP()
    app.add_event_handler("startup", lambda: events.append("startup"))
    app.router.on_shutdown.append(lambda: events.append("shutdown"))
    orig = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def wrapped(app_):
        events.append("enter")
        async with orig(app_):
            events.append("ready")
            yield
        events.append("exit")

    app.router.lifespan_context = wrapped

    @app.get("/events")
    def seen():
        return list(events)

    with TestClient(app) as client:
        assert client.get("/events").json() == ["enter", "startup", "ready"]
    assert events == ["enter", "startup", "ready", "shutdown", "exit"]
    del events[:]
    with TestClient(app) as client:  # a second run of the same app: the same, once
        assert client.get("/events").json() == ["enter", "startup", "ready"]
    assert events == ["enter", "startup", "ready", "shutdown", "exit"]


def test_a_wrapping_lifespan_that_fails_on_its_way_out_still_runs_the_shutdown_handlers():
    """The wrapping lifespan raises inside `async with orig(app)` after its yield (a cleanup
    that fails): the app's shutdown handlers still run, as Starlette's `_DefaultLifespan` runs
    them in `__aexit__`; they were skipped (the bridge had left them to that exit)."""
    import contextlib

    events = []
    app = ViperHTTP()
    app.add_event_handler("shutdown", lambda: events.append("shutdown"))
    orig = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def wrapped(app_):
        async with orig(app_):
            yield
            raise RuntimeError("cleanup failed")

    app.router.lifespan_context = wrapped

    @app.get("/")
    def index():
        return {"ok": True}

    try:
        with TestClient(app) as client:
            assert client.get("/").json() == {"ok": True}
    except RuntimeError:
        pass  # the lifespan's own error may reach the test; the point is the handler below
    assert events == ["shutdown"]


@pytest.mark.parametrize("slow_part", ["startup handler", "the wrapper after entering the default"])
def test_a_wrapping_lifespan_cancelled_at_stop_still_runs_the_shutdown_handlers(slow_part):
    """A startup handler still running past `startup_timeout_s` inside a lifespan that wraps the
    default: serving starts, and at stop the startup is cancelled, so the lifespan never
    finishes entering and is never exited. The shutdown handlers still run, as without the
    wrapper (docs/internals/lifespan.md); they were skipped, left to an exit that never came.
    When the slow part is the wrapper's own, after the default yielded, the default's exit runs
    them as the cancellation passes it: once (the bridge ran them a second time)."""
    import asyncio
    import contextlib

    from conftest import free_port
    from support.run_in_thread import run_answering_once

    events = []
    app = ViperHTTP()

    @app.on_event("startup")
    async def slow_start():
        events.append("startup")
        if slow_part == "startup handler":
            await asyncio.sleep(30)

    app.add_event_handler("shutdown", lambda: events.append("shutdown"))

    @app.get("/")
    def index():
        return {"ok": True}

    orig = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def wrapped(app_):
        async with orig(app_):
            if slow_part != "startup handler":
                await asyncio.sleep(30)
            yield

    app.router.lifespan_context = wrapped
    answers = run_answering_once(app, free_port(), startup_timeout_s=0.3)
    assert answers == [{"ok": True}]  # served while the startup went on
    assert events == ["startup", "shutdown"]


def test_app_router_takes_fastapis_and_starlettes_signatures():
    """`app.router.route(path, methods=None, name=None, include_in_schema=True)` (Starlette's,
    positional too), `api_route(path, methods=None)`, `websocket(path, name)` and
    `add_api_websocket_route(path, endpoint, name)` were TypeErrors / ValueErrors here."""
    import pytest

    app = ViperHTTP()

    def plain():
        return "plain"

    async def echo(ws):
        await ws.accept()
        await ws.send_text("hi")
        await ws.close()

    app.router.route("/any", None)(plain)  # Starlette: no methods is GET
    app.router.route("/posted", ["POST"], "posted")(plain)
    app.router.api_route("/api", methods=None)(plain)
    app.router.websocket("/ws", "ws_name")(echo)
    app.router.add_api_websocket_route("/ws2", echo, "ws2_name")
    with pytest.raises(TypeError, match="multiple values for argument 'methods'"):
        app.router.route("/x", ["GET"], methods=["POST"])

    @app.get("/names")
    def names():
        return [app.url_path_for(n) for n in ("posted", "ws_name", "ws2_name")]

    with TestClient(app) as client:
        assert client.get("/any").text == "plain" and client.get("/api").text == "plain"
        assert client.post("/posted").text == "plain" and client.get("/posted").status_code == 405
        assert client.get("/names").json() == ["/posted", "/ws", "/ws2"]
        for path in ("/ws", "/ws2"):
            with client.websocket_connect(path) as ws:
                assert ws.receive_text() == "hi"


def test_response_model_of_a_partial_or_a_callable_instance_is_its_return_annotation():
    """`route.response_model` read the return annotation of a plain function only: a
    `functools.partial` or an instance with `__call__` gave None (FastAPI 0.165, through
    `inspect.signature`: the annotation, here `int` and `dict`)."""
    import functools

    app = ViperHTTP()

    def base(x: int = 1) -> int:
        return x

    class Handler:
        def __call__(self) -> dict:
            return {}

    app.add_api_route("/partial", functools.partial(base, x=2))
    app.add_api_route("/instance", Handler())

    @app.get("/models")
    def models():
        return [repr(r.response_model) for r in app.routes[:2]]

    with TestClient(app) as client:
        assert client.get("/models").json() == ["<class 'int'>", "<class 'dict'>"]
        assert client.get("/partial").json() == 2 and client.get("/instance").json() == {}


def test_routers_and_include_router_take_default_response_class():
    """`APIRouter(default_response_class=...)` and `include_router(..., default_response_class=...)`
    (also `app.router.include_router`) were TypeErrors. As FastAPI 0.165: the route's own class,
    then its router's, then the include's (an including router's own default last)."""
    from viperhttp.responses import HTMLResponse, JSONResponse, PlainTextResponse

    app = ViperHTTP()
    html = APIRouter(default_response_class=HTMLResponse)

    @html.get("/a")
    def a():
        return "<p>a</p>"

    @html.get("/b", response_class=JSONResponse)
    def b():
        return "b"

    plain = APIRouter()

    @plain.get("/c")
    def c():
        return "c"

    outer = APIRouter(default_response_class=PlainTextResponse)
    outer.include_router(plain, prefix="/o")
    app.include_router(html)
    app.include_router(plain, prefix="/inc", default_response_class=HTMLResponse)
    app.router.include_router(outer)
    with TestClient(app) as client:
        answers = [client.get(u) for u in ("/a", "/b", "/inc/c", "/o/c")]
    assert [(r.headers["content-type"], r.text) for r in answers] == [
        ("text/html; charset=utf-8", "<p>a</p>"), ("application/json", '"b"'),
        ("text/html; charset=utf-8", "c"), ("text/plain; charset=utf-8", "c")]
