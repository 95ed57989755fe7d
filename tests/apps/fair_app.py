"""Fairness between slow sync handlers and the event loop (tests/test_bridge_workers.py):
`/cpu` holds the interpreter thread 50 ms; `/sleep` awaits `asyncio.sleep(1)` and reports how
long that took."""
import asyncio
import sys
import time

import viperhttp

app = viperhttp.ViperHTTP()


@app.get("/cpu")
def cpu():
    t = time.perf_counter()
    while time.perf_counter() - t < 0.05:
        pass
    return "cpu"


@app.get("/sleep")
async def sleep():
    t0 = time.monotonic()
    await asyncio.sleep(1)
    return {"took": time.monotonic() - t0}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1", wifi=False)
