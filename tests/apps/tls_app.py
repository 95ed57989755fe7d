"""HTTPS / HTTP/2 test app (tests/test_tls.py, tests/test_http2.py): one route of each kind
(JSON, text, body echo, sync and async streams, errors, validation), a static mount, CORS,
a hit counter (rapid reset) and a slow route (GOAWAY on shutdown).

Run: python tls_app.py PORT
Env: TLS_KW — JSON object of run() keywords (https, http2, tls_cert_path, ...);
     TLS_PEM_BYTES — non-empty: pass tls_cert_pem / tls_key_pem as bytes;
     STATIC_DIR — directory mounted at /static (optional).
"""
import asyncio
import json
import os
import sys

import viperhttp
from viperhttp import HTTPException, StreamingResponse
from viperhttp.middleware import CORSMiddleware

app = viperhttp.ViperHTTP()
app.add_middleware(CORSMiddleware, allow_origins=["https://app.example"])
if os.environ.get("STATIC_DIR"):
    app.mount("/static", os.environ["STATIC_DIR"])

HITS = {"count": 0}


@app.get("/hello")
def hello():
    return {"message": "Hello, World!"}


@app.get("/text")
def text():
    return viperhttp.PlainTextResponse("plain text")


@app.get("/info")
def info(request):
    return {"scheme": request.scheme, "http_version": request.http_version,
            "host": request.headers.get("host")}


@app.post("/echo")
def echo(request):
    return viperhttp.Response(content=request.body, media_type="application/octet-stream")


@app.get("/items/{item_id}")
def item(item_id: int):
    return {"item_id": item_id}


@app.get("/boom")
def boom():
    raise RuntimeError("handler failure")


@app.get("/teapot")
def teapot():
    raise HTTPException(status_code=418, detail="short and stout")


@app.delete("/gone", status_code=204)
def gone():
    return {"deleted": True}  # content the 204 must not carry (FastAPI apps do this)


@app.get("/unchanged")
def unchanged():
    return viperhttp.Response(content=b"not sent", status_code=304)


@app.post("/form-reset")
def form_reset():
    return viperhttp.Response(content=b"abc", status_code=205)


@app.get("/padded")
def padded():
    return viperhttp.Response(content=b"abc", headers={"X-Sp": " padded\t "})


@app.get("/hit")
def hit():
    HITS["count"] += 1
    return {"count": HITS["count"]}


@app.get("/hits")
def hits():
    return {"count": HITS["count"]}


@app.get("/slow")
async def slow(ms: int = 500):
    ms = int(ms)  # query values arrive as str
    await asyncio.sleep(ms / 1000)
    return {"slept": ms}


@app.get("/big")
def big(n: int = 200000):
    return viperhttp.Response(content=b"x" * int(n), media_type="application/octet-stream")


@app.get("/stream")
def stream(n: int = 5, size: int = 10):
    n, size = int(n), int(size)

    def gen():
        for i in range(n):
            yield (str(i % 10) * size).encode()
    return StreamingResponse(gen(), content_type="text/plain")


@app.get("/astream")
async def astream(n: int = 3):
    n = int(n)

    async def gen():
        for i in range(n):
            await asyncio.sleep(0.01)
            yield f"chunk{i};"
    return StreamingResponse(gen(), content_type="text/plain")


@app.websocket("/ws/echo")
async def ws_echo(ws):
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "close":
            return
        await ws.send_text("echo:" + msg["text"])


@app.get("/stats")
def stats():
    return {"server": viperhttp.server_stats(), "https": viperhttp.https_status(),
            "http2": viperhttp.http2_status(), "pid": os.getpid()}


if __name__ == "__main__":
    kw = json.loads(os.environ.get("TLS_KW", "{}"))
    if os.environ.get("TLS_PEM_BYTES"):  # inline PEM as bytes rather than str
        for name in ("tls_cert_pem", "tls_key_pem"):
            if name in kw:
                kw[name] = kw[name].encode("latin-1")
    app.run(port=int(sys.argv[1]), host="127.0.0.1", **kw)
