"""The original's `viperhttp_app.py` style, run unchanged (tests/test_compat.py): device
imports first, a WLAN loop, sessions + auth, templates from `/www`, OTA, a static mount, and
`app.run(...)` at the end with device keywords. (WebSocket and the docs UI join once they
exist.) Served with VIPERHTTP_VFS_ROOT pointing at a directory with www/hello.html."""
import gc
import os
import sys
import time

import machine
import network
import uasyncio as asyncio

import viperhttp
import viperhttp_auth as auth
import viperhttp_session as sessions
from viperhttp import Depends, HTTPException, Request

wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect("ssid", "password")
while not wlan.isconnected():
    time.sleep_ms(100)

if os.environ.get("PATCH_OPEN"):  # absolute device paths in open() too; sessions on the VFS
    import viperhttp.compat

    viperhttp.compat.patch_open()

app = viperhttp.ViperHTTP(title="device app")
app.add_middleware(sessions.SessionMiddleware, secret_key="device-secret",
                   store=sessions.VFSSessionStore() if os.environ.get("PATCH_OPEN")
                   else sessions.MemorySessionStore())
app.add_middleware(auth.AuthMiddleware, backends=[auth.SessionAuth()])
app.mount("/static", "/www")


@app.get("/")
def index():
    return viperhttp.TemplateResponse("/www/hello.html", {"name": "device",
                                                         "id": machine.unique_id().hex()})


@app.get("/login")
def login(request: Request):
    request.session["user"] = {"sub": "admin", "roles": ["admin"]}
    return {"ok": True}


@app.get("/me", deps={"user": Depends(auth.get_current_user)})
def me(user):
    return {"sub": user["sub"], "free": gc.mem_free() > 0}


@app.get("/raw")
def raw():
    with open("/www/hello.html") as f:  # a device path: needs patch_open()
        return f.read()


@app.get("/fail")
def fail():
    raise HTTPException(418, "teapot")


async def blink():
    while True:
        await asyncio.sleep_ms(50)

PORT = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 80
asyncio.get_event_loop().create_task(blink())
app.run(port=PORT, host="127.0.0.1", wifi=True, ota=True, ota_token="ota-secret")
