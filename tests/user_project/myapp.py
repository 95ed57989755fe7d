"""A small user app, tested by test_myapp.py with viperhttp.testclient.TestClient
(the example of docs/guide/testing.md)."""
from typing import Optional

from viperhttp import Depends, HTTPException, JSONResponse, Request, ViperHTTP

app = ViperHTTP(title="My app")
app.state.events = []


@app.on_event("startup")
def startup() -> None:
    app.state.events.append("startup")


@app.on_event("shutdown")
def shutdown() -> None:
    app.state.events.append("shutdown")


@app.get("/")
def index() -> dict:
    return {"hello": "world"}


def get_db():
    yield {"name": "production"}


def current_user(db: dict = Depends(get_db)) -> str:
    return "ada@" + db["name"]


@app.get("/whoami")
def whoami(user: str = Depends(current_user)) -> dict:
    return {"user": user}


@app.get("/db", deps={"db": Depends(get_db)})  # the original's way of declaring it
def db_name(db) -> dict:
    return db


@app.get("/items/{item_id:int}")
def read_item(item_id: int, q: Optional[str] = None) -> dict:
    if item_id == 0:
        raise HTTPException(status_code=404, detail="no such item")
    return {"item_id": item_id, "q": q}


@app.post("/items")
def create_item(request: Request) -> JSONResponse:
    return JSONResponse(content={"created": request.json()}, status_code=201)


@app.get("/login")
def login() -> JSONResponse:
    resp = JSONResponse(content={"ok": True})
    resp.set_cookie("sid", "abc123", httponly=True)
    return resp


@app.get("/me")
def me(request: Request) -> dict:
    sid = request.cookies.get("sid")
    if sid is None:
        raise HTTPException(status_code=401, detail="not logged in")
    return {"sid": sid}


@app.get("/host")
def host(request: Request) -> dict:
    return {"host": request.headers.get("host")}


@app.post("/upload")
def upload(request: Request) -> dict:
    form = request.form()
    doc = form["doc"]  # a file part: {"filename", "content_type", "data"}
    return {"name": doc["filename"], "size": len(doc["data"]), "note": form.get("note")}


@app.get("/broken")
def broken() -> dict:
    raise ZeroDivisionError("bug in the handler")


@app.websocket("/ws/echo")
async def ws_echo(ws) -> None:
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "close":
            return
        if "text" in msg:
            if msg["text"].startswith("{"):
                await ws.send_json({"echo": __import__("json").loads(msg["text"])})
            else:
                await ws.send_text("echo: " + msg["text"])
        else:
            await ws.send_bytes(b"echo: " + msg["bytes"])


@app.websocket("/ws/bye")
async def ws_bye(ws) -> None:
    await ws.accept()
    await ws.send_text("bye")
    await ws.close(code=4001, reason="go away")


@app.websocket("/ws/private")
def ws_private(ws) -> JSONResponse:
    return JSONResponse(content={"detail": "login first"}, status_code=401)


@app.websocket("/ws/whoami")
async def ws_whoami(ws) -> None:
    await ws.accept(subprotocol="v1" if "v1" in ws.client_protocols else None)
    await ws.send_json({"sid": ws.request.cookies.get("sid"),
                        "token": ws.request.headers.get("x-token"),
                        "protocols": ws.client_protocols})
    await ws.close()
