"""Path operations that `yield` with dependencies and app defaults (docs/internals/typed-api.md,
"Streaming path operations"): each test serves its own app through the TestClient."""
from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable

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
