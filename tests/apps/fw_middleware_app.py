"""Middleware test app: two decorator and two class middlewares with priorities, short-circuit,
response editing, failing middleware, and an `HTTPException` handler override.

Registered order: B (+10), A (-10), C (class, +5), D (class, 0) → expected chain A, D, C, B.
Run as `python fw_middleware_app.py PORT`.
"""
import sys

import viperhttp
from viperhttp import BaseHTTPMiddleware, HTTPException, Query, Response

app = viperhttp.ViperHTTP()
ORDER = []
INSTANCES = {"C": 0, "D": 0}
HANDLER_CALLS = {"n": 0}


def record(request, label):
    if request.path == "/order":
        ORDER.append(label)


@app.middleware("http", priority=10)
async def mw_b(request, call_next):
    record(request, "B:pre")
    response = await call_next(request)
    record(request, "B:post")
    return response


@app.middleware("http", priority=-10)
async def mw_a(request, call_next):
    record(request, "A:pre")
    seen_current = viperhttp.current_request() is request
    if request.headers.get("x-block") == "1":
        return Response(status_code=418, body="blocked")
    if request.path == "/mw/none":
        return None
    response = await call_next()
    record(request, "A:post")
    extra = {"X-Outer": "A", "X-Current": "yes" if seen_current else "no",
             "X-Inner-Status": str(response["status_code"])}
    headers = response.get("headers") or {}
    # Both header forms of docs/internals/requests-responses.md#responses are edited in place.
    if isinstance(headers, dict):
        response["headers"] = dict(headers, **extra)
    else:
        response["headers"] = list(headers) + list(extra.items())
    return response


class C(BaseHTTPMiddleware):
    def __init__(self, app, tag):
        super().__init__(app)
        INSTANCES["C"] += 1
        self.tag = tag

    async def dispatch(self, request, call_next):
        record(request, f"C:pre:{self.tag}")
        if request.path == "/edit":
            response = await call_next(request)
            response.status_code = 201  # attribute form of a response object
            response["body"] = "edited:" + response["body"]
            response["headers"] = [("X-Edited", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
            return response
        response = await call_next(request)
        record(request, "C:post")
        return response


class D:
    """Not a BaseHTTPMiddleware and no `app` parameter: built as `D(**options)`, called directly."""

    def __init__(self, **options):
        INSTANCES["D"] += 1
        self.options = options

    def __call__(self, request, call_next):
        record(request, "D:pre")
        if request.path == "/mw/boom":
            raise RuntimeError("middleware exploded")
        if request.path == "/mw/custom":
            raise CustomError()
        if request.path == "/mw/http":
            raise HTTPException(403, "mw says no")
        return self._after(request, call_next)

    async def _after(self, request, call_next):
        response = await call_next(request)
        record(request, "D:post")
        return response


app.add_middleware(C, priority=5, tag="c")
app.add_middleware(D, priority=0, unused="x")


class CustomError(Exception):
    pass


@app.exception_handler(CustomError)
def custom_error(request, exc):
    return Response(status_code=418, body={"custom": True})


@app.exception_handler(HTTPException)
def http_override(request, exc):
    return Response(status_code=exc.status_code, body={"overridden": exc.detail})


@app.get("/order")
def order_handler():
    ORDER.append("handler")
    return "ordered"


@app.get("/order/log")
def order_log():
    out = list(ORDER)
    ORDER.clear()
    return out


@app.get("/blocked-target")
def blocked_target():
    HANDLER_CALLS["n"] += 1
    return "reached"


@app.get("/handler-calls")
def handler_calls():
    return HANDLER_CALLS


@app.get("/edit")
def edit():
    return "original"


@app.get("/mw/boom")
def mw_boom_target():
    return "never"


@app.get("/mw/instances")
def mw_instances():
    return INSTANCES


@app.get("/http-error")
def http_error():
    raise HTTPException(404, "gone")


@app.get("/q", query={"n": Query(cast=int)})
def q(n):
    return {"n": n}


@app.get("/handler-boom")
def handler_boom():
    raise RuntimeError("handler exploded")


@app.post("/post-only")
def post_only():
    return "posted"


app.run(port=int(sys.argv[1]))
