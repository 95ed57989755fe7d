"""docs/internals/bridge.md#start-and-stop: a second SIGINT/SIGTERM during the drain skips the grace
period."""
import signal
import threading
import time

import httpx

APP = """
import asyncio, sys, viperhttp
app = viperhttp.ViperHTTP()

@app.get("/slow")
async def slow():
    await asyncio.sleep(30)
    return "done"

@app.get("/ok")
def ok():
    return "ok"

app.run(port=int(sys.argv[1]), wifi=False, shutdown_timeout_s=20)
"""


def _fire_slow_request(url: str) -> None:
    try:
        httpx.get(url, timeout=40)
    except httpx.HTTPError:
        pass  # cut when the drain is skipped: expected


def test_second_sigterm_skips_the_drain(serve, tmp_path):
    script = tmp_path / "slow_app.py"
    script.write_text(APP)
    server = serve(str(script))
    assert server.client.get("/ok").text == "ok"
    t = threading.Thread(target=_fire_slow_request, args=(server.url("/slow"),), daemon=True)
    t.start()
    time.sleep(0.3)  # the slow request is in flight
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None, "one signal: the drain waits for the in-flight request"
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(timeout=10)
    assert code == 0
    assert time.monotonic() - started < 5, "the second signal must not wait for the 20 s grace period"
