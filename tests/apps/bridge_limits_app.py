"""Start-time validation app (tests/test_bridge_workers.py): `app.run(**BRIDGE_KW)` must raise
before anything binds. On an exception it prints what is bound, then re-raises (exit 1).

Run: python bridge_limits_app.py PORT     Env: BRIDGE_KW — JSON object of run() keywords.
"""
import json
import os
import socket
import sys

import viperhttp
from viperhttp import _native

app = viperhttp.ViperHTTP()


@app.get("/")
def index():
    return "ok"


print("STARTUP-RAN", flush=True)

if __name__ == "__main__":
    port = int(sys.argv[1])
    kw = json.loads(os.environ.get("BRIDGE_KW") or "{}")
    try:
        app.run(port=port, wifi=False, **kw)
    except BaseException:
        print("BOUND", _native.bound_port(), flush=True)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
                free = True
            except OSError:
                free = False
        print("PORT-FREE", free, flush=True)
        raise
    print("RUN-RETURNED", flush=True)
