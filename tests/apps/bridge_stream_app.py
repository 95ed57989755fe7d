"""Streaming test app (tests/test_streaming.py): StreamingResponse over every source kind,
framing (Content-Length / chunked), errors mid-stream, client disconnects and a large body.

Run: python bridge_stream_app.py PORT
Env: BRIDGE_KW — JSON object of run() keywords (e.g. ipc_ring_size, max_body_size).
"""
import asyncio
import json
import os
import sys

import viperhttp
import viperhttp_bridge
from viperhttp import StreamingResponse

app = viperhttp.ViperHTTP()

PARTS = [b"alpha-", "beta-", bytearray(b"gamma-"), memoryview(b"delta")]
EXPECT = b"alpha-beta-gamma-delta"


def record(key, value):
    app.state.setdefault(key, []).append(value)


@app.get("/state/{key}")
def get_state_key(key):
    return {"value": app.state.get(key)}


@app.get("/stats")
def stats():
    return {"bridge": viperhttp_bridge.bridge_stats(), "server": viperhttp.server_stats(),
            "ipc": viperhttp.ipc_stats(), "pid": os.getpid()}


@app.get("/loop")
def loop_kind():  # sync: an async probe would go through the worker queue and skew its stats
    """Which event loop the bridge runs on (uvloop when installed, unless VIPERHTTP_NO_UVLOOP)."""
    return {"loop": type(asyncio.get_running_loop()).__module__}


# --- source kinds --------------------------------------------------------------------------------


@app.get("/s/list")
def s_list():
    return StreamingResponse(list(PARTS), content_type="text/plain")


@app.get("/s/gen")
def s_gen():
    def gen():
        for p in PARTS:
            yield p
    return StreamingResponse(gen(), content_type="text/plain")


@app.get("/s/agen")
async def s_agen():
    async def agen():
        for p in PARTS:
            await asyncio.sleep(0.001)
            yield p
    return StreamingResponse(agen(), content_type="text/plain")


class AIter:
    """An async iterator class (no generator): __aiter__ returns self, __anext__ per item."""

    def __init__(self, items):
        self.items = list(items)

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.items:
            raise StopAsyncIteration
        await asyncio.sleep(0)
        return self.items.pop(0)


@app.get("/s/aiter")
def s_aiter():
    return StreamingResponse(AIter(PARTS), content_type="text/plain")


@app.get("/s/str")
def s_str(chunk="7"):
    return StreamingResponse("héllo wörld " * 50, chunk_size=int(chunk), content_type="text/plain; charset=utf-8")


@app.get("/s/bytes")
def s_bytes(chunk="1000"):
    return StreamingResponse(bytes(range(256)) * 40, chunk_size=int(chunk))


@app.get("/s/memoryview")
def s_memoryview():
    data = bytes(range(256)) * 64
    view = memoryview(data)

    def gen():
        for i in range(0, len(data), 1000):
            yield view[i:i + 1000]
    return StreamingResponse(gen())


@app.get("/s/skips")
def s_skips():
    return StreamingResponse([b"a", None, b"", "b", None, b"c"], content_type="text/plain")


# --- framing ---------------------------------------------------------------------------------------


@app.get("/s/total")
def s_total():
    return StreamingResponse(list(PARTS), total_len=len(EXPECT), content_type="text/plain")


@app.get("/s/total_chunked")
def s_total_chunked():
    return StreamingResponse(list(PARTS), total_len=len(EXPECT), chunked=True, content_type="text/plain")


@app.get("/s/chunked")
def s_chunked():
    return StreamingResponse(list(PARTS), chunked=True, content_type="text/plain")


@app.get("/s/default_type")
def s_default_type():
    return StreamingResponse([b"x"])


# --- errors ------------------------------------------------------------------------------------------


@app.get("/s/bad_item")
def s_bad_item():
    def gen():
        yield b"first-"
        yield b"second-"
        yield 12345  # not bytes/str: ends the stream cut short
        yield b"never"
    return StreamingResponse(gen(), content_type="text/plain")


@app.get("/s/bad_item_async")
async def s_bad_item_async():
    async def agen():
        yield "first-"
        await asyncio.sleep(0.001)
        yield {"not": "bytes"}
        yield "never"
    return StreamingResponse(agen(), content_type="text/plain")


