"""Entry-point variants and per-request context (tests/test_app.py, tests/test_spine.py).

Run: python context_app.py PORT [MODE]
  MODE "app-run-nowifi" (default): app.run(port=PORT, wifi=False)
  MODE "bridge-wifi":              viperhttp_bridge.run(app, port=PORT, wifi=True)
"""
import asyncio
import sys

import viperhttp
import viperhttp_bridge

app = viperhttp.ViperHTTP()


@app.get("/ok")
def ok():
    return "ok"


@app.get("/ctx/{marker}")
async def ctx(marker, request):
    """current_request() stays this request's own across awaits while others interleave."""
    seen = []
    for i in range(5):
        await asyncio.sleep(0.002 * ((len(marker) + i) % 3))
        cur = viperhttp.current_request()
        seen.append(cur is request and cur.headers.get("x-marker") == marker)
    return {"marker": marker, "path": viperhttp.current_request().path, "all_own": all(seen)}


@app.get("/slow/{marker}")
async def slow(marker):
    await asyncio.sleep(0.2)
    return "slow=" + marker


@app.get("/fast/{marker}")
def fast(marker):
    return "fast=" + marker


@app.post("/echo-body")
def echo_body(request):
    return request.body


@app.get("/outside")
def outside():
    """What the module-level API reports inside a handler (docs/internals/framework.md)."""
    return {"active_is_app": viperhttp.active_app() is app,
            "current_path": viperhttp.current_request().path}


@app.get("/reset-while-running")
def reset_while_running():
    try:
        viperhttp.reset()
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None}


if __name__ == "__main__":
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "app-run-nowifi"
    if mode == "app-run-nowifi":
        app.run(port=port, wifi=False)
    elif mode == "bridge-wifi":
        viperhttp_bridge.run(app, port=port, wifi=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
