"""Bridge-runtime test app (tests/test_bridge_workers.py, test_overload.py, test_background.py,
test_shutdown.py, test_load.py).

Run: python bridge_app.py PORT
Env:
  BRIDGE_KW      JSON object of run() keywords (bridge_*, ipc_*, *_timeout_ms, shutdown_timeout_s, ...)
  BRIDGE_RUN     "bridge" (default): viperhttp_bridge.run(app, port=PORT, wifi=False, **kw)
                 "app":              app.run(port=PORT, wifi=False, **kw)
  BRIDGE_STATIC  a directory mounted natively at /static (optional)
  BRIDGE_EVENTS  a file; lifecycle and background-task events are appended to it, one per line
No Python middleware is installed, so unmatched paths are answered natively.
"""
import asyncio
import json
import os
import sys
import time

import viperhttp
import viperhttp_bridge
from viperhttp import Response

app = viperhttp.ViperHTTP()
EVENTS = os.environ.get("BRIDGE_EVENTS")


def event(line):
    if EVENTS:
        with open(EVENTS, "a") as f:
            f.write(line + "\n")


def record(key, value):
    app.state.setdefault(key, []).append(value)
    event(f"{key}:{value}")


async def arecord(key, value, ms=0):
    if ms:
        await asyncio.sleep(ms / 1000)
    record(key, value)


# --- probes -------------------------------------------------------------------------------


@app.get("/sync")
def sync():
    return "ok"


@app.get("/sync/stats")
def sync_stats():
    """Pool state as seen from inside a sync handler (workers_busy > 0 only if it ran in a worker)."""
    return viperhttp_bridge.bridge_stats()


@app.get("/stats")
def stats():
    return {
        "bridge": viperhttp_bridge.bridge_stats(),
        "server": viperhttp.server_stats(),
        "ipc": viperhttp.ipc_stats(),
        "pid": os.getpid(),
        "t": time.monotonic(),
    }


@app.get("/loop")
def loop_kind():  # sync: an async probe would go through the worker queue and skew its stats
    """Which event loop the bridge runs on (uvloop when installed, unless VIPERHTTP_NO_UVLOOP)."""
    return {"loop": type(asyncio.get_running_loop()).__module__}


@app.get("/async/sleep")
async def async_sleep(ms="0", tag=""):
    t0 = time.monotonic()
    await asyncio.sleep(int(ms) / 1000)
    return {"tag": tag, "busy": viperhttp_bridge.bridge_stats()["workers_busy"], "start": t0,
            "end": time.monotonic()}


@app.get("/async/nowait")
async def async_nowait():
    return {"async": True, "busy": viperhttp_bridge.bridge_stats()["workers_busy"]}


# --- eager start probes (tests/test_bridge_workers.py) -----------------------------------------

import contextvars  # noqa: E402

TAG = contextvars.ContextVar("tag", default=None)


@app.get("/async/cv/set")
async def cv_set(tag=""):
    """Sets a context variable and finishes without suspending: the next request must not see it."""
    TAG.set(tag)
    return {"tag": TAG.get()}


@app.get("/async/cv/get")
async def cv_get():
    return {"tag": TAG.get()}


@app.get("/async/task")
async def async_task(ms="20", tag=""):
    """One task from the first line to the last, and the context kept across the suspension."""
    TAG.set(tag)
    before = asyncio.current_task()
    await asyncio.sleep(int(ms) / 1000)
    after = asyncio.current_task()
    return {"has_task": before is not None, "same_task": before is after, "tag": TAG.get()}


@app.get("/async/timeout")
async def async_timeout(ms="50"):
    """asyncio.timeout() entered in the eager first step must cancel the handler, nothing else."""
    try:
        async with asyncio.timeout(int(ms) / 1000):
            await asyncio.sleep(5)
    except TimeoutError:
        return {"timed_out": True}
    return {"timed_out": False}


@app.get("/async/raise")
async def async_raise():
    raise RuntimeError("boom in the eager step")


# --- a bare handler coroutine (no wrapper): errors and the current request, before and after a
# suspension (docs/internals/bridge.md, "Eager start") ------------------------------------------


class AsyncTeapot(Exception):
    pass


@app.exception_handler(AsyncTeapot)
async def async_teapot_handler(request, exc):
    await asyncio.sleep(0.001)  # an async handler that suspends: a worker finishes it
    # A (dict, status) tuple, not a Response: a typed route's response plan would turn it into
    # a 500 if it were (wrongly) applied to what an exception handler returns.
    return {"async_handled": str(exc), "current": viperhttp.current_request() is request}, 418


