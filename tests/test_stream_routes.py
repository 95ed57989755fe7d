"""Path operations that `yield` (FastAPI's streaming responses; docs/internals/typed-api.md,
"Streaming path operations"): JSON Lines by default, SSE with `response_class=
EventSourceResponse` (plain items as JSON `data:`, `ServerSentEvent` for the fields), the raw
chunks with `response_class=StreamingResponse`; over a real socket (the TestClient's server),
wire formats as FastAPI 0.165 writes them."""
from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterable, Iterable, Iterator
from typing import Optional

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

import viperhttp
from viperhttp import StreamingResponse, ViperHTTP
from viperhttp.sse import EventSourceResponse, ServerSentEvent, format_sse_event
from viperhttp.testclient import TestClient


class Item(BaseModel):
    name: str
    price: float = 0.0


ITEMS = [{"name": "Plumbus", "price": 3}, {"name": "Portal Gun", "price": 999.5}]
closed = threading.Event()


class PNGStreamingResponse(StreamingResponse):
    media_type = "image/png"


def build() -> ViperHTTP:
    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/jsonl")
    async def jsonl() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item  # validated and dumped by Item

    @app.get("/jsonl-sync", status_code=201)
    def jsonl_sync() -> Iterable[Item]:
        yield from (Item(**i) for i in ITEMS)

    @app.get("/jsonl-plain")
    def jsonl_plain():
        yield {"a": 1}
        yield [1, 2]
        yield "text"

    @app.get("/bad-item")
    async def bad_item() -> AsyncIterable[Item]:
        yield {"name": "ok"}
        yield {"price": "not a number"}

    @app.get("/sse", response_class=EventSourceResponse)
    async def sse() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item

    @app.post("/sse-events", response_class=EventSourceResponse)
    def sse_events(last_event_id: Optional[int] = None) -> Iterator[ServerSentEvent]:
        yield ServerSentEvent(comment="stream of updates\nsecond line")
        yield ServerSentEvent(data={"n": 1}, event="update", id="0", retry=5000)
        yield ServerSentEvent(raw_data="2025-01-01 INFO started")
        yield ServerSentEvent(data="hello")

    @app.get("/png", response_class=PNGStreamingResponse)
    def png() -> Iterable[bytes]:
        yield b"\x89PNG"
        yield b"rest"

    @app.get("/endless")
    async def endless():
        try:
            n = 0
            while True:
                n += 1
                yield {"n": n}
        finally:
            closed.set()

    return app


@pytest.fixture(scope="module")
def client():
    app = build()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    viperhttp.reset()


def _lines(r):
    return [json.loads(line) for line in r.text.splitlines()]


def test_json_lines(client):
    r = client.get("/jsonl")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/jsonl")
    assert r.text == '{"name":"Plumbus","price":3.0}\n{"name":"Portal Gun","price":999.5}\n'
    r = client.get("/jsonl-sync")
    assert r.status_code == 201 and _lines(r) == [{"name": "Plumbus", "price": 3.0},
                                                  {"name": "Portal Gun", "price": 999.5}]
    assert _lines(client.get("/jsonl-plain")) == [{"a": 1}, [1, 2], "text"]


def test_an_item_that_fails_validation_ends_the_stream(client):
    """As any stream failing after its head went out: what was sent stays, the stream is cut
    (the client sees an incomplete chunked body), the server logs async_stream_error."""
    with client.stream("GET", "/bad-item") as r:
        assert r.status_code == 200
        got = b""
        with pytest.raises(Exception):
            for chunk in r.iter_bytes():
                got += chunk
    assert got == b'{"name":"ok","price":0.0}\n'


def test_server_sent_events(client):
    r = client.get("/sse")
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
    assert r.text == ('data: {"name":"Plumbus","price":3.0}\n\n'
                      'data: {"name":"Portal Gun","price":999.5}\n\n')
    r = client.post("/sse-events")
    blocks = r.text.split("\n\n")
    assert blocks[0] == ": stream of updates\n: second line"  # FastAPI's `: ` comments, no data
    assert set(blocks[1].split("\n")) == {"event: update", 'data: {"n":1}', "id: 0", "retry: 5000"}
    assert blocks[2] == "data: 2025-01-01 INFO started"  # raw_data as it is
    assert blocks[3] == 'data: "hello"'  # data is always JSON
    assert format_sse_event(data_str="x", event="e") == b"event: e\ndata: x\n\n"
    with pytest.raises(ValueError):
        ServerSentEvent(event="two\nlines")
    with pytest.raises(ValueError):
        ServerSentEvent(data=1, raw_data="1")


def test_raw_chunks_with_the_class_media_type(client):
    r = client.get("/png")
    assert (r.headers["content-type"], r.content) == ("image/png", b"\x89PNGrest")


def test_a_client_that_leaves_closes_the_generator(client):
    closed.clear()
    with client.stream("GET", "/endless") as r:
        lines = r.iter_lines()
        assert json.loads(next(lines)) == {"n": 1}
    assert closed.wait(10), "the generator's finally did not run after the client left"


def test_openapi_describes_one_item(client):
    doc = client.get("/openapi.json").json()
    ok = doc["paths"]["/jsonl"]["get"]["responses"]["200"]
    assert ok["content"] == {"application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Item"}}}
    assert doc["paths"]["/jsonl-plain"]["get"]["responses"]["200"]["content"] == {
        "application/jsonl": {"itemSchema": {}}}
    sse = doc["paths"]["/sse"]["get"]["responses"]["200"]["content"]["text/event-stream"]["itemSchema"]
    assert sse["properties"]["data"] == {"type": "string", "contentMediaType": "application/json",
                                         "contentSchema": {"$ref": "#/components/schemas/Item"}}
    assert sse["required"] == ["data"]
    assert doc["paths"]["/png"]["get"]["responses"]["200"]["content"] == {"image/png": {"schema": {"type": "string"}}}
    # `itemSchema` is OpenAPI 3.2's, which FastAPI writes into its 3.1 document too (a strict
    # 3.1 validator refuses that one key); the rest of the document is valid 3.1
    for path in doc["paths"].values():
        for op in path.values():
            for answer in op["responses"].values():
                for media in answer.get("content", {}).values():
                    media.pop("itemSchema", None)
    validate(doc)

