"""The original's low-level transport functions (tests/test_tls.py): `configure_https` /
`configure_http2` / `start(https=None, ...)` and the status calls, with a manual poll loop.

Run: python lowlevel_tls_app.py PORT   (SIGTERM stops it, exit 0)
Env: LOWLEVEL_CERT / LOWLEVEL_KEY  PEM files
     LOWLEVEL_MODE  "configure": configure_https + configure_http2, then start(port) with the flags None
                    "explicit":  start(port, https=True, cert_pem=..., key_pem=..., http2=True, http2_max_streams=16)
`GET /status` answers the status calls and the EBUSY checks made while running, as JSON.
"""
import errno
import json
import os
import signal
import sys

import viperhttp
import viperhttp_bridge

app = viperhttp.ViperHTTP()


@app.get("/status")
def status():  # registers the native route; the loop below answers it
    return None


def ebusy(call):
    try:
        call()
    except OSError as exc:
        return exc.errno == errno.EBUSY
    return False


def main():
    port = int(sys.argv[1])
    cert = open(os.environ["LOWLEVEL_CERT"], "rb").read()
    key = open(os.environ["LOWLEVEL_KEY"], "rb").read()
    before = {"https": viperhttp.https_status(), "http2": viperhttp.http2_status()}
    if os.environ.get("LOWLEVEL_MODE") == "configure":
        viperhttp.configure_https(True, cert.decode(), key)
        viperhttp.configure_http2(True, max_streams=12)
        configured = {"https": viperhttp.https_status(), "http2": viperhttp.http2_status()}
        viperhttp.start(port, host="127.0.0.1")
    else:
        configured = None
        viperhttp.start(port, https=True, cert_pem=cert, key_pem=key, http2=True, http2_max_streams=16,
                        host="127.0.0.1")
    running = {
        "https": viperhttp.https_status(), "http2": viperhttp.http2_status(),
        "busy_https": ebusy(lambda: viperhttp.configure_https(False)),
        "busy_http2": ebusy(lambda: viperhttp.configure_http2(False)),
        "busy_start": ebusy(lambda: viperhttp.start(port, host="127.0.0.1")),
    }
    body = {"before": before, "configured": configured, "running": running}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        item = viperhttp.poll_request()
        if item is None:
            viperhttp._native.wait_request(50)
            continue
        viperhttp.send_response(item["request_id"], viperhttp_bridge.serialize_response(body))
    viperhttp.stop()
    viperhttp._native.close()


if __name__ == "__main__":
    main()
