"""WebSocket and SSE test app (tests/test_websocket.py, tests/test_sse.py).

Run: python ws_app.py PORT. Settings come from the environment so one script serves every
configuration: WS_MAX (ws_max_message_size, default 2 MiB), WS_PING_MS, WS_PONG_MS,
WS_HANDSHAKE_MS (default 400), WS_QUEUE (default 8), TRUSTED (a host name: trusted-host on),
RATE (requests/s: rate limit on).
"""
import asyncio
import time
import os
import sys

import viperhttp
import viperhttp_bridge
from viperhttp import ConnectionManager, JSONResponse, current_request
from viperhttp_responses import EventSourceResponse

app = viperhttp.ViperHTTP()
manager = ConnectionManager()
state = {"sent": 0, "slow_done": False, "hold": None, "hold_expect": 0,
         "sse_closed": 0, "log": []}


@app.websocket("/ws/echo")
async def echo(ws):
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "close":
            state["log"].append(("echo-close", msg["code"]))
            return
        if msg["opcode"] == 1:
            await ws.send_text("echo:" + msg["text"])
        else:
            await ws.send_bytes(msg["data"])


@app.websocket("/ws/json")
async def json_echo(ws):
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_json({"got": text, "path": current_request().path})
    state["log"].append(("json-end", None))


@app.websocket("/ws/rjson")
async def rjson(ws):
    await ws.accept()
    obj = await ws.receive_json()
    await ws.send_json({"echo": obj})
    nothing = await ws.receive_json()
    state["log"].append(("rjson-after-close", nothing))


chat_members = ConnectionManager()


