"""Framework test app: routing, query params, dependencies, errors, background tasks.

No Python middleware here, so unmatched paths are answered natively; tests/apps/fw_middleware_app.py
covers the chain. Run as `python framework_app.py PORT`.
"""
import asyncio
import functools
import sys

import viperhttp
from viperhttp import BackgroundTasks, Depends, HTTPException, Query, Request, Response, Router

app = viperhttp.ViperHTTP(title="framework")

# --- routing -------------------------------------------------------------------------------


@app.get("/")
def root():
    return "root"


@app.get("/items")
def list_items():
    return "items-list"


@app.post("/items")
def create_item():
    return Response(status_code=201, body="created")


@app.get("/items/special")
def special_item():
    return "special"


@app.get("/items/{item_id:int}")
def get_item(item_id):
    return {"id": item_id, "type": type(item_id).__name__}


@app.get("/price/{p:float}")
def price(p):
    return {"p": p, "type": type(p).__name__}


@app.get("/flag/{f:bool}")
def flag(f):
    return {"f": f}


@app.get("/users/{name}")
def user(name):
    return {"name": name}


@app.get("/users/{name}/files/{rest:path}")
def user_file(name, rest):
    return {"name": name, "rest": rest}


@app.get("/café")
def cafe():
    return "café"


@app.get("/headed")
def headed():
    return Response(body="hello head", headers={"X-Custom": "yes"})


@app.head("/explicit-head")
def explicit_head():
    return Response(status_code=204, headers={"X-Head": "explicit"})


@app.get("/explicit-head")
def explicit_head_get():
    return "get body"


@app.route("/multi", methods=["get", "PUT"])
def multi(request):
    return {"method": request.method}


@app.get("/stacked-a")
@app.get("/stacked-b")
def stacked(request):
    return request.path


@app.get("/none")
def returns_none():
    return None


@app.get("/async")
async def async_handler():
    await asyncio.sleep(0)
    return {"async": True}


