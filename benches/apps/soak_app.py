"""Soak app (docs/internals/benchmarks.md "Soak"): one realistic service using most of the
framework at once, driven for many minutes of mixed traffic by benches/soak.py.

`GET /soak/stats` reports what the app can see about itself: its own counters (yield
resources open now, background tasks run, streams active now), `len(gc.get_objects())`, and
the framework's counters (bridge, IPC, server, open connections, WebSocket manager, sessions).
Run it with `viperhttp run benches/apps/soak_app.py --port N` from a directory holding
`soak_static/` (the driver creates it), or set SOAK_STATIC_DIR.
"""
import asyncio
import gc
import os
import time
from typing import Annotated, Any, AsyncIterator, Dict, Iterator, List, Optional

from pydantic import BaseModel, Field

import viperhttp
import viperhttp_session as sessions
from viperhttp import (
    BackgroundTasks, ConnectionManager, Depends, File, HTTPException, JSONResponse, Request,
    StreamingResponse, UploadFile, ViperHTTP,
)
from viperhttp.middleware import CORSMiddleware
from viperhttp.sse import EventSourceResponse
from viperhttp_bridge import bridge_stats

app = ViperHTTP(docs=False)
manager = ConnectionManager()
# A short TTL, so that sessions expire within the run: the middleware's `ttl_ms` is the one
# every `set` passes to the store (docs/internals/sessions-auth.md), the store's is its default.
SESSION_TTL_MS = int(os.environ.get("SOAK_SESSION_TTL_MS", "30000"))
session_store = sessions.MemorySessionStore(ttl_ms=SESSION_TTL_MS)

app.add_middleware(sessions.SessionMiddleware, secret_key="soak-secret-" + "x" * 32, store=session_store,
                   ttl_ms=SESSION_TTL_MS)
app.add_middleware(CORSMiddleware, allow_origins=["https://soak.example"], allow_methods=["GET", "POST"])
app.mount("/static", os.environ.get("SOAK_STATIC_DIR", "soak_static"))

COUNTERS: Dict[str, int] = {
    "yield_open": 0, "yield_opened": 0, "bg_run": 0, "streams_active": 0, "streams_started": 0,
    "ws_open": 0, "middleware_seen": 0,
}


class Boom(Exception):
    pass


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    price: float = Field(gt=0)
    tags: List[str] = []


class ItemOut(BaseModel):
    id: int
    name: str
    price: float
    tags: List[str]


def resource() -> Iterator[Dict[str, int]]:
    """A `yield` dependency standing for a database connection: counted open until torn down."""
    COUNTERS["yield_open"] += 1
    COUNTERS["yield_opened"] += 1
    try:
        yield {"conn": COUNTERS["yield_opened"]}
    finally:
        COUNTERS["yield_open"] -= 1


def record_bg(n: int) -> None:
    COUNTERS["bg_run"] += 1


@app.middleware("http")
async def timing(request: Request, call_next: Any) -> Any:
    started = time.monotonic()
    COUNTERS["middleware_seen"] += 1
    response = await call_next(request)
    response.headers["x-elapsed-ms"] = f"{(time.monotonic() - started) * 1000:.2f}"
    return response


@app.exception_handler(Boom)
def boom_handler(request: Request, exc: Boom) -> JSONResponse:
    return JSONResponse(content={"error": "boom"}, status_code=500)


@app.get("/users/{user_id}")
def read_user(user_id: int, verbose: bool = False, db: Dict[str, int] = Depends(resource)) -> Dict[str, Any]:
    if user_id >= 900:
        raise HTTPException(404, "no such user")
    return {"id": user_id, "name": f"user{user_id}", "verbose": verbose}


@app.get("/ausers/{user_id}")
async def read_user_async(user_id: int, q: Optional[str] = None,
                          db: Dict[str, int] = Depends(resource)) -> Dict[str, Any]:
    return {"id": user_id, "q": q}


@app.get("/slow")
async def slow(db: Dict[str, int] = Depends(resource)) -> Dict[str, bool]:
    await asyncio.sleep(0.01)
    return {"slept": True}


@app.post("/items", response_model=ItemOut, status_code=201)
async def create_item(item: ItemIn, background_tasks: BackgroundTasks,
                      db: Dict[str, int] = Depends(resource)) -> Dict[str, Any]:
    background_tasks.add_task(record_bg, 1)
    return {"id": db["conn"], **item.model_dump()}


