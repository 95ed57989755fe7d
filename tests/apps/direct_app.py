"""Test app for tests/test_direct_serving.py: a sync app that imports no asyncio, so the bridge
serves it without an event loop until a request needs one
(docs/internals/bridge.md#serving-without-an-event-loop).

`direct_app.py PORT asyncio` imports asyncio first: such an app gets its loop from the start.
"""
import sys
import threading
import time

if "asyncio" in sys.argv[2:]:
    import asyncio  # noqa: F401

import viperhttp
import viperhttp_bridge
from viperhttp import StreamingResponse

app = viperhttp.ViperHTTP()
events = []


@app.get("/state")
def state() -> dict:
    bridge = viperhttp_bridge.Bridge.current
    return {"loop": bridge.loop is not None, "asyncio": "asyncio" in sys.modules,
            "ssl": "ssl" in sys.modules, "events": events}


@app.get("/hello")
def hello() -> dict:
    return {"msg": "ok"}


@app.get("/slow")
def slow(s: str = "0.5") -> dict:
    time.sleep(float(s))
    return {"slept": float(s)}


@app.get("/async")
async def async_hello() -> dict:
    return {"async": True}


@app.get("/sleep")
async def async_sleep(n: str = "0") -> dict:
    import asyncio

    await asyncio.sleep(0.05)
    return {"slept": n}


@app.get("/bg")
def with_background(background_tasks) -> dict:
    background_tasks.add_task(events.append, "bg")
    return {"bg": True}


@app.get("/stream")
def stream():
    return StreamingResponse(iter([b"a", b"b", b"c"]), media_type="text/plain")


@app.get("/import-asyncio")
def import_asyncio() -> dict:
    import asyncio

    loop = asyncio.new_event_loop()  # what a library reaching for a loop might do
    asyncio.set_event_loop(loop)
    loop.call_soon(events.append, "scheduled-on-the-set-loop")
    return {"imported": True}


@app.get("/schedule")
def schedule() -> dict:
    import micropython

    main = threading.get_ident()

    def record(tag: str) -> None:
        events.append(f"{tag}:{'interpreter' if threading.get_ident() == main else 'other'}")

    thread = threading.Thread(target=micropython.schedule, args=(record, "scheduled"))
    thread.start()
    thread.join()
    return {"scheduled": True}


@app.get("/stop")
def stop() -> dict:
    threading.Thread(target=app.stop).start()
    return {"stopping": True}


@app.get("/exit")
def exit_now() -> dict:
    sys.exit(3)


@app.websocket("/ws")
async def echo(ws):
    await ws.accept()
    text = await ws.receive_text()
    await ws.send_text("echo:" + text)
    await ws.close()


@app.on_event("shutdown")
def on_shutdown() -> None:
    print("shutdown_hook_ran", flush=True)


if __name__ == "__main__":
    viperhttp_bridge.run(app, port=int(sys.argv[1]), wifi=False)
