"""Scale-out test app (tests/test_shared_store.py, tests/test_cli.py).

Run: python scale_app.py PORT, or `viperhttp run scale_app:app`. The native rate limiter is on
when SCALE_RATE / SCALE_BURST are set; the shared store comes from VIPERHTTP_SHARED_STORE
(or --shared-store). GET /pid answers with the worker's pid, GET /stats with server_stats().
"""
import os
import sys

import viperhttp
from viperhttp.middleware import RateLimitMiddleware

app = viperhttp.ViperHTTP(docs=False)
if os.environ.get("SCALE_BURST"):
    app.add_middleware(RateLimitMiddleware, rate=float(os.environ.get("SCALE_RATE", "1")),
                       burst=int(os.environ["SCALE_BURST"]))
if os.environ.get("SCALE_SESSIONS"):
    # No store given: the default store follows VIPERHTTP_SHARED_STORE (Redis when set).
    from viperhttp_session import SessionMiddleware
    app.add_middleware(SessionMiddleware, secret_key="scale-test-secret")

    @app.get("/login/{name}")
    def login(name: str) -> dict:
        request = viperhttp.current_request()
        request.session["user"] = name
        return {"pid": os.getpid()}

    @app.get("/whoami")
    def whoami() -> dict:
        request = viperhttp.current_request()
        return {"user": request.session.get("user"), "pid": os.getpid(),
                "store": type(request.session.store).__name__ if hasattr(request.session, "store") else None}
if os.environ.get("SCALE_FAIL_START_IF") and os.path.exists(os.environ["SCALE_FAIL_START_IF"]):
    sys.exit(3)  # a replacement worker that cannot start (its database is down, say)
if os.environ.get("SCALE_EXIT_AT_IMPORT"):
    sys.exit(int(os.environ["SCALE_EXIT_AT_IMPORT"]))  # a worker that dies while starting


@app.get("/pid")
def pid() -> dict:
    return {"pid": os.getpid()}


@app.get("/stats")
def stats() -> dict:
    return dict(viperhttp.server_stats())


if __name__ == "__main__":
    # SCALE_TRUST_PROXY: believe X-Forwarded-For from the test client (tests of client keys)
    app.run(port=int(sys.argv[1]), host="127.0.0.1",
            **({"forwarded_allow_ips": "127.0.0.1"} if os.environ.get("SCALE_TRUST_PROXY") else {}))
