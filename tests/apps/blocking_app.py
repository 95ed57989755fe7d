"""A sync-only app that never imports asyncio, so it is served without an event loop
(docs/internals/bridge.md#serving-without-an-event-loop): tests/test_shutdown.py checks the
grace period and client departures in that mode. Env as bridge_app.py: BRIDGE_KW (run()
keywords as JSON), BRIDGE_EVENTS (a file the handler's start and end are appended to)."""
import json
import os
import sys
import time

import viperhttp

app = viperhttp.ViperHTTP()
EVENTS = os.environ.get("BRIDGE_EVENTS")


def event(line):
    if EVENTS:
        with open(EVENTS, "a") as f:
            f.write(line + "\n")


@app.get("/sync/event")
def sync_event(ms="0", tag=""):
    event(f"begin:{tag}")
    time.sleep(int(ms) / 1000)
    event(f"end:{tag}")
    return {"tag": tag}


@app.get("/stats")
def stats():
    import viperhttp_bridge

    return {"bridge": viperhttp_bridge.bridge_stats(), "asyncio": "asyncio" in sys.modules}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1", wifi=False, **json.loads(os.environ.get("BRIDGE_KW", "{}")))
