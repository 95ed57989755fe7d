"""Bench app: WebSocket echo on ViperHTTP (benches/run_ws.sh). Run: python ws_echo_app.py PORT"""
import sys

import viperhttp
import viperhttp_bridge

app = viperhttp.ViperHTTP()


@app.websocket("/ws")
async def echo(ws):
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "close":
            return
        await ws.send_text(msg["text"])


@app.websocket("/idle")
async def idle(ws):
    await ws.accept()
    await ws.receive()


if __name__ == "__main__":
    viperhttp_bridge.run(app, port=int(sys.argv[1]), host="127.0.0.1", wifi=False,
                         max_connections=20000)
