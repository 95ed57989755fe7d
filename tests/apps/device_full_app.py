"""A device app in the original's `viperhttp_app.py` style, with every extension at once:
MicroPython imports and a WLAN loop, `/www` paths, sessions in the VFS, auth, WebSocket, API
docs, OTA and templates (tests/test_device_full_app.py). Run with VIPERHTTP_VFS_ROOT set.

Run: python device_full_app.py PORT
"""
import sys

import gc
import machine
import network
import utime

import viperhttp
import viperhttp_auth
import viperhttp_session
from viperhttp import TemplateResponse

wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect("SSID", "PASSWORD")
while not wlan.isconnected():
    utime.sleep_ms(10)

app = viperhttp.ViperHTTP(title="device")
app.add_middleware(viperhttp_session.SessionMiddleware, secret_key="device-secret",
                   store=viperhttp_session.VFSSessionStore("/sessions"))
app.add_middleware(viperhttp_auth.AuthMiddleware, backends=[
    viperhttp_auth.SessionAuth(),
    viperhttp_auth.BearerAuth(tokens={"device-token": {"sub": "robot"}}),
])
app.mount("/static", "/www/static")
BOOT = utime.ticks_ms()


@app.get("/hello")
def hello():
    return {"up_ms": utime.ticks_diff(utime.ticks_ms(), BOOT) >= 0, "free": gc.mem_free() > 0,
            "uid": len(machine.unique_id()), "ip": wlan.ifconfig()[0]}


@app.get("/page")
def page():
    return TemplateResponse("/www/templates/page.html", {"name": "device", "items": ["a", "b"]})


@app.post("/login")
def login():
    req = viperhttp.current_request()
    req.session["user"] = {"sub": req.query_params.get("name", "anon")}
    return {"ok": True}


@app.get("/me")
def me():
    return {"user": viperhttp_auth.get_current_user()}


@app.websocket("/ws")
async def echo(ws):
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "close":
            break
        await ws.send_text("echo:" + (msg.get("text") or ""))


app.run(port=int(sys.argv[1]), host="127.0.0.1", wifi=False, ota=True, ota_token="ota-secret")
