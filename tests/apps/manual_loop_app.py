"""The original bridge's manual loop (tests/test_manual_loop.py), written against the
low-level contract only — `viperhttp.start`, `viperhttp.poll_request()`,
`app.dispatch(method, path, request)`, `viperhttp.set_current_request` /
`viperhttp.current_request()`, `viperhttp_bridge.serialize_response()` and
`viperhttp.send_response()` (docs/internals/ipc.md, docs/internals/bridge.md#decisions-on-serialisation,
docs/internals/framework.md).

Run: python manual_loop_app.py PORT   (SIGTERM stops it, exit 0)

The loop records what `poll_request()` returned for every request, so `/mb/poll-shape`
can report the dict shape of its own poll. If the dict carries no `"request"` entry (a
deviation from docs/internals/ipc.md), the loop falls back to building the Request from the `raw`
tuple so the other checks still run; the shape test reports the deviation.
"""
import asyncio
import inspect
import signal
import sys

import viperhttp
import viperhttp_bridge
from viperhttp import HTTPException, Query, Request

app = viperhttp.ViperHTTP()
LAST_POLL = {}


def _describe_poll(item):
    req = item.get("request")
    out = {
        "keys": sorted(item),
        "type": item.get("type"),
        "request_id_is_int": isinstance(item.get("request_id"), int),
        "method": item.get("method"),
        "path": item.get("path"),
        "request_is_Request": isinstance(req, Request),
    }
    if isinstance(req, Request):
        out["request"] = {
            "method": req.method, "path": req.path, "query": req.query,
            "query_params": dict(req.query_params), "x_test": req.headers.get("X-Test"),
            "body": req.body.decode("latin-1"),
        }
    return out


@app.post("/mb/poll-shape")
def poll_shape():
    return LAST_POLL["current"]


@app.get("/mb/echo/{n:int}", query={"q": Query("", str)})
def echo(n, q, request):
    cur = viperhttp.current_request()
    return {"n": n, "q": q, "current_is_request": cur is request, "path": request.path,
            "query": request.query, "path_params": request.path_params,
            "request_id_matches": request.request_id == LAST_POLL["request_id"]}


@app.get("/mb/q", query={"page": int})
def typed_query(page):
    return {"page": page}


@app.get("/mb/http-exc")
def http_exc():
    raise HTTPException(403, "nope", headers={"X-Why": "because"})


@app.get("/mb/async")
async def async_handler():
    await asyncio.sleep(0)
    return {"async": True, "current_path": viperhttp.current_request().path}


SERIALIZED = {
    "dict": {"a": 1, "u": "é"},
    "list": [1, "x", None],
    "str": "héllo",
    "bytes": b"\x00raw",
    "bytearray": bytearray(b"ba"),
    "none": None,
    "int": 42,
    "float": 1.5,
    "tuple": (1, 2),
}


@app.get("/mb/ser/{kind}")
def serialized(kind):
    return SERIALIZED[kind]


RAW_BODIES = {
    "str": "text", "bytes": b"\x01bytes", "bytearray": bytearray(b"ba"), "none": None,
    "int": 42, "float": 1.5, "dict": {"a": 1}, "list": [1], "object": object(), "tuple": (1,),
}


@app.get("/mb/raw-body/{kind}")
def raw_body(kind):
    """A response dict whose body goes to the IPC unserialised (send_response directly)."""
    return {"__vhttp_response__": True, "status_code": 200, "body": RAW_BODIES[kind],
            "headers": None, "content_type": "application/x-raw"}


def _error(request_id, message):
    viperhttp.send_response(request_id, {"__vhttp_response__": True, "status_code": 500,
                                         "body": message, "headers": None,
                                         "content_type": "text/plain; charset=utf-8"})


def handle(item):
    request = item.get("request")
    if not isinstance(request, Request):
        request = Request._from_native(*item["raw"])
    request_id = item["request_id"]
    LAST_POLL["current"] = _describe_poll(item)
    LAST_POLL["request_id"] = request_id
    previous = viperhttp.set_current_request(request)
    try:
        result = app.dispatch(item["method"], item["path"], request)
        if inspect.iscoroutine(result):
            result = asyncio.run(_await_with_request(result, request))
    finally:
        viperhttp.set_current_request(previous)
    if item["path"].startswith("/mb/raw-body/"):
        try:
            viperhttp.send_response(request_id, result)
        except Exception as exc:
            _error(request_id, f"send_response: {type(exc).__name__}: {exc}")
        return
    viperhttp.send_response(request_id, viperhttp_bridge.serialize_response(result))


async def _await_with_request(coro, request):
    viperhttp.set_current_request(request)
    return await coro


def main():
    port = int(sys.argv[1])
    viperhttp.start(host="127.0.0.1", port=port)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        item = viperhttp.poll_request()
        if item is None:
            viperhttp._native.wait_request(50)
            continue
        try:
            handle(item)
        except Exception as exc:  # keep serving; report the failure to the client
            _error(item["request_id"], f"loop: {type(exc).__name__}: {exc}")
    viperhttp.stop()
    viperhttp._native.close()


if __name__ == "__main__":
    main()
