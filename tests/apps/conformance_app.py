"""Edge cases of docs/internals/ipc.md, docs/internals/http.md, docs/internals/logging.md,
docs/internals/bridge.md#start-and-stop (tests/test_runtime_conformance.py).

Run: python conformance_app.py PORT        Env: STATIC_DIR (mounted at /static, optional)
"""
import asyncio
import os
import sys
import time

import viperhttp
from viperhttp import Response, StreamingResponse

app = viperhttp.ViperHTTP()
if os.environ.get("STATIC_DIR"):
    app.mount("/static", os.environ["STATIC_DIR"])


@app.get("/status/{code:int}")
def status(code):
    return Response(code, "x")


@app.get("/empty")
def empty():
    return None


@app.get("/short")
def short():
    def gen():
        for _ in range(3):
            yield b"abcd"
    return StreamingResponse(gen(), total_len=20)


@app.get("/long")
def long():
    return StreamingResponse(iter([b"abcd", b"efgh", b"ijkl"]), total_len=5)


@app.get("/unknown-length")
def unknown_length():
    return StreamingResponse(iter([b"aaa", b"bbb"]))


@app.post("/echo")
async def echo(request):
    return Response(200, request.body, {"Content-Type": "application/octet-stream"})


@app.get("/plain")
def plain():
    return "plain"


@app.get("/slow")
def slow(ms="1500"):
    time.sleep(int(ms) / 1000)
    return "slow done"


@app.get("/aslow")
async def aslow(ms="1500"):
    await asyncio.sleep(int(ms) / 1000)
    return "aslow done"


@app.get("/exit/{code:int}")
def exit_now(code):
    sys.exit(code)


@app.get("/aexit")
async def aexit():
    await asyncio.sleep(0.05)
    sys.exit("fatal: configuration gone")


@app.on_event("shutdown")
def on_shutdown():
    print("shutdown hook ran", flush=True)


@app.get("/stats")
def stats():
    return viperhttp.server_stats()


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), wifi=False, shutdown_timeout_s=10)
