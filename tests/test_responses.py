"""Responses (docs/internals/requests-responses.md#responses,
docs/internals/bridge.md#decisions-on-serialisation), SSE (docs/internals/websocket.md#server-sent-events) and
FileResponse (docs/internals/static-files.md#fileresponse): in-process unit tests, then everything on the wire
(tests/apps/rr_responses.py)."""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from email.utils import formatdate

import pytest

import viperhttp.files as files
import viperhttp_bridge
from viperhttp.files import accepts_gzip, etag_matches
from viperhttp.responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse,
                                 RedirectResponse, Response, StreamingResponse, is_response, normalize,
                                 serialize_response)
from viperhttp_responses import EventSourceResponse, format_sse_event

TEXT = "text/plain; charset=utf-8"
KEYS = {"__vhttp_response__", "status_code", "body", "headers", "content_type"}
STREAM_KEYS = KEYS | {"stream", "chunk_size", "total_len", "chunked"}
FILE_KEYS = KEYS | {"file", "chunk_size"}


# --- constructors ----------------------------------------------------------------------------


def test_response_positional_order_keys_and_properties():
    r = Response(201, "b", {"X": "1"}, "text/x")
    assert type(r).__mro__[1] is dict and set(r) == KEYS and is_response(r)
    assert r == {"__vhttp_response__": True, "status_code": 201, "body": "b",
                 "headers": {"X": "1"}, "content_type": "text/x"}
    assert (r.status_code, r.body, r.headers, r.media_type) == (201, "b", {"X": "1"}, "text/x")
    r.status_code, r.body, r.media_type = 404, b"x", None
    assert r["status_code"] == 404 and r["body"] == b"x" and r["content_type"] is None
    r = Response()
    assert r["headers"] is None and r.headers == {} and r["headers"] == {}
    r.headers = [("A", "b")]
    assert r["headers"] == [("A", "b")]


def test_json_html_plaintext_defaults_and_orders():
    assert JSONResponse(200, {"a": 1})["content_type"] == "application/json"
    assert JSONResponse(200, {"a": 1})["body"] == {"a": 1}  # encoded when sent: middleware may still edit it
    r = JSONResponse(content="s")
    assert r.body == '"s"'
    r.body = False
    assert r["body"] == "false" and JSONResponse(body=b"{}")["body"] == b"{}"
    assert JSONResponse(body=[1], content_type="application/x+json")["content_type"] == "application/x+json"
    h = HTMLResponse("<p>", 202, {"X": "y"})
    assert (h.status_code, h.body, h.media_type, h.headers) == (202, "<p>", "text/html; charset=utf-8", {"X": "y"})
    assert HTMLResponse().body == "" and PlainTextResponse().body == ""
    assert PlainTextResponse("t").media_type == TEXT
    # media_type= brings Starlette's charset rule for text/* (content_type= is sent as given)
    assert PlainTextResponse(content="c", media_type="text/x").media_type == "text/x; charset=utf-8"
    assert PlainTextResponse(content="c", content_type="text/x").media_type == "text/x"


def test_aliases_and_type_errors():
    assert Response(content="c", media_type="m")["body"] == "c"
    assert Response(content="c", media_type="m")["content_type"] == "m"
    with pytest.raises(TypeError):
        Response(body="a", content="b")
    with pytest.raises(TypeError):
        Response(content_type="a", media_type="b")
    with pytest.raises(TypeError):
        StreamingResponse([b"x"], content=[b"y"])
    with pytest.raises(TypeError):
        HTMLResponse("a", content="b")
    with pytest.raises(TypeError):
        Response(status=200)  # unknown keyword
    with pytest.raises(TypeError):
        JSONResponse(200, None, None, None, None)  # too many positionals
    with pytest.raises(TypeError):
        FileResponse("x", body="y")
    with pytest.raises(TypeError):
        Response(200, "x", headers="X: y")
    with pytest.raises(TypeError, match="status_code given twice"):
        JSONResponse(404, status_code=400)
    with pytest.raises(TypeError, match="content given twice"):
        JSONResponse({"a": 1}, content={"b": 2})
    with pytest.raises(TypeError, match="status_code must be an int"):
        JSONResponse({"a": 1}, "400")  # FastAPI's order: the second is the status


