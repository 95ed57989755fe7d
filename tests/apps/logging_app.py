"""Runtime log records in Python logging (docs/internals/logging.md; tests/test_logging.py).

Run: python logging_app.py PORT
Env: APP_LOGGING  "basic": logging.basicConfig(INFO) before run() (an app that configured logging);
                  unset: no logging set-up (the bridge's stderr fallback only)
     APP_LOG_LEVEL  passed to viperhttp.set_log_level() when set
     STATIC_DIR     mounted at /static; a second mount /gone points at a missing directory
     RATE           "1": RateLimitMiddleware(rate=1, burst=2)
     APP_RUN        JSON object of extra app.run() keywords (limits)
"""
import json
import logging
import os
import sys

import viperhttp
from viperhttp.middleware import CORSMiddleware, RateLimitMiddleware, TrustedHostMiddleware

if os.environ.get("APP_LOGGING") == "basic":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="LOG %(name)s %(levelname)s %(message)s")
if os.environ.get("APP_LOG_LEVEL"):
    viperhttp.set_log_level(os.environ["APP_LOG_LEVEL"])

app = viperhttp.ViperHTTP()
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "good.test"])
app.add_middleware(CORSMiddleware, allow_origins=["https://app.example"])
if os.environ.get("RATE"):
    app.add_middleware(RateLimitMiddleware, rate=1, burst=2)
if os.environ.get("STATIC_DIR"):
    app.mount("/static", os.environ["STATIC_DIR"])
app.mount("/gone", "/nonexistent/viperhttp-test-root")


@app.get("/hello")
def hello():
    return {"msg": "ok"}


@app.post("/upload")
async def upload(request: viperhttp.Request):
    return {"size": len(await request.body())}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), wifi=False, **json.loads(os.environ.get("APP_RUN", "{}")))
