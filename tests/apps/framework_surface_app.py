"""Framework surface over HTTP (tests/test_app.py, test_routing.py, test_params.py, test_request.py,
test_deps.py): app state, routing, routers, query casts and dependencies.

Routing (docs/internals/framework.md#routing): every method decorator, `route`/`api_route` on app and Router,
the Allow order rules, a leading-slash-less pattern, literal/param/path precedence without backtracking,
case-insensitive `%xx` literals. Routers (docs/internals/framework.md): nested include with prefix/tags/deps
keywords, including while serving. Parameters (docs/internals/framework.md): `Query(cast=T)` invalid,
`Request` injection by annotation. Dependencies (docs/internals/framework.md): cached generator (one call, one
teardown), teardown error rules, async-generator contract errors, `current_request()` inside a dependency. App
members (docs/internals/framework.md): `state`, `routes()`, `match()` while serving.

No Python middleware: unmatched paths/methods are answered natively.
Run as `python framework_surface_app.py PORT`.
"""
import asyncio
import sys

import viperhttp
from viperhttp import Depends, HTTPException, Query, Request, Response, Router

app = viperhttp.ViperHTTP(title="gap framework", version="9.9.9", description="gap")
app.state["boot"] = "before-run"
app.state.counter = 0
LOG = []


def log_entries():
    out = list(LOG)
    LOG.clear()
    return out


@app.get("/log")
def read_log():
    return log_entries()


# --- docs/internals/framework.md#routing decorators ---------------------------------------------------------


def _method_echo(request):
    return Response(body={"method": request.method}, headers={"X-Method": request.method})


for _decorator in (app.get, app.post, app.put, app.patch, app.delete, app.options):
    _decorator("/verbs")(_method_echo)


@app.head("/verbs-head")
def verbs_head():
    return Response(status_code=200, headers={"X-Head": "explicit"})


@app.api_route("/api-route", methods=("PATCH", "delete"))
def api_route_handler(request):
    return {"via": "api_route", "method": request.method}


@app.route("/route-str", methods="post")
def route_str(request):
    return {"via": "route", "method": request.method}


# Allow order (docs/internals/framework.md#routing): registration order, HEAD right after GET unless
# registered itself, OPTIONS only when registered.
app.post("/allow-order")(lambda: "post")
app.get("/allow-order")(lambda: "get")
app.options("/allow-order")(lambda: "options")
app.head("/allow-head")(lambda: None)
app.get("/allow-head")(lambda: "get")
app.post("/post-only")(lambda: "post")


@app.get("no-leading-slash")
def no_leading_slash():
    return "reachable"


# docs/internals/framework.md#routing precedence: literal > parameter > path; no backtracking once a child is
# taken.
@app.get("/m/special")
def m_special():
    return "literal"


@app.get("/m/{rest:path}")
def m_path(rest):
    return {"path": rest}


@app.get("/n/{x:int}/tail")
def n_int(x):
    return {"int": x}


@app.get("/grüße")
def gruesse():
    return "grüße"


# --- docs/internals/framework.md parameters -----------------------------------------------------------------


@app.get("/qc", query={"k": Query(cast=int), "f": Query(cast=float), "b": Query(cast=bool)})
def query_cast(k, f, b):
    return {"k": k, "f": f, "b": b}


@app.get("/annotated")
def annotated(req: Request, x=""):
    return {"is_request": isinstance(req, Request), "path": req.path, "x": x}


# --- docs/internals/framework.md routers --------------------------------------------------------------------


def make_dep(name):
    def dep():
        LOG.append(name)
        return name
    dep.__name__ = name
    return dep


inner = Router(prefix="/inner", tags=("inner",), deps={"inner_dep": Depends(make_dep("inner_dep"))})


@inner.get("/x", tags="route", deps={"route_dep": Depends(make_dep("route_dep"))})
def inner_x(inner_dep, route_dep, mid_dep, top_dep):
    return {"inner_dep": inner_dep, "route_dep": route_dep, "mid_dep": mid_dep, "top_dep": top_dep}


@inner.route("/multi", methods=["GET", "put"])
def inner_multi(request, **deps):
    return {"method": request.method, "deps": sorted(deps)}


@inner.api_route("/alias", methods="DELETE")
def inner_alias(**deps):
    return {"alias": True, "deps": sorted(deps)}


outer = Router(prefix="/outer", tags=["outer"])
outer.include_router(inner, prefix="/mid", tags=["mid"], deps={"mid_dep": Depends(make_dep("mid_dep"))})
app.include_router(outer, prefix="/top", tags=["top", "outer"], deps={"top_dep": Depends(make_dep("top_dep"))})

