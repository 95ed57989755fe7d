"""Native error classes (tests/test_native_errors.py): each native failure reachable from a
running server raises the class `viperhttp/_native.pyi` declares, and the bridge handles
backpressure as backpressure (docs/internals/bridge.md, "Native errors").

`/errors` runs every reachable error path inside a handler (a server must be running for most)
and returns, per case, the class name and its bases' names. The backpressure paths (a response
ring or queue that stays full for `ipc_ring_wait_ms`) cannot be reached on demand: the runtime
copies frames out of the ring at once. For those, this app wraps the native send functions so
that a marker result raises the real declared class, which exercises the bridge's handling.

Run: python native_errors_app.py PORT
"""
import json
import os
import sys
import threading

import viperhttp
import viperhttp_bridge
from viperhttp import StreamingResponse, _native

RING = 64 * 1024
BOGUS_ID = 999_999  # no such request: every case below fails before anything is pushed

app = viperhttp.ViperHTTP()


def outcome(call):
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the class is the result
        return {"cls": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                "errno": getattr(exc, "errno", None), "msg": str(exc)}
    return {"cls": None}


def off_thread(call):
    box = {}
    t = threading.Thread(target=lambda: box.update(r=outcome(call)))
    t.start()
    t.join()
    return box["r"]


def resp(**kw):
    return {"__vhttp_response__": True, "status_code": 200, "body": "", **kw}


@app.get("/errors")
def errors():
    send = _native.send_response
    return {
        "start_while_running": outcome(lambda: _native.start("127.0.0.1", 0)),
        "mount_while_running": outcome(lambda: _native.static_mount("/s", "/tmp")),
        "worker_limits_while_running": outcome(lambda: _native.set_worker_limits(1, 1)),
        "off_thread": off_thread(lambda: _native._stream_credit(BOGUS_ID)),
        "invalid_status": outcome(lambda: send(BOGUS_ID, resp(status_code=5000))),
        "strict_body_type": outcome(lambda: send(BOGUS_ID, resp(body=5))),
        "invalid_header": outcome(lambda: send(BOGUS_ID, resp(headers={"X-A": "a\r\nb"}))),
        "headers_too_large": outcome(lambda: send(BOGUS_ID, resp(headers={"X-Big": "a" * 70000}))),
        "missing_request_id": outcome(lambda: send({"body": "x"})),
        "stream_data_type": outcome(lambda: _native.stream_send(BOGUS_ID, 5)),
        "frame_too_large": outcome(lambda: _native.stream_send(BOGUS_ID, b"x" * (RING + 1))),
    }


# --- backpressure: fault injection at the native boundary -----------------------------------

_real_send_result = _native._send_result
_real_stream_send = _native.stream_send


def _send_result(rid, result):
    if result == "queue-full-probe":
        raise _native.QueueFullError("response queue full")
    return _real_send_result(rid, result)


def _stream_send(rid, data=None, **kw):
    if data == b"ring-full-probe":
        raise _native.RingFullError("ipc ring full")
    return _real_stream_send(rid, data, **kw)


_native._send_result = _send_result  # the bridge binds it when it starts
_native.stream_send = _stream_send  # the stream producer looks it up per stream


@app.get("/backpressure/plain")
def backpressure_plain():
    return "queue-full-probe"


@app.get("/backpressure/stream")
def backpressure_stream():
    return StreamingResponse([b"first ", b"ring-full-probe", b"never"], content_type="text/plain")


@app.get("/raises")
def raises():
    raise RuntimeError("a real handler error")


@app.get("/stats")
def stats():
    return viperhttp_bridge.bridge_stats()


if __name__ == "__main__":
    port = int(sys.argv[1])
    kw = json.loads(os.environ.get("BRIDGE_KW") or "{}")
    viperhttp_bridge.run(app, port=port, wifi=False, ipc_ring_size=RING, max_body_size=RING // 2,
                         response_timeout_ms=300, **kw)