@app.get("/async/errors")
async def async_errors(kind="http", ms="0"):
    if int(ms):
        await asyncio.sleep(int(ms) / 1000)
    if kind == "http":
        raise viperhttp.HTTPException(409, "conflict " + kind)
    if kind == "teapot":
        raise Teapot("bare")
    if kind == "async_teapot":
        raise AsyncTeapot("bare")
    raise ValueError("boom in a bare coroutine")


@app.get("/async/current")
async def async_current(request, ms="0"):
    """`current_request()` inside a bare coroutine: before and after a suspension."""
    before = viperhttp.current_request() is request
    if int(ms):
        await asyncio.sleep(int(ms) / 1000)
    return {"before": before, "after": viperhttp.current_request() is request, "path": request.path}


from typing import Optional  # noqa: E402

from pydantic import BaseModel  # noqa: E402


class Out(BaseModel):
    n: int
    tag: Optional[str] = None


@app.get("/typed/async/{n}", response_model=Out, status_code=201)
async def typed_async(n: int, ms: int = 0, kind: str = "ok"):
    """A typed bare coroutine: parameters filled before it starts, the response plan applied to
    what it returns (the extra key is filtered out), errors through the exception handlers."""
    if ms:
        await asyncio.sleep(ms / 1000)
    if kind == "bad":
        return {"n": "not a number"}  # the response plan raises: a logged 500
    if kind == "async_teapot":
        raise AsyncTeapot("typed")  # its handler's 418 must not go through response_model
    return {"n": n, "tag": kind, "secret": "filtered"}


@app.get("/typed/plain/{n}")
async def typed_plain(n: int, ms: int = 0, shape: str = "dict"):
    """A typed bare coroutine with no response options: a plain dict goes to the serialiser as
    it is (`ResponsePlan.finish_bare`); the other values still through the plan."""
    if ms:
        await asyncio.sleep(ms / 1000)
    if shape == "stream-key":
        return {"stream": n, "body": "a key named like a response field"}
    if shape == "truthy-marker":
        # Not a response dict for the plan (its marker is not `True`): data, encoded as JSON.
        return {"__vhttp_response__": 1, "stream": "abc"}
    if shape == "marker":
        return {"__vhttp_response__": True, "status_code": 203, "body": b"raw", "headers": None,
                "content_type": "text/x"}
    if shape == "date":
        import datetime
        return {"when": datetime.date(2024, 1, n)}
    if shape == "list":
        return [n, 1.5, None]
    if shape == "nan":
        return {"x": float("nan")}
    return {"n": n, "score": 0.1 * n}


@app.get("/typed/async-text", status_code=202)
async def typed_text(ms: int = 0):
    if ms:
        await asyncio.sleep(ms / 1000)
    return "text"  # the route's status code comes from its response plan


class Leak(Exception):
    pass


@app.exception_handler(Leak)
def leak_handler(request, exc):
    """Sets a context variable while handling a bare coroutine's error: it must stay with this
    request (the handler runs in the request's own context)."""
    TAG.set("set by the exception handler")
    return Response(status_code=409, body={"current": viperhttp.current_request() is request})


@app.get("/async/leak")
async def async_leak(ms="0"):
    if int(ms):
        await asyncio.sleep(int(ms) / 1000)
    raise Leak()


