"""Test app for tests/test_responses.py: every response class, every normalised return type,
streams, SSE, redirects and FileResponse (files under the directory given as argv[2])."""
import asyncio
import os
import sys

import viperhttp
from viperhttp import responses
from viperhttp_responses import EventSourceResponse, RedirectResponse

app = viperhttp.ViperHTTP()
ROOT = sys.argv[2] if len(sys.argv) > 2 else "."


class Thing:
    def __str__(self):
        return "a thing"


NORMALISED = {
    "dict": {"a": 1, "u": "é", "nested": [1, 2.5, None, True]},
    "list": [1, "x", {"k": []}],
    "str": "héllo",
    "bytes": b"\x00\x01raw",
    "bytearray": bytearray(b"ba"),
    "none": None,
    "int": 42,
    "float": 1.5,
    "bool": True,
    "tuple": (1, "a"),
    "obj": Thing(),
    "empty_str": "",
}


def _route(name, value):
    def handler():
        return value

    handler.__name__ = f"norm_{name}"
    app.get(f"/norm/{name}")(handler)


for _name, _value in NORMALISED.items():
    _route(_name, _value)


@app.get("/norm/async")
async def norm_async():
    await asyncio.sleep(0)
    return {"async": True}


@app.get("/resp/plain")
def resp_plain():
    return viperhttp.Response(201, "made", {"X-A": "1"})


@app.get("/resp/json")
def resp_json():
    return viperhttp.JSONResponse(202, {"k": [1, 2], "u": "ż"}, [("X-B", "2"), ("X-B", "3")])


@app.get("/resp/json-scalar/{kind}")
def resp_json_scalar(kind):
    return viperhttp.JSONResponse(content={"str": "just a string", "true": True, "none": None,
                                           "tuple": (1, 2), "int": 5, "float": 1.5}[kind])


@app.get("/redirect-unsafe")
def redirect_unsafe():
    return viperhttp.RedirectResponse("https://example.com/x y/\u00e9?q=a b&r=%2F#f")


@app.get("/resp/json-type")
def resp_json_type():
    return viperhttp.JSONResponse(body={"a": 1}, content_type="application/vnd.api+json")


@app.get("/resp/html")
def resp_html():
    return responses.HTMLResponse("<h1>hi</h1>")


@app.get("/resp/text")
def resp_text():
    return responses.PlainTextResponse("text", 203, {"X-T": "t"})


@app.get("/resp/bytes")
def resp_bytes():
    return viperhttp.Response(body=b"\x00raw")


@app.get("/resp/alias")
def resp_alias():
    return viperhttp.Response(content="a,b", media_type="text/csv")


@app.get("/resp/media/{kind}")
def resp_media(kind):
    """Starlette's charset rule comes with `media_type=`, not with the original's `content_type=`."""
    if kind == "content-type":
        return viperhttp.Response(content="a,b", content_type="text/csv")
    if kind == "own-charset":
        return viperhttp.Response(content="a,b", media_type="text/csv; charset=latin-1")
    if kind == "xml":
        return viperhttp.Response(content="<a/>", media_type="application/xml")
    return viperhttp.StreamingResponse(iter([b"a,", b"b"]), media_type="text/csv")


@app.get("/resp/dict-body")
def resp_dict_body():
    return viperhttp.Response(body={"x": 1})


@app.get("/resp/empty")
def resp_empty():
    return viperhttp.Response(204)


@app.get("/resp/user-content-type")
def resp_user_content_type():
    return viperhttp.Response(body="x", headers={"Content-Type": "text/x-custom"})


@app.get("/resp/mutated")
def resp_mutated():
    resp = viperhttp.Response(body="original")
    resp.status_code = 418
    resp.headers["X-M"] = "m"
    resp.body = "changed"
    resp.media_type = "text/x-changed"
    return resp


@app.get("/resp/raw-dict")
def resp_raw_dict():
    return {"__vhttp_response__": True, "status_code": 299, "body": "raw", "headers": [("X-R", "r")],
            "content_type": None}


def _lines(n):
    for i in range(n):
        yield f"line {i}\n"


@app.get("/stream/len")
def stream_len():
    data = "".join(_lines(100)).encode()
    return viperhttp.StreamingResponse(_lines(100), total_len=len(data), content_type="text/plain")


@app.get("/stream/chunked")
def stream_chunked():
    return viperhttp.StreamingResponse(_lines(5), chunked=True, chunk_size=4)


@app.get("/stream/async")
def stream_async():
    async def gen():
        for i in range(3):
            await asyncio.sleep(0)
            yield b"a%d" % i
        yield None
        yield bytearray(b"!")
    return viperhttp.StreamingResponse(content=gen(), media_type="application/x-async")


@app.get("/stream/sse-dicts")
def stream_sse_dicts():
    def gen():
        yield {"event": "tick", "data": {"i": 0}}
        yield "raw: passthrough\n\n"
        yield {"data": "two\nlines", "id": "7"}
    return viperhttp.StreamingResponse(gen(), media_type="text/event-stream")


@app.get("/sse")
def sse():
    async def events():
        for i in range(3):
            await asyncio.sleep(0)
            yield {"event": "tick", "data": {"i": i}, "id": i}
        yield {"comment": "bye"}
    return EventSourceResponse(events(), retry=3000, headers={"X-S": "s"})


@app.get("/sse/sync")
def sse_sync():
    return EventSourceResponse(["plain", b"bytes", [1, 2], {"data": None}],
                               headers=[("Cache-Control", "no-store")])


@app.get("/sse/ping")
def sse_ping():
    async def slow():
        await asyncio.sleep(0.35)
        yield {"data": "late"}
    return EventSourceResponse(slow(), ping=0.1)


@app.get("/redirect")
def redirect():
    return RedirectResponse("/norm/dict")


@app.get("/redirect/{code:int}")
def redirect_code(code):
    return viperhttp.RedirectResponse("https://example.com/x?y=1", code, [("X-R", "1")])


@app.get("/file")
def file_response(request):
    name = request.query_params.get("name", "large.txt")
    return viperhttp.FileResponse(os.path.join(ROOT, name))


@app.get("/file-typed")
def file_typed():
    return viperhttp.FileResponse(os.path.join(ROOT, "data"), content_type="text/x-special",
                                  headers={"X-F": "f"})


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