def test_a_response_holds_its_own_copy_of_the_headers_given():
    """A module-level headers constant given to many responses: a header set on one response
    later (a middleware's `response.headers[...] = ...`) reached the constant and so every later
    response (Starlette's responses copy what they are given)."""
    shared = {"X-A": "1"}
    pairs = [("X-A", "1")]
    async def gen():
        yield "x"

    for made in (Response("x", headers=shared), JSONResponse({"a": 1}, headers=shared),
                 HTMLResponse("<p>", headers=shared), Response("x", headers=pairs),
                 StreamingResponse(gen(), headers=shared),
                 EventSourceResponse(gen(), headers={**shared, "Cache-Control": "no-cache",
                                                     "X-Accel-Buffering": "no"})):
        made.headers["X-Request"] = "2"
    assert shared == {"X-A": "1"} and pairs == [("X-A", "1")]


def test_fastapi_positional_order_beside_the_originals():
    """A first positional argument that is not an int is FastAPI's content (its most common
    hand-written lines raised TypeError at request time: a 500); an int is the original's
    status code."""
    def seen(r):
        return r["status_code"], r["body"]

    assert seen(Response("hello")) == (200, "hello")
    assert seen(JSONResponse({"x": 1})) == (200, {"x": 1})
    assert seen(JSONResponse({"a": 1}, status_code=400)) == (400, {"a": 1})
    assert seen(JSONResponse({"a": 1}, 400)) == (400, {"a": 1})
    assert seen(JSONResponse([1], 201, {"X-A": "1"})) == (201, [1]) and JSONResponse([1], 201, {"X-A": "1"})["headers"] == {"X-A": "1"}
    assert seen(JSONResponse("ok")) == (200, '"ok"')
    assert seen(JSONResponse(True)) == (200, "true")  # a bool is content, never a status
    assert seen(JSONResponse(404, {"d": 1})) == (404, {"d": 1})  # the original's order
    assert seen(Response(404, "gone")) == (404, "gone")
    assert seen(JSONResponse(status_code=201, body=[1])) == (201, [1])


