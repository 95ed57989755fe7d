"""Middleware kinds and order (tests/test_middleware.py): middleware forms and rules of
docs/internals/framework.md that tests/apps/fw_middleware_app.py does not exercise over HTTP.

Registered (index, form, priority):
  0 decorator `eq_first`   priority 0
  1 decorator `eq_second`  priority 0       (equal priority → registration order)
  2 sync `def` decorator `sync_mw` priority 3 (returns call_next's awaitable itself)
  3 `add_middleware_func(func_mw, priority=-5)`
  4 `add_middleware(INSTANCE, priority=1)` (a callable instance: used as it is)
Expected chain for /order: func_mw, eq_first, eq_second, INSTANCE, sync_mw, handler.

No exception handlers are registered, so a middleware's `HTTPException` gets the default JSON.
Run as `python middleware_order_app.py PORT [MODE]`; MODE "base-instance" also registers an
instance of a `BaseHTTPMiddleware` subclass (`add_middleware(BaseInstance())`, docs/internals/framework.md:
"Instances passed to add_middleware are used as they are"), which adds `X-Base-Instance`.
"""
import sys

import viperhttp
from viperhttp import BaseHTTPMiddleware, HTTPException, Request, Response

app = viperhttp.ViperHTTP()
ORDER = []


def record(request, label):
    if request.path == "/order":
        ORDER.append(label)


@app.middleware("http")
async def eq_first(request, call_next):
    record(request, "eq_first:pre")
    if request.path == "/mw/raise-http":
        raise HTTPException(429, "slow down", headers={"Retry-After": "3"})
    if request.path == "/mw/return-dict":
        return {"from": "middleware"}
    if request.path == "/mw/return-str":
        return "middleware text"
    if request.path == "/mw/return-bytes":
        return b"\x00mw"
    response = await call_next(request)
    record(request, "eq_first:post")
    if request.path == "/mw/raise-http-outer-sees":
        response["headers"] = [("X-Outer-Saw", str(response["status_code"]))]
    return response


@app.middleware("http", priority=0)
async def eq_second(request, call_next):
    record(request, "eq_second:pre")
    if request.path == "/mw/raise-http-outer-sees":
        raise HTTPException(451, "legal")
    if request.path == "/mw/replace":
        replacement = Request(method=request.method, path=request.path, query="swapped=1",
                              headers=dict(request.headers, **{"x-replaced": "yes"}), body=b"new-body")
        ORIGINALS["id"] = id(request)
        return await call_next(replacement)
    response = await call_next(request)
    record(request, "eq_second:post")
    return response


@app.middleware("http", priority=3)
def sync_mw(request, call_next):
    """A plain `def` middleware: its result (call_next's awaitable) is awaited by the chain."""
    record(request, "sync_mw:pre")
    return call_next(request)


async def func_mw(request, call_next):
    record(request, "func_mw:pre")
    response = await call_next(request)
    record(request, "func_mw:post")
    return response


app.add_middleware_func(func_mw, priority=-5)


class Counting:
    """An instance registered with add_middleware: the chain must use this very object."""

    def __init__(self):
        self.calls = 0

    async def __call__(self, request, call_next):
        self.calls += 1
        record(request, "instance:pre")
        response = await call_next(request)
        record(request, "instance:post")
        return response


INSTANCE = Counting()
app.add_middleware(INSTANCE, priority=1)
ORIGINALS = {}


class BaseInstance(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        response = await call_next(request)
        response["headers"] = list(response.get("headers") or []) + [("X-Base-Instance", "1")]
        return response


if len(sys.argv) > 2 and sys.argv[2] == "base-instance":
    app.add_middleware(BaseInstance(), priority=2)


async def dispatch_function(request, call_next):
    response = await call_next(request)
    response.headers["X-Dispatch-Function"] = "1" if request.app is app else "wrong app"
    return response


async def rewrite_body(request, call_next):
    # Starlette's pattern: read `body_iterator`, send a new response made from it.
    response = await call_next(request)
    if request.path.startswith("/rewrite"):
        body = b"".join([chunk async for chunk in response.body_iterator])
        return Response(response.status_code, body.upper(), dict(response.headers), response.media_type)
    return response


if len(sys.argv) > 2 and sys.argv[2] == "body-iterator":
    app.add_middleware_func(rewrite_body)


@app.get("/rewrite/json")
def rewrite_json():
    return {"k": "v"}


@app.get("/rewrite/stream")
async def rewrite_stream():
    async def words():
        yield "ab"
        yield b"cd"
    return viperhttp.StreamingResponse(words(), headers={"X-S": "1"}, content_type="text/x-words")


if len(sys.argv) > 2 and sys.argv[2] == "dispatch-function":
    # Starlette's form: the function given to BaseHTTPMiddleware as `dispatch=`.
    app.add_middleware(BaseHTTPMiddleware, dispatch=dispatch_function)


@app.get("/order")
def order():
    ORDER.append("handler")
    return "ordered"


@app.get("/order/log")
def order_log():
    out = list(ORDER)
    ORDER.clear()
    return out


@app.get("/instance-calls")
def instance_calls():
    return {"calls": INSTANCE.calls}


@app.get("/mw/replace")
def replaced(request, swapped=""):
    return {"x_replaced": request.headers.get("x-replaced"), "body": request.body.decode(),
            "swapped": swapped, "is_current": viperhttp.current_request() is request,
            "is_original": id(request) == ORIGINALS.get("id")}


@app.get("/mw/raise-http")
def raise_http_target():
    return "never"


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