def passthrough(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


@app.get("/wrapped-async")
@passthrough
async def wrapped_async():
    await asyncio.sleep(0)
    if viperhttp.current_request() is None:
        raise RuntimeError("no current request")
    raise ChildError()  # handled by the app's exception handler only on the async path


@app.get("/current")
def current():
    return {"same": viperhttp.current_request().path == "/current"}


# --- routers -------------------------------------------------------------------------------

def tenant():
    return "acme"


api = Router(prefix="/api", tags=["api"], deps={"tenant": Depends(tenant)})


@api.get("/info", tags=["info", "api"])
def api_info(tenant):
    return {"tenant": tenant}


@api.get("/")
def api_root(tenant):
    return {"root": tenant}


v1 = Router("/v1/", tags="v1")


@v1.get("/ping")
def v1_ping(tenant):
    return {"pong": tenant}


api.include_router(v1)
app.include_router(api)
app.include_router(Router(prefix="/extra"), prefix="/unused")  # empty router: nothing happens


@app.get("/meta/routes")
def meta_routes():
    rows = []
    for row in app.routes():
        rows.append({"method": row["method"], "path": row["path"], "tags": row.get("docs", {}).get("tags"),
                     "deps": sorted(row.get("deps") or {})})
    return rows


# --- query parameters ----------------------------------------------------------------------


@app.get("/q/int", query={"page": int})
def q_int(page):
    return {"page": page, "type": type(page).__name__}


@app.get("/q/float", query={"x": float})
def q_float(x):
    return {"x": x}


@app.get("/q/bool", query={"flag": bool})
def q_bool(flag):
    return {"flag": flag}


@app.get("/q/str", query={"s": str})
def q_str(s):
    return {"s": s}


@app.get("/q/optional", query={"page": Query(1, int), "name": Query("anon"), "none": Query(None, int)})
def q_optional(page, name, none):
    return {"page": page, "name": name, "none": none}


@app.get("/q/str-default", query={"n": Query("5", int)})
def q_str_default(n):
    return {"n": n, "type": type(n).__name__}


@app.get("/q/bad-default", query={"n": Query("x", int)})
def q_bad_default(n):
    return {"n": n}


@app.get("/q/required", query={"k": Query(cast=int), "r": Query()})
def q_required(k, r):
    return {"k": k, "r": r}


@app.get("/q/order", query={"a": int, "b": int})
def q_order(a, b):
    return {"a": a, "b": b}


@app.get("/q/undeclared")
def q_undeclared(a="", b=""):
    return {"a": a, "b": b}


@app.get("/q/kwargs")
def q_kwargs(**kw):
    return kw


@app.get("/q/request", query={"n": int})
def q_request(request: Request, n):
    return {"n": n, "query_params": dict(request.query_params), "raw": request.query,
            "all_x": request.query_params.getlist("x")}


@app.get("/q/path-wins/{n:int}", query={"n": str})
def q_path_wins(n):
    return {"n": n, "type": type(n).__name__}


@app.get("/q/request-shadow")
def q_request_shadow(request=None):
    return {"is_request": isinstance(request, Request)}


# --- dependencies --------------------------------------------------------------------------

LOG = []


def log_entries():
    out = list(LOG)
    LOG.clear()
    return out


@app.get("/deps/log")
def deps_log():
    return log_entries()


def sync_value():
    LOG.append("value")
    return "v"


async def async_value():
    await asyncio.sleep(0)
    LOG.append("async_value")
    return "av"


def sync_gen():
    LOG.append("gen:enter")
    try:
        yield "g"
    except Exception:
        LOG.append("gen:saw-exception")
    finally:
        LOG.append("gen:exit")


async def async_gen():
    LOG.append("agen:enter")
    try:
        yield "ag"
    finally:
        await asyncio.sleep(0)
        LOG.append("agen:exit")


class Service:
    def __init__(self, conn="none"):
        LOG.append("service")
        self.conn = conn


class Counter:
    def __call__(self):
        LOG.append("callable")
        return "c"


class AsyncCallable:
    async def __call__(self):
        LOG.append("async_callable")
        return "ac"


def conn():
    LOG.append("conn")
    return "db-conn"


def needs_request(request):
    return request.path


ALL_DEPS = {
    "gen": Depends(sync_gen, mode="yield"),
    "agen": Depends(async_gen, mode="async_yield"),
    "value": Depends(sync_value),
    "avalue": Depends(async_value),
    "service": Depends(Service, {"conn": Depends(conn)}),
    "counter": Depends(Counter()),
    "acall": Depends(AsyncCallable()),
    "req_path": Depends(needs_request),
}


@app.get("/deps/all", deps=ALL_DEPS)
def deps_all(gen, agen, value, avalue, service, counter, acall, req_path):
    LOG.append("handler")
    return {"gen": gen, "agen": agen, "value": value, "avalue": avalue, "service": service.conn,
            "counter": counter, "acall": acall, "req_path": req_path}


@app.get("/deps/sync-only", deps={"gen": Depends(sync_gen), "value": Depends(sync_value)})
def deps_sync_only(gen, value):
    LOG.append("handler")
    return {"gen": gen, "value": value}


@app.get("/deps/auto-modes", deps={"gen": Depends(sync_gen, mode="auto"), "agen": Depends(async_gen)})
async def deps_auto_modes(gen, agen):
    LOG.append("handler")
    return {"gen": gen, "agen": agen}


@app.get("/deps/handler-error", deps={"gen": Depends(sync_gen), "agen": Depends(async_gen)})
def deps_handler_error(gen, agen):
    LOG.append("handler")
    raise RuntimeError("handler failed")


def deny():
    LOG.append("deny")
    raise HTTPException(401, "no token", headers={"WWW-Authenticate": "Bearer"})


@app.get("/deps/http-error", deps={"gen": Depends(sync_gen), "auth": Depends(deny), "value": Depends(sync_value)})
def deps_http_error(gen, auth, value):
    LOG.append("handler")
    return "unreachable"


def not_a_generator():
    return 1


@app.get("/deps/mode-yield-error", deps={"x": Depends(not_a_generator, mode="yield")})
def deps_mode_yield_error(x):
    return x


@app.get("/deps/mode-async-yield-error", deps={"x": Depends(sync_gen, mode="async_yield")})
def deps_mode_async_yield_error(x):
    return x


def twice():
    LOG.append("twice:enter")
    yield 1
    LOG.append("twice:again")
    yield 2


@app.get("/deps/double-yield", deps={"x": Depends(twice)})
def deps_double_yield(x):
    LOG.append("handler")
    return "ok"


def never():
    if LOG is None:  # never true: the `yield` only makes this a generator that yields nothing
        yield


@app.get("/deps/no-yield", deps={"x": Depends(never)})
def deps_no_yield(x):
    return "unreachable"


CALLS = {"n": 0}


def counted():
    CALLS["n"] += 1
    return CALLS["n"]


@app.get("/deps/cache", deps={
    "a": Depends(counted, use_cache=True),
    "b": Depends(lambda c: c, {"c": Depends(counted, use_cache=True)}),
    "u": Depends(counted),
})
def deps_cache(a, b, u):
    return {"a": a, "b": b, "u_differs": u != a}


def level(n):
    return Depends(lambda inner=0: inner + 1, {"inner": level(n - 1)}) if n > 1 else Depends(lambda: 1)


@app.get("/deps/deep", deps={"depth": level(8)})
def deps_deep(depth):
    return {"depth": depth}


@app.get("/deps/conflict-query", deps={"db": Depends(lambda: "from-dep")})
def deps_conflict_query(db):
    return {"db": db}


# --- background tasks ----------------------------------------------------------------------

BG = []


def bg_dep(background_tasks: BackgroundTasks):
    background_tasks.add_task(BG.append, "from-dep")
    return "dep"


async def async_task(value):
    await asyncio.sleep(0)
    BG.append(value)


@app.post("/bg", deps={"d": Depends(bg_dep)})
def bg(d, background_tasks):
    background_tasks.add_task(BG.append, "from-handler")
    background_tasks.add_task(async_task, value="from-async")
    return {"queued": len(background_tasks)}


async def slow_task(value):
    await asyncio.sleep(0.05)
    BG.append(value)


def failing_task():
    raise ValueError("task fails")


@app.post("/bg/order")
def bg_order(background_tasks):
    # one after another, as Starlette runs them: the sleeping async task delays the next;
    # a failing task is logged and the next still runs
    background_tasks.add_task(BG.append, "one")
    background_tasks.add_task(slow_task, "two")
    background_tasks.add_task(failing_task)
    background_tasks.add_task(BG.append, "three")
    return "queued"


@app.post("/bg/boom")
def bg_boom(background_tasks):
    background_tasks.add_task(BG.append, "must-not-run")
    raise RuntimeError("boom after add_task")


@app.get("/bg/seen")
def bg_seen():
    out = list(BG)
    BG.clear()
    return out


# --- errors --------------------------------------------------------------------------------


@app.get("/err/http")
def err_http():
    raise HTTPException(404)


@app.get("/err/http-detail")
def err_http_detail():
    raise HTTPException(status_code=403, detail={"reason": "nope", "codes": [1, 2]})


@app.get("/err/http-headers")
def err_http_headers():
    raise HTTPException(401, "auth required", headers=[("WWW-Authenticate", "Bearer"), ("X-A", "1")])


@app.get("/err/http-teapot")
def err_http_teapot():
    raise HTTPException(418)


@app.get("/err/boom")
def err_boom():
    raise RuntimeError("kaboom-sync")


@app.get("/err/async-boom")
async def err_async_boom():
    await asyncio.sleep(0)
    raise ValueError("kaboom-async")


@app.get("/err/json")
def err_json(request):
    return request.json()


@app.get("/err/unencodable")
def err_unencodable():
    return {"x": object()}


class AppError(Exception):
    pass


class ChildError(AppError):
    pass


class GrandChildError(ChildError):
    pass


class OtherError(Exception):
    pass


class BrokenError(Exception):
    pass


@app.exception_handler(AppError)
def handle_app_error(request, exc):
    return Response(status_code=418, body={"handler": "app", "exc": type(exc).__name__, "path": request.path})


@app.exception_handler(ChildError)
async def handle_child_error(exc):
    await asyncio.sleep(0)
    return Response(status_code=409, body={"handler": "child", "exc": type(exc).__name__})


@app.exception_handler(BrokenError)
def handle_broken(request, exc):
    raise KeyError("handler itself fails")


@app.get("/err/app")
def err_app():
    raise AppError()


@app.get("/err/child")
def err_child():
    raise ChildError()


@app.get("/err/grandchild")
async def err_grandchild():
    raise GrandChildError()


@app.get("/err/other")
def err_other():
    raise OtherError("unhandled custom")


@app.get("/err/broken-handler")
def err_broken_handler():
    raise BrokenError()


def failing_dep():
    raise ChildError()


@app.get("/err/dep", deps={"x": Depends(failing_dep)})
def err_dep(x):
    return x


app.run(port=int(sys.argv[1]))