late = Router(prefix="/late")


@late.get("/ping")
def late_ping():
    return "late-pong"


@app.post("/admin/include-late")
def include_late():
    app.include_router(late)
    return "included"


@app.get("/meta/routes")
def meta_routes():
    return [{"method": r["method"], "path": r["path"], "tags": r.get("docs", {}).get("tags"),
             "deps": sorted(r.get("deps") or {})} for r in app.routes()]


@app.get("/meta/match")
def meta_match(method="GET", p="/"):
    found = app.match(method, p)
    if found is None:
        return {"found": None}
    return {"found": found[0].__name__, "params": found[1]}


# --- docs/internals/framework.md state ----------------------------------------------------------------------


@app.get("/state/bump")
def state_bump():
    app.state.counter += 1
    return {"boot": app.state["boot"], "counter": app.state.counter, "get": app.state.get("counter"),
            "is_dict": isinstance(app.state, dict), "same": app.state is app.state}


# --- docs/internals/framework.md dependencies ---------------------------------------------------------------

CALLS = {"cached_gen": 0}


def cached_gen():
    CALLS["cached_gen"] += 1
    LOG.append("cached:enter")
    try:
        yield CALLS["cached_gen"]
    finally:
        LOG.append("cached:exit")


@app.get("/dc/cached-gen", deps={
    "a": Depends(cached_gen, use_cache=True),
    "b": Depends(lambda inner: inner, {"inner": Depends(cached_gen, use_cache=True)}),
})
def dc_cached_gen(a, b):
    LOG.append("handler")
    return {"a": a, "b": b}


class TeardownError(Exception):
    pass


class HandlerError(Exception):
    pass


def failing_teardown(name):
    def gen():
        LOG.append(f"{name}:enter")
        yield name
        LOG.append(f"{name}:exit")
        raise TeardownError(name)
    gen.__name__ = f"failing_{name}"
    return gen


async def async_failing_teardown():
    LOG.append("c:enter")
    yield "c"
    LOG.append("c:exit")
    raise TeardownError("c")


@app.exception_handler(TeardownError)
def on_teardown_error(request, exc):
    return Response(status_code=409, body={"teardown_error": str(exc)})


@app.exception_handler(HandlerError)
def on_handler_error(exc):
    return Response(status_code=418, body={"handler_error": str(exc)})


@app.get("/td/all-fail", deps={"a": Depends(failing_teardown("a")), "b": Depends(failing_teardown("b")),
                               "c": Depends(async_failing_teardown)})
def td_all_fail(a, b, c):
    LOG.append("handler")
    return "handler-result"


@app.get("/td/handler-wins", deps={"a": Depends(failing_teardown("a")), "b": Depends(failing_teardown("b"))})
def td_handler_wins(a, b):
    LOG.append("handler")
    raise HandlerError("from-handler")


def http_teardown():
    LOG.append("h:enter")
    yield "h"
    LOG.append("h:exit")
    raise HTTPException(409, "teardown says no", headers={"X-Teardown": "1"})


@app.get("/td/http", deps={"h": Depends(http_teardown)})
async def td_http(h):
    LOG.append("handler")
    return "handler-result"


async def agen_twice():
    LOG.append("agen2:enter")
    yield 1
    LOG.append("agen2:again")
    yield 2


async def agen_never():
    if LOG is None:  # never true: makes this an async generator that yields nothing
        yield


async def agen_plain():
    yield "x"


@app.get("/dg/async-double", deps={"x": Depends(agen_twice, mode="async_yield")})
def dg_async_double(x):
    LOG.append("handler")
    return "ok"


@app.get("/dg/async-noyield", deps={"x": Depends(agen_never)})
def dg_async_noyield(x):
    return "unreachable"


@app.get("/dg/yield-asyncgen", deps={"x": Depends(agen_plain, mode="yield")})
def dg_yield_asyncgen(x):
    return "unreachable"


def dep_reads_current():
    return viperhttp.current_request().path


async def async_dep_reads_current():
    await asyncio.sleep(0)
    return viperhttp.current_request().query


@app.get("/dg/current", deps={"path": Depends(dep_reads_current), "query": Depends(async_dep_reads_current)})
def dg_current(path, query):
    return {"path": path, "query": query}


def logged_gen():
    LOG.append("dep:enter")
    yield "d"
    LOG.append("dep:exit")


@app.get("/dg/teardown-before-bg", deps={"d": Depends(logged_gen)})
def dg_teardown_before_bg(d, background_tasks):
    background_tasks.add_task(LOG.append, "bg")
    LOG.append("handler")
    return "ok"


@app.get("/ok")
def ok():
    return "ok"


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
