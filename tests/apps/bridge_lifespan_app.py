"""Lifespan test app (tests/test_lifespan.py): startup/shutdown handlers, sync and async, in
registration order; each appends a line to the file named by LIFESPAN_LOG.

Run: python bridge_lifespan_app.py PORT
Env:
  LIFESPAN_LOG   file that receives one event per line (required)
  LIFESPAN_MODE  "ok" (default) | "fail_sync" (the 3rd, sync, startup handler raises)
                 | "fail_async" (the 2nd, async, raises after an await)
                 | "slow" (the 2nd startup handler outlives startup_timeout_s)
  BRIDGE_KW      JSON object of run() keywords (e.g. startup_timeout_s, shutdown_timeout_s)
"""
import asyncio
import json
import os
import sys

import viperhttp

app = viperhttp.ViperHTTP()
LOG = os.environ["LIFESPAN_LOG"]
MODE = os.environ.get("LIFESPAN_MODE", "ok")


def event(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


@app.on_event("startup")
def s1():
    event("startup:s1-sync")
    app.state["startup"] = ["s1"]


@app.on_event("startup")
async def s2():
    event("startup:s2-async-begin")
    await asyncio.sleep(1.5 if MODE == "slow" else 0.5)
    if MODE == "fail_async":
        raise RuntimeError("db down (async)")
    app.state["startup"].append("s2")
    event("startup:s2-async-end")


def s3():
    event("startup:s3-sync")
    if MODE == "fail_sync":
        raise RuntimeError("db down (sync)")
    app.state["startup"].append("s3")


def s4():
    event("startup:s4-sync")
    app.state["startup"].append("s4")


app.add_event_handler("startup", s3)
app.add_event_handler("STARTUP", s4)  # event names are case-insensitive


@app.on_event("shutdown")
async def d1():
    event("shutdown:d1-async-begin")
    await asyncio.sleep(0.1)
    event("shutdown:d1-async-end")


@app.on_event("shutdown")
def d2():
    event("shutdown:d2-sync")


@app.get("/")
def index():
    event("request:index")
    return {"startup": app.state.get("startup")}


@app.get("/slow")
async def slow(ms="500"):
    event("request:slow-begin")
    await asyncio.sleep(int(ms) / 1000)
    event("request:slow-end")
    return "slow done"


if __name__ == "__main__":
    port = int(sys.argv[1])
    kw = json.loads(os.environ.get("BRIDGE_KW") or "{}")
    event("main:run")
    result = app.run(port=port, wifi=False, **kw)
    event(f"main:run-returned:{result!r}")