@app.get("/s/raise")
def s_raise():
    def gen():
        yield b"part-1-"
        yield b"part-2-"
        raise RuntimeError("stream-boom")
    return StreamingResponse(gen(), content_type="text/plain")


@app.get("/s/raise_async")
def s_raise_async():
    async def agen():
        yield b"part-1-"
        await asyncio.sleep(0.01)
        raise RuntimeError("astream-boom")
    return StreamingResponse(agen(), content_type="text/plain")


@app.get("/s/raise_fixed")
def s_raise_fixed():
    def gen():
        yield b"0123456789"
        raise RuntimeError("fixed-boom")
    return StreamingResponse(gen(), total_len=100, content_type="text/plain")


# --- client disconnect ------------------------------------------------------------------------------


@app.get("/s/endless_agen")
def s_endless_agen(key="agen", every_ms="200"):
    async def agen():
        try:
            i = 0
            while True:
                yield f"tick {i}\n"
                i += 1
                await asyncio.sleep(int(every_ms) / 1000)
        except asyncio.CancelledError:
            record(key, "CancelledError")
            raise
        except GeneratorExit:
            record(key, "GeneratorExit")
            raise
        finally:
            record(key, "finally")
    return StreamingResponse(agen(), content_type="text/plain")


@app.get("/s/endless_gen")
def s_endless_gen(key="gen"):
    def gen():
        try:
            block = b"z" * 16384
            while True:
                yield block
        except GeneratorExit:
            record(key, "GeneratorExit")
            raise
        finally:
            record(key, "finally")
    return StreamingResponse(gen(), content_type="application/octet-stream")


@app.get("/s/blocking_gen", blocking=True)
def s_blocking_gen(key="bg", every_ms="1500"):
    # A blocking route's sync generator: its items are produced in the thread pool.
    import threading
    import time

    def gen():
        try:
            while True:
                record(key, threading.current_thread().name)
                yield b"tick\n"
                time.sleep(int(every_ms) / 1000)
        except GeneratorExit:
            record(key, "GeneratorExit")
            raise
        finally:
            record(key, "finally")
    return StreamingResponse(gen(), content_type="text/plain")


@app.get("/s/blocking_gen_async", blocking=True)
async def s_blocking_gen_async(key="bga"):
    # `blocking=True` on an `async def` route: its sync source is produced in the pool too.
    import threading

    def gen():
        record(key, threading.current_thread().name)
        yield b"tick\n"
    return StreamingResponse(gen(), content_type="text/plain")


@app.get("/s/slow_inline_gen")
def s_slow_inline_gen():
    import time

    def gen():
        for part in (b"a", b"b"):
            time.sleep(0.15)
            yield part
    return StreamingResponse(gen(), content_type="text/plain")


# --- background tasks after a stream ------------------------------------------------------------------


@app.get("/s/with_bg")
def s_with_bg(background_tasks, key="sbg"):
    def gen():
        yield b"one-"
        record(key, "last-chunk-produced")
        yield b"two"
    background_tasks.add_task(record, key, "bg-ran")
    return StreamingResponse(gen(), content_type="text/plain")


# --- large body -----------------------------------------------------------------------------------------


BLOCK = 65536


def big_block(i):
    """Deterministic 64 KiB block i (the test computes the same bytes)."""
    return (i.to_bytes(4, "big") * (BLOCK // 4))


@app.get("/s/big")
def s_big(mb="64", total="0"):
    n = int(mb) * 1024 * 1024 // BLOCK

    def gen():
        for i in range(n):
            yield big_block(i)
    return StreamingResponse(gen(), total_len=(n * BLOCK if total == "1" else None),
                             chunk_size=BLOCK)


@app.get("/s/big_async")
async def s_big_async(mb="64"):
    n = int(mb) * 1024 * 1024 // BLOCK

    async def agen():
        for i in range(n):
            yield big_block(i)
    return StreamingResponse(agen(), chunk_size=BLOCK)


if __name__ == "__main__":
    port = int(sys.argv[1])
    kw = json.loads(os.environ.get("BRIDGE_KW") or "{}")
    viperhttp_bridge.run(app, port=port, wifi=False, **kw)