def guard(func):
    """A sync `functools.wraps` decorator around an `async def` handler that may answer by itself."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        request = viperhttp.current_request()
        if request is None:
            return {"n": -2, "secret": "no current request"}
        if request.query_params.get("deny"):
            return {"n": -1, "secret": "short-circuit"}
        return func(*args, **kwargs)
    return wrapper


@app.get("/typed/wrapped/{n}", response_model=Out, status_code=201)
@guard
async def typed_wrapped(n: int):
    return {"n": n, "secret": "filtered"}


@app.get("/sync/sleep")
def sync_sleep(ms="0", tag=""):
    time.sleep(int(ms) / 1000)
    return {"tag": tag, "slept": int(ms)}


@app.get("/sync/event")
def sync_event(ms="0", tag=""):
    """A blocking handler that records when it starts (tests/test_shutdown.py)."""
    event(f"begin:{tag}")
    time.sleep(int(ms) / 1000)
    event(f"end:{tag}")
    return {"tag": tag}


# --- app state ------------------------------------------------------------------------------


@app.get("/state")
def get_state():
    return {k: v for k, v in app.state.items() if k != "samples"}


@app.get("/state/{key}")
def get_state_key(key):
    return {"value": app.state.get(key)}


# --- a monitor task sampling bridge_stats() on the loop, independent of the bridge queue ---------


async def _monitor(duration_ms, every_ms):
    samples = app.state["samples"] = []
    end = time.monotonic() + duration_ms / 1000
    while time.monotonic() < end:
        s = viperhttp_bridge.bridge_stats()
        s["t"] = time.monotonic()
        samples.append(s)
        await asyncio.sleep(every_ms / 1000)
    app.state["monitor_done"] = True


@app.get("/monitor/start")
def monitor_start(ms="3000", every="10"):
    app.state["monitor_done"] = False
    app.state["monitor_task"] = asyncio.get_running_loop().create_task(_monitor(int(ms), int(every)))
    return "started"


@app.get("/monitor")
def monitor():
    return {"done": app.state.get("monitor_done"), "samples": app.state.get("samples", [])}


# --- background tasks (docs/internals/framework.md) ---------------------------------------------------------


class Teapot(Exception):
    pass


@app.exception_handler(Teapot)
def teapot_handler(request, exc):
    return Response(status_code=418, body=f"handled {exc}")


@app.post("/bg/basic")
def bg_basic(background_tasks, key="basic"):
    background_tasks.add_task(record, key, "sync")
    background_tasks.add_task(arecord, key, "async")
    background_tasks.add_task(arecord, value="async-kw", key=key)
    return {"queued": 3}


@app.get("/bg/async_handler")
async def bg_async_handler(background_tasks, key="ah"):
    await asyncio.sleep(0.01)
    background_tasks.add_task(record, key, "from-async-handler")
    return "ok"


@app.get("/bg/slow")
def bg_slow(background_tasks, key="slow", ms="1000"):
    background_tasks.add_task(arecord, key, "done", int(ms))
    return "queued"


def slow_sync_task(key, ms):
    time.sleep(ms / 1000)
    record(key, "done")


@app.get("/bg/slow_sync")
def bg_slow_sync(background_tasks, key="slowsync", ms="600"):
    background_tasks.add_task(slow_sync_task, key, int(ms))
    return "queued"


def failing_task(msg):
    raise ValueError(msg)


async def failing_async_task(msg):
    await asyncio.sleep(0)
    raise ValueError(msg)


@app.get("/bg/fail")
def bg_fail(background_tasks, key="fail"):
    background_tasks.add_task(failing_task, "bg-boom-sync")
    background_tasks.add_task(failing_async_task, "bg-boom-async")
    background_tasks.add_task(record, key, "after-failures")
    return "response-unaffected"


@app.get("/bg/order")
def bg_order(background_tasks, key="order"):
    for i in range(1, 6):
        background_tasks.add_task(record, key, i)
    return "ok"


@app.get("/bg/handled")
def bg_handled(background_tasks, key="handled"):
    background_tasks.add_task(record, key, "ran")
    raise Teapot("teapot")


@app.get("/bg/unhandled")
def bg_unhandled(background_tasks, key="unhandled"):
    background_tasks.add_task(record, key, "ran")
    raise RuntimeError("unhandled-boom")


@app.get("/bg/none")
def bg_none(background_tasks):
    return {"pending": len(background_tasks)}


# --- lifecycle events (for shutdown tests) ---------------------------------------------------------


@app.on_event("startup")
def on_startup():
    event("startup")


@app.on_event("shutdown")
def on_shutdown():
    event("shutdown")


@app.get("/slow/event")
async def slow_event(ms="500", tag=""):
    event(f"begin:{tag}")
    await asyncio.sleep(int(ms) / 1000)
    event(f"end:{tag}")
    return {"tag": tag}


if os.environ.get("BRIDGE_STATIC"):
    app.mount("/static", os.environ["BRIDGE_STATIC"])


if __name__ == "__main__":
    port = int(sys.argv[1])
    kw = json.loads(os.environ.get("BRIDGE_KW") or "{}")
    if os.environ.get("BRIDGE_RUN") == "app":
        result = app.run(port=port, wifi=False, **kw)
    else:
        result = viperhttp_bridge.run(app, port=port, wifi=False, **kw)
    event(f"run-returned:{result!r}")
