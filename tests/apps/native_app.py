"""Native-runtime test app (tests/test_static.py, test_cors.py, test_trusted_host.py,
test_rate_limit.py, test_limits.py, test_hostile_http.py).

Run: python native_app.py PORT
Configuration comes from the environment variable NATIVE_APP_CONFIG, a JSON object:
  {"mounts": [[prefix, root, html(, dotfiles)], ...], app.mount(prefix, root, html=html, dotfiles=...)
   "files":  [[path, file], ...],                  app.mount_file(path, file)
   "cors":   {...} | null,                         add_middleware(CORSMiddleware, **cors)
   "trusted": {...} | null,                        add_middleware(TrustedHostMiddleware, **trusted)
   "ratelimit": {...} | null,                      add_middleware(RateLimitMiddleware, **ratelimit)
   "catchall": bool,                               a /{rest:path} route for all seven methods
   "run": {...}}                                   extra app.run() keywords (limits, timeouts, ...)

Every handler records "METHOD raw-path[?query]" of the request it saw; GET /__seen returns the
list as JSON (without recording itself), so tests can check what reached Python — a CORS
preflight, a static file or a smuggled request must never show up there.
No Python HTTP middleware is installed, so unmatched paths and methods are answered natively.
"""
import json
import os
import sys
import time

import viperhttp
from viperhttp import Response
from viperhttp.middleware import CORSMiddleware, RateLimitMiddleware, TrustedHostMiddleware

CONFIG = json.loads(os.environ.get("NATIVE_APP_CONFIG") or "{}")

app = viperhttp.ViperHTTP(docs=False)
SEEN = []
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def record():
    req = viperhttp.current_request()
    target = req.path + ("?" + req.query_string if req.query_string else "")
    SEEN.append(f"{req.method} {target}")
    return req


@app.get("/__seen")
def seen():
    return list(SEEN)


@app.get("/py/hello")
def hello():
    record()
    return "hello from python"


@app.get("/py/client")
def client(request):
    """The client and scheme the app sees (forwarded_allow_ips, tests/test_rate_limit.py)."""
    return {"host": request.client.host, "port": request.client.port, "scheme": request.url.scheme}


@app.get("/py/sleep")
def sleep_route():
    record()
    time.sleep(float(viperhttp.current_request().query_params.get("s", "3")))
    return "slept"


@app.post("/py/echo")
def echo():
    req = record()
    return Response(200, bytes(req.body), {"Content-Type": "application/octet-stream",
                                           "X-Body-Len": str(len(req.body))})


@app.route("/py/any", methods=ALL_METHODS)
def any_method():
    req = record()
    return f"any {req.method}"


@app.get("/py/own-cors")
def own_cors():
    record()
    return Response(200, "own", {"Access-Control-Allow-Origin": "https://own.example",
                                 "Content-Type": "text/plain; charset=utf-8"})


@app.get("/__stats")
def stats():
    return viperhttp.server_stats()


@app.get("/py/bad-header")
def bad_header():
    record()
    value = viperhttp.current_request().query_params.get("v", "x")
    return Response(200, "never sent", {"X-Bad": value, "Content-Type": "text/plain"})


@app.get("/py/big")
def big():
    record()
    return Response(200, b"x" * int(viperhttp.current_request().query_params.get("n", "1000000")),
                    {"Content-Type": "application/octet-stream"})


@app.get("/py/stream")
def stream():
    record()
    n = int(viperhttp.current_request().query_params.get("n", "1000000"))

    def chunks():
        sent = 0
        while sent < n:
            size = min(65536, n - sent)
            sent += size
            yield b"s" * size

    return viperhttp.StreamingResponse(chunks(), media_type="application/octet-stream")


@app.get("/py/cookie")
def cookie():
    record()
    resp = Response(200, "cookie set", {"Content-Type": "text/plain"})
    resp.set_cookie("c", viperhttp.current_request().query_params.get("v", ""))
    return resp


@app.get("/py/headers")
def headers_route():
    req = record()
    return {"host": req.headers.get("host"), "url": str(getattr(req, "url", ""))}


if CONFIG.get("catchall"):
    @app.route("/", methods=ALL_METHODS)
    def root():
        req = record()
        return f"root {req.method}"

    @app.route("/{rest:path}", methods=ALL_METHODS)
    def catchall(rest):
        req = record()
        return f"caught {req.method} {req.path} len={len(req.body)}"


for prefix, root_dir, html, *dotfiles in CONFIG.get("mounts", []):
    app.mount(prefix, root_dir, html=html, dotfiles=bool(dotfiles and dotfiles[0]))
for path, file in CONFIG.get("files", []):
    app.mount_file(path, file)
if CONFIG.get("cors") is not None:
    app.add_middleware(CORSMiddleware, **CONFIG["cors"])
if CONFIG.get("trusted") is not None:
    app.add_middleware(TrustedHostMiddleware, **CONFIG["trusted"])
if CONFIG.get("ratelimit") is not None:
    app.add_middleware(RateLimitMiddleware, **CONFIG["ratelimit"])


if __name__ == "__main__":
    port = int(sys.argv[1])
    kwargs = {"port": port, "host": "127.0.0.1", "wifi": False}
    kwargs.update(CONFIG.get("run", {}))
    app.run(**kwargs)