def test_streaming_response_rules():
    s = StreamingResponse([b"a"], 206, [("X", "1")], None, 10, 1, True)
    assert set(s) == STREAM_KEYS
    assert (s["stream"], s["status_code"], s["headers"], s["chunk_size"], s["total_len"], s["chunked"]) == \
        ([b"a"], 206, [("X", "1")], 10, 1, True)
    assert s["body"] is None and s["content_type"] == "application/octet-stream"
    assert StreamingResponse(content=b"buf", media_type="text/x")["content_type"] == "text/x; charset=utf-8"
    with pytest.raises(TypeError, match="body required"):
        StreamingResponse()
    with pytest.raises(TypeError, match="body required"):
        StreamingResponse(None)
    with pytest.raises(ValueError, match="chunk_size must be > 0"):
        StreamingResponse([b"a"], chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size must be > 0"):
        StreamingResponse([b"a"], chunk_size=-5)
    with pytest.raises(TypeError):
        StreamingResponse(42)


def test_redirect_response():
    r = RedirectResponse("/to")
    assert r == {"__vhttp_response__": True, "status_code": 307, "body": "", "headers": {"Location": "/to"},
                 "content_type": TEXT}
    for code in (301, 302, 303, 307, 308):
        assert RedirectResponse("/x", code).status_code == code
    src = {"X": "1"}
    assert RedirectResponse("/x", 302, src)["headers"] == {"X": "1", "Location": "/x"} and src == {"X": "1"}
    assert RedirectResponse("/x", 301, [("X", "1")])["headers"] == [("X", "1"), ("Location", "/x")]
    for bad_url in ("", None, 5, b"/x"):
        with pytest.raises(ValueError, match="url must be a non-empty string"):
            RedirectResponse(bad_url)
    for bad_code in (200, 304, 300, 309, True, 307.0, "307"):
        with pytest.raises(ValueError, match="status_code must be one of 301, 302, 303, 307, 308"):
            RedirectResponse("/x", bad_code)


# --- normalise / serialise -------------------------------------------------------------------


@pytest.mark.parametrize("value,status,body,ctype", [
    ({"a": 1}, 200, {"a": 1}, "application/json"),
    ([1, 2], 200, [1, 2], "application/json"),
    ("s", 200, "s", TEXT),
    (b"b", 200, b"b", "application/octet-stream"),
    (bytearray(b"b"), 200, bytearray(b"b"), "application/octet-stream"),
    (None, 200, None, None),
    (42, 200, "42", TEXT),
    (1.5, 200, "1.5", TEXT),
    (False, 200, "False", TEXT),
    ((1, "a"), 200, "(1, 'a')", TEXT),
])
def test_normalize_table(value, status, body, ctype):
    resp = normalize(value)
    assert set(resp) == KEYS and resp["__vhttp_response__"] is True
    assert (resp["status_code"], resp["body"], resp["headers"], resp["content_type"]) == (status, body, None, ctype)


def test_normalize_keeps_response_dicts():
    r = Response(body="x")
    assert normalize(r) is r
    raw = {"__vhttp_response__": True, "body": "x"}
    assert normalize(raw) is raw
    not_marked = {"__vhttp_response__": 1}
    assert normalize(not_marked)["body"] is not_marked  # only `True` marks a response


@pytest.mark.parametrize("value,body,ctype", [
    ({"a": 1, "u": "é", "l": [1.5, None, True]}, '{"a":1,"u":"é","l":[1.5,null,true]}'.encode(), "application/json"),
    ([], b"[]", "application/json"),
    ("héllo", "héllo".encode(), TEXT),
    (b"\x00", b"\x00", "application/octet-stream"),
    (None, b"", None),
    (7, b"7", TEXT),
    ((1, 2), b"(1, 2)", TEXT),
])
def test_serialize_plain_values(value, body, ctype):
    out = serialize_response(value)
    assert out == {"__vhttp_response__": True, "status_code": 200, "body": body, "headers": None,
                   "content_type": ctype}


def test_serialize_response_dicts():
    assert serialize_response(Response(201, {"k": "v"}, [("X", "1")]))["body"] == b'{"k":"v"}'
    out = serialize_response(JSONResponse(body={"a": (1, 2)}))
    assert out["body"] == b'{"a":[1,2]}' and out["content_type"] == "application/json"
    out = serialize_response(Response(body="x", content_type="text/x"))
    assert out["content_type"] == "text/x" and out["body"] == b"x"
    out = serialize_response({"__vhttp_response__": True, "body": memoryview(b"mv")})
    assert out["status_code"] == 200 and out["body"] == b"mv" and out["content_type"] == "application/octet-stream"
    out = serialize_response(Response(body=bytearray(b"ba")))
    assert out["body"] == b"ba" and type(out["body"]) is bytes
    assert serialize_response(Response(body=3.0))["body"] == b"3.0"
    stream = StreamingResponse([b"x"])
    assert serialize_response(stream) is stream


def test_serialize_json_errors():
    with pytest.raises(ValueError):
        serialize_response({"x": float("nan")})
    with pytest.raises(TypeError):
        serialize_response({"x": object()})


# --- SSE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("item,text", [
    ({"event": "tick", "data": {"i": 0}}, 'event: tick\ndata: {"i":0}\n\n'),
    ({"comment": "a\nb", "event": "e", "id": "0", "retry": "1500", "data": "x"},
     ":a\n:b\nevent: e\nid: 0\nretry: 1500\ndata: x\n\n"),
    ({"id": 0, "event": "", "retry": "soon", "data": None}, "data:\n\n"),
    ({"data": "l1\nl2\r\nl3"}, "data: l1\ndata: l2\ndata: l3\n\n"),
    ({"data": b"bytes"}, "data: bytes\n\n"),
    ({"data": [1, "é"]}, 'data: [1,"é"]\n\n'),
    ({}, "data:\n\n"),
    ("plain", "data: plain\n\n"),
    (b"raw", "data: raw\n\n"),
    ([1, 2], "data: [1,2]\n\n"),
    (5, "data: 5\n\n"),
    ("", "data:\n\n"),
    # Lines end at CR, LF, CRLF only: U+2028 (valid inside a JSON string), U+0085, form feed stay.
    ({"data": {"text": "first\u2028second"}}, 'data: {"text":"first\u2028second"}\n\n'),
    ("a\x85b\x0cc\rd", "data: a\x85b\x0cc\ndata: d\n\n"),
    ({"comment": "c1\u2028c2\rc3"}, ":c1\u2028c2\n:c3\ndata:\n\n"),
    # A line break in `event` / `id` cannot end the field and forge another one.
    ({"event": "lobby\ndata: {\"admin\":true}\n\nevent: x", "id": "5\r\nretry: 1", "data": "hello"},
     'event: lobbydata: {"admin":true}event: x\nid: 5retry: 1\ndata: hello\n\n'),
])
def test_format_sse_event(item, text):
    assert format_sse_event(item) == text


