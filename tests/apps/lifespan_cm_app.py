"""Lifespan test app (tests/test_lifespan.py): `ViperHTTP(lifespan=...)` context managers next
to `on_event` handlers, and the `viperhttp_lifespan` module functions. Events go one per line
into the file named by LIFESPAN_LOG.

Run: python lifespan_cm_app.py PORT
Env:
  LIFESPAN_LOG   file that receives the events (required)
  LIFESPAN_MODE  "ok" (default; the lifespan wraps the default, which runs the on_event
                 handlers) | "sync" (a plain contextmanager, given as lifespan=: the handlers
                 are not run) | "fail_enter" (the context
                 manager raises before yielding) | "fail_handler" (a startup handler raises after
                 the context manager was entered) | "fail_exit" (raises while exiting)
                 | "slow" (entering outlives startup_timeout_s)
  LIFESPAN_SHUTDOWN_SLEEP  seconds the shutdown handler d1 sleeps (default 0)
  LIFESPAN_AFTER_RUN  seconds the event loop keeps running after run() returned (default 0)
  BRIDGE_KW      JSON object of run() keywords
"""
import asyncio
import contextlib
import json
import os
import sys

import viperhttp
import viperhttp_lifespan as lifespan_mod

LOG = os.environ["LIFESPAN_LOG"]
MODE = os.environ.get("LIFESPAN_MODE", "ok")


def event(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


@contextlib.asynccontextmanager
async def lifespan(app):
    event("cm:enter-begin")
    await asyncio.sleep(1.5 if MODE == "slow" else 0.2)
    if MODE == "fail_enter":
        raise RuntimeError("cm enter failed")
    event("cm:enter-end")
    try:
        async with default_lifespan(app):  # FastAPI's recipe: the on_event handlers run in it
            yield {"db": "conn-1"}
    except BaseException as exc:
        event(f"cm:exit-exc:{type(exc).__name__}:{exc}")
        raise
    if MODE == "fail_exit":
        event("cm:exit-failing")
        raise RuntimeError("cm exit failed")
    event("cm:exit")


@contextlib.contextmanager
def sync_lifespan(app):
    event("cm:enter-sync")
    app.state.sync_resource = "r"
    yield None
    event("cm:exit-sync")


# "sync": `lifespan=` alone, so the on_event handlers below are not run (as in FastAPI); the
# others wrap the default lifespan, which runs them (docs/internals/lifespan.md)
app = viperhttp.ViperHTTP(lifespan=sync_lifespan if MODE == "sync" else None)
default_lifespan = app.router.lifespan_context
if MODE != "sync":
    app.router.lifespan_context = lifespan


@app.on_event("startup")
async def h1():
    event("startup:h1")
    if MODE == "fail_handler":
        raise RuntimeError("handler failed")


@app.on_event("shutdown")
async def d1():
    event("shutdown:d1")
    await asyncio.sleep(float(os.environ.get("LIFESPAN_SHUTDOWN_SLEEP", "0")))


class AppError(Exception):
    pass


class ChildError(AppError):
    pass


def on_app_error(request, exc):
    return {"handled": type(exc).__name__}


lifespan_mod.add_exception_handler(app, AppError, on_app_error)


@app.get("/")
def index():
    event("request:index")
    state = app.state
    return {"db": state.get("db"), "attr": getattr(state, "db", None), "sync": state.get("sync_resource"),
            "same": lifespan_mod.get_app_state(app) is app.state}


@app.get("/request-state")
def request_state(request: viperhttp.Request):
    # Starlette's lifespan state: each request starts from a copy of what `lifespan` yielded
    seen = dict(request.state)
    request.state.db = "changed by this request"
    request.state.user = "ann"
    return {"seen": seen, "db_attr": getattr(request.state, "db", None), "app_db": app.state.get("db")}


@app.websocket("/ws-state")
async def websocket_state(websocket: viperhttp.WebSocket):
    # Starlette's `websocket.state`: the same lifespan state, a copy per connection
    await websocket.accept()
    seen = dict(websocket.state)
    websocket.state.db = "changed by this connection"
    await websocket.send_json({"seen": seen, "db_attr": websocket.state.db, "app_db": app.state.get("db")})
    await websocket.close()


@app.get("/child-error")
def child_error():
    raise ChildError("x")


@app.get("/module-api")
def module_api():
    out = {}
    state = app.state
    state.counter = 1
    state["counter"] += 1
    out["state_attr"] = state.counter
    out["state_is_dict"] = isinstance(state, dict)
    try:
        _ = state.missing
        out["missing_attr"] = "no error"
    except AttributeError:
        out["missing_attr"] = "AttributeError"

    def extra():
        pass

    out["returned_same"] = lifespan_mod.add_event_handler(app, "Shutdown", extra) is extra
    out["handlers_shutdown"] = [h.__name__ for h in lifespan_mod.get_event_handlers(app, "SHUTDOWN")]
    out["handlers_startup"] = [h.__name__ for h in lifespan_mod.get_event_handlers(app, "startup")]
    out["handlers_unknown"] = lifespan_mod.get_event_handlers(app, "boot")
    app._event_handlers["shutdown"].remove(extra)
    for label, call in (
        ("bad_event", lambda: lifespan_mod.add_event_handler(app, "boot", extra)),
        ("bad_handler", lambda: lifespan_mod.add_event_handler(app, "startup", 5)),
        ("bad_on_event", lambda: lifespan_mod.on_event(app, "later")),
        ("none_exc_type", lambda: lifespan_mod.add_exception_handler(app, None, extra)),
        ("none_exc_decorator", lambda: lifespan_mod.exception_handler(app, None)),
        ("bad_lifespan", lambda: viperhttp.ViperHTTP(lifespan=5)),
    ):
        try:
            call()
            out[label] = "no error"
        except Exception as exc:
            out[label] = f"{type(exc).__name__}: {exc}"
    resolved = lifespan_mod.resolve_exception_handler(app, ChildError())
    out["resolved"] = resolved.__name__ if resolved else None
    out["resolved_none"] = lifespan_mod.resolve_exception_handler(app, KeyError()) is None
    lifespan_mod.install()
    out["class_has"] = [hasattr(viperhttp.ViperHTTP, n) for n in ("on_event", "exception_handler", "state")]
    return out


if __name__ == "__main__":
    kw = json.loads(os.environ.get("BRIDGE_KW", "{}"))
    event("main:run")
    result = app.run(port=int(sys.argv[1]), host="127.0.0.1", **kw)
    event(f"main:run-returned:{result}")
    after = float(os.environ.get("LIFESPAN_AFTER_RUN", "0"))
    if after:  # what is still scheduled on the loop gets to run (as in an app that goes on)
        asyncio.get_event_loop().run_until_complete(asyncio.sleep(after))
        event("main:loop-done")
