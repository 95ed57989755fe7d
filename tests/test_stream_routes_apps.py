"""Path operations that `yield` with dependencies and app defaults (docs/internals/typed-api.md,
"Streaming path operations"): each test serves its own app through the TestClient."""
from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable

from pydantic import BaseModel

import viperhttp
from viperhttp import ViperHTTP
from viperhttp.testclient import TestClient


def _lines(r):
    return [json.loads(line) for line in r.text.splitlines()]


def test_yield_dependencies_stay_open_until_the_stream_ends():
    """FastAPI keeps a streaming path operation's `yield` dependencies open until the stream
    has ended (its `Depends(get_db)` pattern); the generator sees its request as
    `current_request()`. Both were broken: the session closed before the first item."""
    from viperhttp import Depends

    log = []

    async def db():
        log.append("open")
        try:
            yield "session"
        finally:
            log.append("close")

    def sync_db():
        log.append("sync open")
        yield "s"
        log.append("sync close")

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/items")
    async def items(s=Depends(db)) -> AsyncIterable[dict]:
        log.append(f"item 1 {s} {viperhttp.current_request().path}")
        yield {"n": 1}
        log.append("item 2")
        yield {"n": 2}

    @app.get("/sync-items")
    def sync_items(s=Depends(sync_db)) -> Iterable[dict]:
        log.append(f"sync item {viperhttp.current_request().path}")
        yield {"n": 1}

    try:
        with TestClient(app) as c:
            assert _lines(c.get("/items")) == [{"n": 1}, {"n": 2}]
            assert log == ["open", "item 1 session /items", "item 2", "close"]
            log.clear()
            assert _lines(c.get("/sync-items")) == [{"n": 1}]
            assert log == ["sync open", "sync item /sync-items", "sync close"]
    finally:
        viperhttp.reset()


def test_app_default_response_class_and_one_body_classes():
    """FastAPI's rule: `default_response_class` does not turn a generator into that class
    (it was a 500: JSONResponse of a generator); an explicit one-body class (HTMLResponse)
    streams the items with its type (it sent the generator's repr)."""
    from viperhttp import HTMLResponse, JSONResponse

    viperhttp.reset()
    app = ViperHTTP(default_response_class=JSONResponse)

    @app.get("/lines")
    async def lines():
        yield {"a": 1}

    @app.get("/page", response_class=HTMLResponse)
    async def page():
        yield "<p>one</p>"
        yield "<p>two</p>"

    try:
        with TestClient(app) as c:
            r = c.get("/lines")
            assert (r.status_code, r.headers["content-type"], r.text) == (200, "application/jsonl", '{"a":1}\n')
            r = c.get("/page")
            assert (r.status_code, r.text) == (200, "<p>one</p><p>two</p>")
            assert r.headers["content-type"].startswith("text/html")
    finally:
        viperhttp.reset()