def _drain(stream):
    if hasattr(stream, "__aiter__"):
        async def run():
            return [item async for item in stream]
        return asyncio.run(run())
    return list(stream)


def test_event_source_response_sync_and_async():
    r = EventSourceResponse([{"event": "a", "data": 1}, "x"], retry=2000, headers={"X-S": "s"})
    assert isinstance(r, StreamingResponse) and set(r) == STREAM_KEYS
    assert r["content_type"] == "text/event-stream; charset=utf-8"
    assert r["chunked"] is True and r["chunk_size"] == 1024 and r["status_code"] == 200
    assert r["headers"] == {"X-S": "s", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    assert _drain(r["stream"]) == ["retry: 2000\n\n", "event: a\ndata: 1\n\n", "data: x\n\n"]

    async def agen():
        yield {"data": "one"}
        yield "two"
    r = EventSourceResponse(agen(), headers=[("cache-control", "no-store")], chunk_size=7)
    assert r["headers"] == [("cache-control", "no-store"), ("X-Accel-Buffering", "no")]
    assert r["chunk_size"] == 7
    assert _drain(r["stream"]) == ["data: one\n\n", "data: two\n\n"]
    assert _drain(EventSourceResponse(None)["stream"]) == []
    assert _drain(EventSourceResponse([], retry="x")["stream"]) == []
    with pytest.raises(TypeError):
        EventSourceResponse(5)


def test_event_source_ping_and_close():
    closed = []

    async def slow():
        try:
            await asyncio.sleep(0.25)
            yield {"data": "late"}
            await asyncio.sleep(10)
            yield {"data": "never"}
        finally:
            closed.append(True)

    async def run():
        stream = EventSourceResponse(slow(), ping=0.1)["stream"]
        out = []
        async for item in stream:
            out.append(item)
            if item.startswith("data"):
                break
        await stream.aclose()
        return out
    out = asyncio.run(run())
    assert out[-1] == "data: late\n\n" and out.count(":ping\n\n") >= 2
    assert closed == [True]
    with pytest.raises(ValueError):
        EventSourceResponse([], ping=0)


def test_streaming_event_stream_formats_dicts_and_closes_source():
    closed = []

    def gen():
        try:
            yield {"event": "e", "data": {"k": 1}}
            yield "raw\n\n"
            yield b"bytes"
            yield {"data": "never"}
        finally:
            closed.append(True)
    s = StreamingResponse(gen(), media_type="text/event-stream")
    stream = s["stream"]
    assert [next(stream), next(stream), next(stream)] == ['event: e\ndata: {"k":1}\n\n', "raw\n\n", b"bytes"]
    stream.close()
    assert closed == [True]
    s = StreamingResponse(b"already text", content_type="text/event-stream")
    assert s["stream"] == b"already text"


# --- files -----------------------------------------------------------------------------------


def test_native_file_rules_through_the_binding():
    """The type table, gzip negotiation and If-None-Match rule have one owner, the runtime
    (docs/internals/static-files.md); Python reaches them through `_native`."""
    from viperhttp import _native
    cases = {"a.html": "text/html; charset=utf-8", "A.HTM": "text/html; charset=utf-8",
             "x.js": "application/javascript", "d.json": "application/json", "t.txt": TEXT,
             "c.csv": "text/csv; charset=utf-8", "d.pdf": "application/pdf",
             "noext": "application/octet-stream", "dir.d/noext": "application/octet-stream",
             "a.tar.gz": "application/octet-stream"}
    for name, ctype in cases.items():
        assert _native.content_type_for(name) == ctype, name
    assert accepts_gzip("gzip, deflate") and accepts_gzip("GZIP;q=0.5") and accepts_gzip("x-gzip")
    assert accepts_gzip("br, *") and not accepts_gzip("*;q=0")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("gzip;q=0, *")
    assert not accepts_gzip("identity") and not accepts_gzip(None) and not accepts_gzip("deflate, br")
    assert etag_matches("*", 'W/"1-2"') and etag_matches('"1-2"', 'W/"1-2"')
    assert etag_matches('"x", W/"1-2"', 'W/"1-2"') and not etag_matches('"1-3"', 'W/"1-2"')


@pytest.fixture
def docroot(tmp_path):
    text = "".join(f"Line {i:04d} some padding text here\n" for i in range(500)).encode()
    (tmp_path / "large.txt").write_bytes(text)
    (tmp_path / "large.txt.gz").write_bytes(gzip.compress(text))
    (tmp_path / "page.html").write_bytes(b"<html><body>hi</body></html>")
    (tmp_path / "data").write_bytes(bytes(range(256)))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    old = time.time() - 3600
    for name in ("large.txt", "large.txt.gz", "page.html", "data", "empty.txt"):
        os.utime(tmp_path / name, (old, old))
    return tmp_path


def test_vfs_root_mapping(docroot, monkeypatch):
    monkeypatch.setattr(files, "VFS_ROOT", str(docroot))
    assert files.resolve_path("/data") == str(docroot / "data")
    assert files.resolve_path("sub/x") == str(docroot / "sub" / "x")
    with pytest.raises(ValueError):
        files.resolve_path("/../etc/passwd")
    with pytest.raises(ValueError):
        FileResponse("/../etc/passwd")
    assert FileResponse("/page.html")["file"] == str(docroot / "page.html")
    monkeypatch.setattr(files, "VFS_ROOT", None)
    monkeypatch.setenv("VIPERHTTP_VFS_ROOT", str(docroot))
    assert files.resolve_path("/data") == str(docroot / "data")
    monkeypatch.delenv("VIPERHTTP_VFS_ROOT")
    assert files.resolve_path("/data") == "/data"


def test_file_response_class(docroot, monkeypatch):
    r = FileResponse(str(docroot / "page.html"), headers=[("X-A", "1")], media_type="text/x")
    assert isinstance(r, StreamingResponse) and set(r) == FILE_KEYS and r.media_type == "text/x; charset=utf-8"
    assert r.path == r["file"] == str(docroot / "page.html") and r.status_code == 200
    assert FileResponse(str(docroot / "page.html")).media_type == "text/html; charset=utf-8"
    assert FileResponse(docroot / "data").media_type == "application/octet-stream"  # os.PathLike
    # relative paths are made absolute now, so a later chdir cannot move them
    monkeypatch.chdir(docroot)
    assert FileResponse("data").path == str(docroot / "data")
    # the file is opened when the response is sent: a missing one is the runtime's 404 then
    r = FileResponse(str(docroot / "missing"))
    assert isinstance(r, FileResponse) and r.status_code == 200 and r.body is None
    r = FileResponse("x", filename="r.csv")
    assert r.headers == {"Content-Disposition": 'attachment; filename="r.csv"'}
    assert r.media_type == "text/csv; charset=utf-8"
    r = FileResponse("x.bin", filename="é.txt", content_disposition_type="inline", media_type="a/b",
                     headers=[("X", "1")])
    assert r.headers == [("X", "1"), ("Content-Disposition", "inline; filename*=utf-8''%C3%A9.txt")]
    assert r.media_type == "a/b"
    given = {"content-disposition": "inline"}
    assert FileResponse("x", filename="y", headers=given).headers == given
    with pytest.raises(TypeError, match="path must be a string"):
        FileResponse(b"/x")
    with pytest.raises(ValueError, match="chunk_size must be > 0"):
        FileResponse(str(docroot / "data"), chunk_size=0)
    with pytest.raises(TypeError, match="filename must be a str"):
        FileResponse("x", filename=b"y")
    # in-process serialisation hands it back: only the runtime renders a file
    r = FileResponse(str(docroot / "data"))
    assert serialize_response(r) is r


# --- over a real socket ----------------------------------------------------------------------

WIRE_NORMALISED = {
    "dict": (b'{"a":1,"u":"\xc3\xa9","nested":[1,2.5,null,true]}', "application/json"),
    "list": (b'[1,"x",{"k":[]}]', "application/json"),
    "str": ("héllo".encode(), TEXT),
    "bytes": (b"\x00\x01raw", "application/octet-stream"),
    "bytearray": (b"ba", "application/octet-stream"),
    "none": (b"", None),
    "int": (b"42", TEXT),
    "float": (b"1.5", TEXT),
    "bool": (b"True", TEXT),
    "tuple": (b"(1, 'a')", TEXT),
    "obj": (b"a thing", TEXT),
    "empty_str": (b"", TEXT),
    "async": (b'{"async":true}', "application/json"),
}


def test_http_return_value_normalisation(serve, docroot):
    server = serve("apps/rr_responses.py", str(docroot))
    for name, (body, ctype) in WIRE_NORMALISED.items():
        r = server.client.get(f"/norm/{name}")
        assert r.status_code == 200, name
        assert r.content == body, name
        assert r.headers.get("content-type") == ctype, name
        assert r.headers["content-length"] == str(len(body)), name


def test_http_response_classes(serve, docroot):
    server = serve("apps/rr_responses.py", str(docroot))
    c = server.client
    r = c.get("/resp/plain")
    assert (r.status_code, r.content, r.headers["content-type"], r.headers["x-a"]) == (201, b"made", TEXT, "1")
    r = c.get("/resp/json")
    assert (r.status_code, r.content) == (202, '{"k":[1,2],"u":"ż"}'.encode())
    assert r.headers["content-type"] == "application/json" and r.headers.get_list("x-b") == ["2", "3"]
    assert c.get("/resp/json-type").headers["content-type"] == "application/vnd.api+json"
    r = c.get("/resp/html")
    assert (r.content, r.headers["content-type"]) == (b"<h1>hi</h1>", "text/html; charset=utf-8")
    r = c.get("/resp/text")
    assert (r.status_code, r.content, r.headers["content-type"], r.headers["x-t"]) == (203, b"text", TEXT, "t")
    r = c.get("/resp/bytes")
    assert (r.content, r.headers["content-type"]) == (b"\x00raw", "application/octet-stream")
    r = c.get("/resp/alias")  # media_type=: Starlette's charset rule for text/*
    assert (r.content, r.headers["content-type"]) == (b"a,b", "text/csv; charset=utf-8")
    for kind, ctype in (("content-type", "text/csv"), ("own-charset", "text/csv; charset=latin-1"),
                        ("xml", "application/xml"), ("stream", "text/csv; charset=utf-8")):
        assert c.get(f"/resp/media/{kind}").headers["content-type"] == ctype, kind
    r = c.get("/resp/dict-body")
    assert (r.content, r.headers["content-type"]) == (b'{"x":1}', "application/json")
    r = c.get("/resp/empty")
    assert r.status_code == 204 and r.content == b"" and "content-type" not in r.headers
    assert c.get("/resp/user-content-type").headers.get_list("content-type") == ["text/x-custom"]
    r = c.get("/resp/mutated")
    assert (r.status_code, r.content, r.headers["x-m"], r.headers["content-type"]) == \
        (418, b"changed", "m", "text/x-changed")
    r = c.get("/resp/raw-dict")
    assert (r.status_code, r.content, r.headers["x-r"], r.headers["content-type"]) == (299, b"raw", "r", TEXT)
    # A JSONResponse always sends JSON, as FastAPI's does (None: the original's empty body).
    for kind, body in (("str", b'"just a string"'), ("true", b"true"), ("none", b""), ("tuple", b"[1,2]"),
                       ("int", b"5"), ("float", b"1.5")):
        r = c.get(f"/resp/json-scalar/{kind}")
        assert (r.content, r.headers["content-type"]) == (body, "application/json"), kind


def test_http_redirects(serve, docroot):
    server = serve("apps/rr_responses.py", str(docroot))
    r = server.client.get("/redirect")
    assert r.status_code == 307 and r.headers["location"] == "/norm/dict"  # Pinned
    assert r.content == b"" and r.headers["content-type"] == TEXT
    for code in (301, 302, 303, 308):
        r = server.client.get(f"/redirect/{code}")
        assert r.status_code == code and r.headers["location"] == "https://example.com/x?y=1"
        assert r.headers["x-r"] == "1"
    assert server.client.get("/redirect/200").status_code == 500  # ValueError in the handler
    # Starlette's quoting: spaces and non-ASCII percent-encoded, reserved characters and escapes kept.
    r = server.client.get("/redirect-unsafe")
    assert r.headers["location"] == "https://example.com/x%20y/%C3%A9?q=a%20b&r=%2F#f"


def test_http_streaming(serve, docroot):
    server = serve("apps/rr_responses.py", str(docroot))
    expected = "".join(f"line {i}\n" for i in range(100)).encode()
    r = server.client.get("/stream/len")
    assert r.content == expected and r.headers["content-length"] == str(len(expected))  # Pinned
    assert "transfer-encoding" not in r.headers and r.headers["content-type"] == "text/plain"
    r = server.client.get("/stream/chunked")
    assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers  # Pinned
    assert r.content == b"line 0\nline 1\nline 2\nline 3\nline 4\n"
    assert r.headers["content-type"] == "application/octet-stream"
    r = server.client.get("/stream/async")
    assert r.content == b"a0a1a2!" and r.headers["content-type"] == "application/x-async"
    r = server.client.get("/stream/sse-dicts")
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"  # media_type=, as Starlette
    assert r.content == b'event: tick\ndata: {"i":0}\n\nraw: passthrough\n\nid: 7\ndata: two\ndata: lines\n\n'


def test_http_event_source(serve, docroot):
    server = serve("apps/rr_responses.py", str(docroot))
    r = server.client.get("/sse")
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
    assert r.headers["x-s"] == "s" and r.headers["transfer-encoding"] == "chunked"
    assert r.content == (b"retry: 3000\n\n"
                         b'event: tick\ndata: {"i":0}\n\n'  # id 0 is falsy: omitted
                         b'event: tick\nid: 1\ndata: {"i":1}\n\n'
                         b'event: tick\nid: 2\ndata: {"i":2}\n\n'
                         b":bye\ndata:\n\n")
    r = server.client.get("/sse/sync")
    assert r.headers.get_list("cache-control") == ["no-store"]
    assert r.content == b"data: plain\n\ndata: bytes\n\ndata: [1,2]\n\ndata:\n\n"
    r = server.client.get("/sse/ping")
    assert r.content.endswith(b"data: late\n\n") and r.content.count(b":ping\n\n") >= 2


def _identity(extra=None):
    headers = {"Accept-Encoding": "identity"}
    headers.update(extra or {})
    return headers


def test_http_file_response(serve, docroot):
    server = serve("apps/rr_responses.py", str(docroot))
    c = server.client
    data = (docroot / "large.txt").read_bytes()
    r = c.get("/file", headers=_identity())
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == TEXT and r.headers["content-length"] == str(len(data))
    assert r.headers["accept-ranges"] == "bytes" and r.headers["vary"] == "Accept-Encoding"
    assert "cache-control" not in r.headers and "content-encoding" not in r.headers
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    st = os.stat(docroot / "large.txt")
    assert etag == f'W/"{st.st_size:x}-{int(st.st_mtime):x}"' and lm.endswith(" GMT")

    r = c.get("/file", headers=_identity({"If-None-Match": etag}))
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert c.get("/file", headers=_identity({"If-Modified-Since": lm})).status_code == 304
    r = c.get("/file", headers=_identity({"If-None-Match": '"other"', "If-Modified-Since": lm}))
    assert r.status_code == 200

    r = c.get("/file", headers=_identity({"Range": "bytes=0-63"}))
    assert r.status_code == 206 and r.content == data[:64]  # Pinned
    assert r.headers["content-range"] == f"bytes 0-63/{len(data)}" and r.headers["accept-ranges"] == "bytes"
    r = c.get("/file", headers=_identity({"Range": "bytes=-32"}))
    assert r.status_code == 206 and r.content == data[-32:]
    for rng in ("bytes=999999999-", "bytes=0-3,8-15"):
        r = c.get("/file", headers=_identity({"Range": rng}))
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    assert etag.startswith("W/")  # weak: never a strong match for If-Range
    assert c.get("/file", headers=_identity({"Range": "bytes=0-63", "If-Range": etag})).status_code == 200
    assert c.get("/file", headers=_identity({"Range": "bytes=0-63", "If-Range": lm})).status_code == 206
    stale = formatdate(int(st.st_mtime) - 1, usegmt=True)
    r = c.get("/file", headers=_identity({"Range": "bytes=0-63", "If-Range": stale}))
    assert r.status_code == 200 and r.content == data  # stale If-Range → full body
    r = c.get("/file", headers=_identity({"Range": "bytes=0-63", "If-Range": '"file-nope"'}))
    assert r.status_code == 200 and r.content == data
    assert c.get("/file", headers=_identity({"Range": "bytes=0-1", "If-None-Match": etag})).status_code == 304

    r = c.get("/file", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding" and r.content == data  # httpx decodes
    assert r.headers["content-length"] == str((docroot / "large.txt.gz").stat().st_size)
    assert r.headers["etag"] != etag

    r = c.head("/file", headers=_identity())
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == str(len(data))

    r = c.get("/file", params={"name": "page.html"})
    assert r.headers["content-type"] == "text/html; charset=utf-8" and b"<html" in r.content
    assert "vary" not in r.headers
    r = c.get("/file", params={"name": "data"})
    assert r.headers["content-type"] == "application/octet-stream" and r.content == bytes(range(256))
    r = c.get("/file", params={"name": "empty.txt"})
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    r = c.get("/file-typed")
    assert r.headers["content-type"] == "text/x-special" and r.headers["x-f"] == "f"
    for missing in ("nope.txt", "sub"):
        r = c.get("/file", params={"name": missing})
        assert (r.status_code, r.content, r.headers["content-type"]) == (404, b"Not Found", TEXT)
    assert "Traceback" not in server.logs()


def test_http_file_json_consistency(serve, docroot):
    """A FileResponse for a JSON file keeps the bytes as they are on disk."""
    (docroot / "d.json").write_text(json.dumps({"a": 1}))
    server = serve("apps/rr_responses.py", str(docroot))
    r = server.client.get("/file", params={"name": "d.json"}, headers=_identity())
    assert r.headers["content-type"] == "application/json" and r.json() == {"a": 1}


# viperhttp_bridge.serialize_response ----------------------------------------------------------


class Thing:
    def __str__(self) -> str:
        return "a thing"

@pytest.mark.parametrize("value,body,ctype", [
    ({"b": [1, 2.5, None, True], "u": "ż"}, '{"b":[1,2.5,null,true],"u":"ż"}'.encode(), "application/json"),
    ([{"k": []}, "x"], b'[{"k":[]},"x"]', "application/json"),
    ("grüß", "grüß".encode(), TEXT),
    ("", b"", TEXT),
    (b"\x00\xff", b"\x00\xff", "application/octet-stream"),
    (bytearray(b"\x01"), b"\x01", "application/octet-stream"),
    (None, b"", None),
    (7, b"7", TEXT),
    (2.5, b"2.5", TEXT),
    (True, b"True", TEXT),
    ((1, "a"), b"(1, 'a')", TEXT),
    (Thing(), b"a thing", TEXT),
])
def test_bridge_serialize_response_table(value, body, ctype):
    """viperhttp_bridge.serialize_response (docs/internals/bridge.md#decisions-on-serialisation,
    docs/internals/requests-responses.md#return-values): body always bytes."""
    out = viperhttp_bridge.serialize_response(value)
    assert out == {"__vhttp_response__": True, "status_code": 200, "body": body, "headers": None,
                   "content_type": ctype}
    assert type(out["body"]) is bytes

def test_bridge_serialize_response_dicts_streams_and_errors():
    data = {"z": 1, "a": [1, {"n": None}], "s": "é✓", "f": 0.1, "big": 2 ** 70}
    out = viperhttp_bridge.serialize_response(data)
    assert out["body"] == json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    out = viperhttp_bridge.serialize_response(Response(201, {"k": "v"}, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]))
    assert (out["status_code"], out["body"], out["content_type"]) == (201, b'{"k":"v"}', "application/json")
    assert out["headers"] == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    out = viperhttp_bridge.serialize_response(JSONResponse(body=[1]))
    assert (out["body"], out["content_type"]) == (b"[1]", "application/json")
    out = viperhttp_bridge.serialize_response(Response(body="x", content_type="text/x"))
    assert (out["body"], out["content_type"]) == (b"x", "text/x")
    stream = StreamingResponse([b"x"])
    assert viperhttp_bridge.serialize_response(stream) is stream
    with pytest.raises(ValueError):
        viperhttp_bridge.serialize_response({"x": float("nan")})
    with pytest.raises(TypeError):
        viperhttp_bridge.serialize_response({"x": object()})