@app.websocket("/ws/chat/{client_id}")
async def fastapi_chat(websocket: viperhttp.WebSocket, client_id: int):
    # FastAPI's websockets tutorial, as written there: an annotated socket raises
    # WebSocketDisconnect from receive_text() on close (no None message in the loop)
    await chat_members.connect(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            state["log"].append(("chat", data))
            await chat_members.broadcast_text(f"Client #{client_id} says: {data}")
    except viperhttp.WebSocketDisconnect:
        chat_members.disconnect(websocket)
        state["log"].append(("chat-left", client_id))


@app.websocket("/ws/items/{item_id:int}")
async def items(ws, item_id: int, q: str = "none"):
    await ws.accept()
    await ws.send_json({"item_id": item_id, "q": q, "method": ws.request.method,
                        "path": ws.request.path, "query": ws.request.query,
                        "protocols": ws.client_protocols})
    await ws.close()


@app.websocket("/ws/proto")
async def proto(ws):
    await ws.accept(subprotocol="chat")
    await ws.send_text("hi")
    await ws.close()


@app.websocket("/ws/raise")
async def raises(ws):
    await ws.accept()
    await ws.receive()
    raise RuntimeError("boom in handler")


@app.websocket("/ws/raise-early")
async def raises_early(ws):
    raise RuntimeError("boom before accept")


@app.websocket("/ws/returns")
async def returns(ws):
    await ws.accept()
    await ws.send_text("bye")


@app.websocket("/ws/no-accept")
async def no_accept(ws):
    return None


@app.websocket("/ws/close-before-accept")
async def close_before_accept(ws):
    await ws.close()


@app.websocket("/ws/never")
async def never(ws):
    await asyncio.sleep(30)


@app.websocket("/ws/fastapi-echo")
async def fastapi_echo(websocket: viperhttp_bridge.WebSocket):
    # FastAPI's tutorial loop, which never looks for the close: after the client leaves it
    # must end (WebSocketDisconnect), not spin on the interpreter thread.
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Message text was: {data}")


@app.websocket("/ws/typed/{item_id}")
async def typed_ws(websocket: viperhttp_bridge.WebSocket, item_id: int, n: int = 1):
    await websocket.accept()
    await websocket.send_json({"item_id": item_id, "n": n})
    await websocket.close()


@app.websocket("/ws/reject")
def reject(ws):
    return JSONResponse(status_code=401, body={"detail": "go away"}, headers={"X-Reason": "no token"})


def require_token(request):
    if request.query_params.get("token") != "ok":
        raise viperhttp.HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return "ada"


@app.websocket("/ws/guarded", deps={"user": viperhttp.Depends(require_token)})
async def guarded(ws, user):
    await ws.accept()
    await ws.send_text("hello " + user)
    await ws.close()


@app.websocket("/ws/refuse-after-accept")
async def refuse_after_accept(ws):
    await ws.accept()
    raise viperhttp.HTTPException(403, "no")


def cookie_or_token(request):
    # FastAPI's websockets tutorial: a missing credential ends the socket with 1008
    if request.query_params.get("token") is None:
        raise viperhttp.WebSocketException(code=1008)
    return request.query_params["token"]


def bad_refusal(request):
    # a header value the response rules refuse (an int): the handshake must still get an answer
    raise viperhttp.HTTPException(401, "no", headers={"Retry-After": 5})


@app.websocket("/ws/bad-refusal", deps={"x": viperhttp.Depends(bad_refusal)})
async def bad_refusal_route(ws, x):
    await ws.accept()


@app.websocket("/ws/ws-exception", deps={"token": viperhttp.Depends(cookie_or_token)})
async def ws_exception(ws, token):
    await ws.accept()
    await ws.send_text("token " + token)
    await ws.receive_text()
    raise viperhttp.WebSocketException(code=4001, reason="bye now")


@app.websocket("/ws/closecode")
async def closecode(ws):
    await ws.accept()
    text = await ws.receive_text()
    code, _, reason = text.partition(" ")
    await ws.close(code=int(code), reason=reason)
    # Sends after close are silent no-ops.
    await ws.send_text("after close")


@app.websocket("/ws/client-close")
async def client_close(ws):
    await ws.accept()
    msg = await ws.receive()
    try:
        again = await ws.receive()
    except viperhttp.WebSocketDisconnect as exc:  # asked again after the close dict
        again = {"raised": exc.code}
    state["log"].append(("client-close", msg, again))


@app.websocket("/ws/frag")
async def frag(ws):
    await ws.accept()
    await ws.send("ab", final=False)
    await ws.send("cd", final=False)
    await ws.send("ef")
    await ws.send(b"\x01", opcode=2, final=False)
    await ws.send(b"\x02")
    await ws.send(b"pingdata", opcode=9)
    await ws.close()


@app.websocket("/ws/send-before-accept")
async def send_before_accept(ws):
    try:
        await ws.send_text("x")
    except RuntimeError as exc:
        await ws.accept()
        await ws.send_text("error:" + str(exc))
        await ws.close()


@app.websocket("/ws/slow")
async def slow(ws):
    """Sends `n` messages of `size` bytes as fast as send_* lets it (a slow reader throttles)."""
    await ws.accept()
    first = await ws.receive_text()
    n, size = (int(x) for x in first.split())
    chunk = b"x" * size
    state["sent"] = 0
    for _ in range(n):
        await ws.send_bytes(chunk)
        state["sent"] += 1
    state["slow_done"] = True
    await ws.receive()


@app.websocket("/ws/hold")
async def hold(ws):
    """Takes no message until told (GET /hold/release), then counts what arrives."""
    await ws.accept()
    state["hold"] = asyncio.Event()
    await state["hold"].wait()
    count = 0
    async for _ in ws.iter_bytes():
        count += 1
        if count == state["hold_expect"]:
            break
    await ws.send_text(str(count))
    await ws.close()


@app.websocket("/ws/room")
async def room(ws):
    await manager.connect(ws)
    joined = None
    try:
        await ws.send_json({"event": "connected"})
        while True:
            text = await ws.receive_text()
            if text is None:
                return
            if text.startswith("join:"):
                joined = text[5:]
                manager.join_room(ws, joined)
                await ws.send_json({"event": "joined", "room": joined})
            elif text.startswith("say:"):
                await manager.broadcast_json({"event": "message", "room": joined,
                                              "text": text[4:]}, room=joined)
            elif text == "stats":
                await ws.send_json({"event": "stats", "data": manager.stats()})
    finally:
        manager.disconnect(ws)


# A manager whose broadcasts wait at most 1 s for a member that stopped reading.
listeners = ConnectionManager(send_timeout=1.0)


@app.websocket("/ws/listen")
async def listen(ws):
    await listeners.connect(ws)
    try:
        while await ws.receive_text() is not None:
            pass
    finally:
        listeners.disconnect(ws)


@app.post("/broadcast/{size}")
async def broadcast(size: int):
    t0 = time.monotonic()
    await listeners.broadcast_text("x" * size)
    return {"took": time.monotonic() - t0, "connections": len(listeners.active_connections)}


@app.websocket("/ws/errors")
async def errors(ws):
    """Reports what each bad call raises (type and message), then closes."""
    await ws.accept()
    out = []
    calls = [
        lambda: ws.send("x", opcode=3),
        lambda: ws.send("x", opcode=8),
        lambda: ws.send(12),
        lambda: ws.send(b"p" * 126, opcode=9),
        lambda: ws.accept(subprotocol=5),
        lambda: ws.close(code=1005),
        lambda: viperhttp.ws_send(ws.conn_id, 1.5),
        lambda: viperhttp.ws_reject(ws.conn_id, 400, 3),
        lambda: viperhttp.ws_close(ws.conn_id, 999),
    ]
    for call in calls:
        try:
            result = call()
            if hasattr(result, "__await__"):
                await result
            out.append("ok")
        except Exception as exc:
            out.append(f"{type(exc).__name__}: {exc}")
    await ws.send_json(out)
    await ws.close()


@app.websocket("/ws/idle")
async def idle(ws):
    await ws.accept()
    await ws.receive()


@app.get("/hold/release")
def hold_release(expect: int):
    state["hold_expect"] = int(expect)
    state["hold"].set()
    return {"ok": True}


@app.get("/state")
def get_state():
    return {"sent": state["sent"], "slow_done": state["slow_done"], "sse_closed": state["sse_closed"],
            "log": [list(map(repr, e)) for e in state["log"]], "stats": viperhttp.server_stats(),
            "manager": manager.stats(), "listeners": len(listeners.active_connections)}


@app.get("/rss")
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return {"rss_kib": int(line.split()[1])}
    return {"rss_kib": -1}


# --- SSE -----------------------------------------------------------------------------------

@app.get("/sse/events")
def sse_events():
    def gen():
        yield {"event": "greet", "id": "1", "data": "hello\nworld"}
        yield {"comment": "c1\nc2", "data": {"a": 1}}
        yield {"id": 0, "retry": "1500", "data": None}
        yield {"retry": "x", "data": b"bytes"}
        yield ["x", 1]
        yield "plain"
    return EventSourceResponse(gen(), retry=3000)


@app.get("/sse/resume")
async def sse_resume():
    last = current_request().headers.get("last-event-id")
    start = int(last) + 1 if last else 1

    async def gen():
        for i in range(start, start + 3):
            yield {"id": str(i), "data": "n%d" % i}
    return EventSourceResponse(gen())


@app.get("/sse/forever")
async def sse_forever():
    async def gen():
        try:
            i = 0
            while True:
                i += 1
                yield {"data": str(i)}
                await asyncio.sleep(0.02)
        finally:
            state["sse_closed"] += 1
    return EventSourceResponse(gen())


@app.get("/sse/forever_sync", blocking=True)
def sse_forever_sync():
    # A sync event source on a blocking route: produced in the thread pool, 0.5 s apart.
    def gen():
        try:
            i = 0
            while True:
                i += 1
                yield {"data": str(i)}
                time.sleep(0.5)
        finally:
            state["sse_closed"] += 1
    return EventSourceResponse(gen())


@app.get("/sse/ping")
async def sse_ping():
    async def gen():
        yield {"data": "first"}
        await asyncio.sleep(0.35)
        yield {"data": "second"}
    return EventSourceResponse(gen(), ping=0.1)


def _env_int(name, default):
    value = os.environ.get(name)
    return default if value is None else int(value)


if __name__ == "__main__":
    if os.environ.get("TRUSTED"):
        from viperhttp.middleware import TrustedHostMiddleware
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=[os.environ["TRUSTED"]])
    if os.environ.get("RATE"):
        from viperhttp.middleware import RateLimitMiddleware
        app.add_middleware(RateLimitMiddleware, rate=int(os.environ["RATE"]), burst=int(os.environ["RATE"]))
    kw = {
        "ws_max_message_size": _env_int("WS_MAX", 2 * 1024 * 1024),
        "ws_handshake_timeout_ms": _env_int("WS_HANDSHAKE_MS", 400),
        "ws_queue_size": _env_int("WS_QUEUE", 8),
    }
    if os.environ.get("WS_PING_MS"):
        kw["ws_ping_interval_ms"] = int(os.environ["WS_PING_MS"])
    if os.environ.get("WS_PONG_MS"):
        kw["ws_pong_timeout_ms"] = int(os.environ["WS_PONG_MS"])
    if os.environ.get("MAXCONN"):
        kw["max_connections"] = int(os.environ["MAXCONN"])
    viperhttp_bridge.run(app, port=int(sys.argv[1]), host="127.0.0.1", wifi=False, **kw)