def _raw_get(port, path):
    """A raw HTTP/1.1 GET whose socket the caller closes (a client that leaves)."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return sock


def _wait_for(predicate, timeout=5.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_yield_dependencies_of_a_stream_never_sent_are_torn_down_once():
    """A streamed response that is never sent (a middleware raising after `call_next`, a
    client gone before the head went out) releases the `yield` dependencies handed over to
    it at once, resumed as after a stream (the code after `yield` runs, once); they were
    left to the garbage collector, which only throws GeneratorExit in: the code after a
    bare `yield` never ran."""
    import asyncio

    from viperhttp import Depends

    log = []

    def session():
        log.append("open")
        yield "s"
        log.append("close")  # no `finally`: runs only when resumed

    async def asession():
        log.append("aopen")
        yield "a"
        log.append("aclose")

    viperhttp.reset()
    app = ViperHTTP()

    @app.middleware("http")
    async def mw(request, call_next):
        response = await call_next(request)
        if request.path == "/boom":
            raise RuntimeError("after call_next")
        if request.path == "/late":
            for _ in range(250):  # until the client has left (at most 5 s)
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.02)
        return response

    @app.get("/boom")
    async def boom(s=Depends(session), a=Depends(asession)) -> AsyncIterable[dict]:
        log.append("never")
        yield {"n": 1}

    @app.get("/late")
    def late(s=Depends(session)) -> Iterable[dict]:
        log.append("never")
        yield {"n": 1}

    @app.get("/ok")
    async def ok(s=Depends(session)) -> AsyncIterable[dict]:
        yield {"n": 1}

    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            assert c.get("/boom").status_code == 500
            assert log == ["open", "aopen", "aclose", "close"]  # before the 500 went out
            log.clear()
            sock = _raw_get(app.bound_port, "/late")
            assert _wait_for(lambda: log == ["open"])
            sock.close()
            assert _wait_for(lambda: log == ["open", "close"]), log
            log.clear()
            assert _lines(c.get("/ok")) == [{"n": 1}]
            assert _wait_for(lambda: log == ["open", "close"]), log  # a sent stream: once
            import gc

            gc.collect()
            assert log == ["open", "close"]
    finally:
        viperhttp.reset()



def test_yield_dependencies_of_a_stream_for_a_replaced_request_are_torn_down():
    """A middleware that calls `call_next(other_request)` and answers otherwise: the stream
    built for the replacement was never released (the chain and the bridge looked only at the
    request they were given), so the code after the dependency's `yield` never ran. The
    replacement's streams are now the chain's; a stream that is sent releases once, as before."""
    from viperhttp import Depends, JSONResponse, Request

    log = []

    def session():
        log.append("open")
        yield "s"
        log.append("close")

    viperhttp.reset()
    app = ViperHTTP()

    @app.middleware("http")
    async def swap(request, call_next):
        replacement = Request(method=request.method, path=request.path, query=request.query,
                              headers=dict(request.headers))
        response = await call_next(replacement)
        if request.path == "/answered":
            return JSONResponse({"answered": "by the middleware"})
        return response

    @app.get("/answered")
    async def answered(s=Depends(session)) -> AsyncIterable[dict]:
        log.append("never")
        yield {"n": 1}

    @app.get("/sent")
    async def sent(s=Depends(session)) -> AsyncIterable[dict]:
        yield {"n": 2}

    try:
        with TestClient(app) as c:
            assert c.get("/answered").json() == {"answered": "by the middleware"}
            assert log == ["open", "close"]  # before the middleware's answer went out
            log.clear()
            assert _lines(c.get("/sent")) == [{"n": 2}]
            assert _wait_for(lambda: log == ["open", "close"]), log
            import gc

            gc.collect()
            assert log == ["open", "close"]  # once
    finally:
        viperhttp.reset()

def test_an_event_source_subclass_without_ping_serves_a_generator():
    """FastAPI takes the class of a generator route only as the sign for SSE: the response is
    its own event stream, the subclass's `__init__` is not called. A subclass whose
    `__init__` takes no `ping` was a 500 (TypeError)."""
    from viperhttp.sse import EventSourceResponse

    class MyEvents(EventSourceResponse):
        def __init__(self, content, headers=None):
            super().__init__(content, headers=headers)

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/events", response_class=MyEvents, status_code=202)
    async def events():
        yield {"n": 1}
        yield "two"

    @app.get("/sync-events", response_class=MyEvents)
    def sync_events():
        yield 3

    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/events")
            assert (r.status_code, r.headers["content-type"]) == (202, "text/event-stream; charset=utf-8")
            assert r.headers["cache-control"] == "no-cache"
            assert r.text == 'data: {"n":1}\n\ndata: "two"\n\n'
            assert c.get("/sync-events").text == "data: 3\n\n"
    finally:
        viperhttp.reset()


def test_a_generator_route_that_returns_a_response_instead_tears_its_dependencies_down():
    """A route registered as a generator whose call returns a Response instead (a decorator
    wrapping the generator function, `functools.wraps` keeping its signature): nothing streams,
    so its `yield` dependency is torn down as on any route (it was handed to a stream that never
    existed and never torn down)."""
    import functools

    from viperhttp import Depends, JSONResponse

    log = []

    def dep():
        log.append("enter")
        yield 1
        log.append("exit")  # no `finally`: runs only when resumed

    def short_circuit(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            return JSONResponse({"short": True})
        return wrapper

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/s")
    @short_circuit
    def s(d: int = Depends(dep)):
        yield 1

    with TestClient(app) as client:
        r = client.get("/s")
        assert r.status_code == 200 and r.json() == {"short": True}
        assert log == ["enter", "exit"]
    viperhttp.reset()


class Item(BaseModel):
    name: str
    price: float


class Prices:
    def __call__(self) -> Iterable[Item]:
        yield {"name": "Plumbus", "price": 3}  # validated by the annotation


def test_an_instance_whose_call_yields_streams_as_in_fastapi():
    """FastAPI's test of a path operation that yields is its test of a `yield` dependency
    (viperhttp.callables): also an instance whose `__call__` is a generator function. Such a
    route answered the generator's repr as text/plain; now it streams JSON Lines, its items
    validated by `__call__`'s return annotation."""
    viperhttp.reset()
    app = ViperHTTP()
    app.get("/prices")(Prices())
    try:
        with TestClient(app) as c:
            r = c.get("/prices")
            doc = c.get("/openapi.json").json()
    finally:
        viperhttp.reset()
    assert (r.status_code, r.headers["content-type"]) == (200, "application/jsonl")
    assert r.text == '{"name":"Plumbus","price":3.0}\n'
    assert doc["paths"]["/prices"]["get"]["responses"]["200"]["content"] == {
        "application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Item"}}}


class OnePrice:
    def __call__(self) -> Item:
        return {"name": "Plumbus", "price": 3, "cost": 1}  # `cost` is not the model's


def priced(cost: int = 0) -> Item:
    return {"name": "Plumbus", "price": 3, "cost": cost}


def priced_items(cost: int = 0) -> Iterable[Item]:
    yield {"name": "Plumbus", "price": 3, "cost": cost}


def test_an_instances_or_partials_return_annotation_is_its_response_model_as_in_fastapi():
    """A callable instance's return annotation is its `__call__`'s, a `functools.partial`'s its
    function's (`signature.return_hint`), as FastAPI reads them (`inspect.signature`). Only the
    streamed item type of an instance read it: a callable instance or a partial annotated
    `-> Item` had no response model (its extra fields sent, `route.response_model` None), a
    partial's streamed items were not validated."""
    import functools

    viperhttp.reset()
    app = ViperHTTP()
    app.get("/price")(OnePrice())
    app.get("/partial")(functools.partial(priced, cost=1))
    app.get("/partial-items")(functools.partial(priced_items, cost=1))
    try:
        with TestClient(app) as c:
            answers = [c.get(path) for path in ("/price", "/partial", "/partial-items")]
            doc = c.get("/openapi.json").json()
    finally:
        viperhttp.reset()
    price = {"name": "Plumbus", "price": 3.0}
    assert [r.json() for r in answers[:2]] == [price, price]
    assert answers[2].text == '{"name":"Plumbus","price":3.0}\n'
    assert [route.response_model for route in app.routes if route.path.startswith("/p")] == [Item, Item, None]
    for path in ("/price", "/partial"):
        assert doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Item"}
