"""WebSocket through the low-level contract only (tests/test_websocket.py): a manual loop on
`viperhttp.poll_request()` answering with `viperhttp.ws_accept` / `ws_reject` / `ws_send` /
`ws_close`, as the original's bridge does (docs/websocket.md, "Low-level functions").

Run: python ws_manual_bridge.py PORT   (SIGTERM stops it, exit 0)

`/low` is accepted with subprotocol "p1" and answers each message with the dict
`poll_request()` returned for it (data as latin-1 text); `/low-reject` is refused with 418
and body "teapot"; the text `close` makes the server close with 4005 "done".
"""
import json
import signal
import sys

import viperhttp

app = viperhttp.ViperHTTP()


@app.websocket("/low")
async def low(ws):  # registers the native route; the loop below does the work
    pass


@app.websocket("/low-reject")
async def low_reject(ws):
    pass


def describe(item):
    out = {k: v for k, v in item.items() if k not in ("request", "data")}
    if "data" in item:
        out["data"] = item["data"].decode("latin-1")
    if "request" in item:
        req = item["request"]
        out["request"] = {"method": req.method, "path": req.path, "query": req.query}
    return out


def main():
    port = int(sys.argv[1])
    viperhttp.start(host="127.0.0.1", port=port)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    connects = {}
    while not stop:
        item = viperhttp.poll_request()
        if item is None:
            viperhttp._native.wait_request(50)
            continue
        kind = item.get("type")
        if kind == "ws_connect":
            if item["path"].startswith("/low-reject"):
                viperhttp.ws_reject(item["conn_id"], 418, "teapot")
            else:
                viperhttp.ws_accept(item["conn_id"], "p1")
                connects[item["conn_id"]] = describe(item)
        elif kind == "ws_msg":
            viperhttp._native._ws_consumed(item["conn_id"])
            if item["data"] == b"close":
                viperhttp.ws_close(item["conn_id"], 4005, "done")
                continue
            reply = {"msg": describe(item), "connect": connects.get(item["conn_id"])}
            viperhttp.ws_send(item["conn_id"], json.dumps(reply))
        elif kind == "ws_disconnect":
            connects.pop(item["conn_id"], None)
    viperhttp.stop()


if __name__ == "__main__":
    main()