@app.get("/private")
def private(token: Optional[str] = None) -> Dict[str, bool]:
    if token != "let-me-in":
        raise HTTPException(401, "bad token")
    return {"ok": True}


@app.get("/boom")
def boom(db: Dict[str, int] = Depends(resource)) -> None:
    raise Boom("the app raised this on purpose")


def _stream_counted_sync(n: int) -> Iterator[bytes]:
    COUNTERS["streams_active"] += 1
    COUNTERS["streams_started"] += 1
    try:
        for i in range(n):
            time.sleep(0.005)
            yield f"chunk {i}\n".encode()
    finally:
        COUNTERS["streams_active"] -= 1


async def _stream_counted_async(n: int) -> AsyncIterator[bytes]:
    COUNTERS["streams_active"] += 1
    COUNTERS["streams_started"] += 1
    try:
        for i in range(n):
            await asyncio.sleep(0.02)
            yield f"achunk {i}\n".encode()
    finally:
        COUNTERS["streams_active"] -= 1


# blocking=True: the sync generator sleeps, so its items are produced in the thread pool
# (docs/guide/static-streaming.md), as a real one reading a file or a socket would be.
@app.get("/stream/sync", blocking=True)
def stream_sync(db: Dict[str, int] = Depends(resource)) -> StreamingResponse:
    return StreamingResponse(_stream_counted_sync(20), media_type="text/plain")


@app.get("/stream/async")
async def stream_async(db: Dict[str, int] = Depends(resource)) -> StreamingResponse:
    return StreamingResponse(_stream_counted_async(20), media_type="text/plain")


@app.get("/sse")
async def sse() -> EventSourceResponse:
    async def ticks() -> AsyncIterator[Dict[str, Any]]:
        COUNTERS["streams_active"] += 1
        COUNTERS["streams_started"] += 1
        try:
            for i in range(20):
                await asyncio.sleep(0.05)
                yield {"event": "tick", "id": str(i), "data": {"n": i}}
        finally:
            COUNTERS["streams_active"] -= 1

    return EventSourceResponse(ticks(), ping=15)


@app.post("/upload")
async def upload(file: Annotated[UploadFile, File()]) -> Dict[str, Any]:
    data = await file.read()
    return {"name": file.filename, "size": len(data)}


@app.post("/login")
def login(request: Request) -> Dict[str, Optional[str]]:
    form = request.form()
    if form.get("password") != "open sesame":
        raise HTTPException(401, "bad credentials")
    request.session["user"] = form.get("username") or "?"
    return {"csrf": sessions.get_csrf_token(request)}


@app.get("/me")
def me(request: Request) -> Dict[str, Any]:
    user = request.session.get("user")
    if user is None:
        raise HTTPException(401, "not logged in")
    return {"user": user}


@app.websocket("/ws/echo")
async def ws_echo(ws: Any) -> None:
    await ws.accept()
    COUNTERS["ws_open"] += 1
    try:
        async for text in ws.iter_text():
            await ws.send_text("echo: " + text)
    finally:
        COUNTERS["ws_open"] -= 1


@app.websocket("/ws/room/{room}")
async def ws_room(ws: Any, room: str) -> None:
    await manager.connect(ws, room)
    COUNTERS["ws_open"] += 1
    try:
        async for text in ws.iter_text():
            await manager.broadcast_text(f"{room}: {text}", room=room)
    finally:
        COUNTERS["ws_open"] -= 1
        manager.disconnect(ws)


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # a stat missing from this build is reported, not fatal
        return repr(exc)


@app.get("/soak/stats")
def soak_stats(collect: bool = False) -> Dict[str, Any]:
    if collect:
        gc.collect()
    return {
        "app": dict(COUNTERS),
        "gc_objects": len(gc.get_objects()),
        "tasks": len(asyncio.all_tasks()),
        "sessions": len(session_store),
        "ws_manager": manager.stats(),
        "bridge": _safe(bridge_stats),
        "ipc": _safe(viperhttp.ipc_stats),
        "server": _safe(viperhttp.server_stats),
        "open_connections": _safe(viperhttp._native.open_connections),
    }
