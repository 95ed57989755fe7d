"""A device-style app (MicroPython idioms), run unchanged on the host (tests/test_compat.py).

Device imports come first, before viperhttp (the interpreter-start hook supplies them); the
paths are device paths, mapped by VIPERHTTP_VFS_ROOT. DEVICE_MODE=start uses the
`start()` + `run_forever()` pattern instead of a blocking `app.run()`.
"""
import gc
import os
import sys
import time

import machine
import network
import ujson
import uos
import uasyncio as asyncio

from viperhttp import FileResponse, ViperHTTP

wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect("my-ssid", "secret")
while not wlan.isconnected():  # finishes at once on a computer
    time.sleep_ms(100)

app = ViperHTTP()
app.mount("/static", "/www")
BEATS = []


async def heartbeat():
    while True:
        BEATS.append(time.ticks_ms())
        await asyncio.sleep_ms(20)


@app.get("/health")
def health():
    started = time.ticks_ms()
    gc.collect()
    return {"free": gc.mem_free(), "alloc": gc.mem_alloc(), "id": machine.unique_id().hex(),
            "freq": machine.freq(), "ip": wlan.ifconfig()[0],
            "took": time.ticks_diff(time.ticks_ms(), started)}


@app.get("/files")
def files():
    st = uos.stat("/www/index.html")
    return {"listing": uos.listdir("/www"), "size": st[6], "www_is_dir": bool(uos.stat("/www")[0] & 0x4000),
            "entries": [list(e) for e in uos.ilistdir("/www")]}


@app.get("/page")
def page():
    return FileResponse("/www/index.html")


@app.get("/save")
def save():
    # Relative paths are relative to vfs_root (the launcher's working directory there).
    with open("data/settings.json", "w") as f:
        f.write(ujson.dumps({"saved": True}))
    return {"cwd": uos.getcwd(), "data": uos.listdir("/data")}


BOOT = time.time()


@app.get("/boot")
def boot():
    return {"boot": BOOT, "pid": os.getpid(), "cause": machine.reset_cause()}


AFTER_RESET = []


@app.get("/reset")
def reset():
    machine.reset()  # never returns, as on the device: stop, then the same command line again
    AFTER_RESET.append(1)  # not reached
    return {"resetting": True}


@app.get("/beats")
def beats():
    return {"beats": len(BEATS)}


# `python device_app.py PORT`; under `viperhttp run` the CLI's --port wins anyway.
PORT = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 8080
loop = asyncio.get_event_loop()
loop.create_task(heartbeat())
if os.environ.get("DEVICE_MODE") == "start":
    import viperhttp_bridge
    # The non-blocking form returns the loop; serving happens in run_forever().
    viperhttp_bridge.run(app, port=PORT, host="127.0.0.1", block=False)
    loop.run_forever()
else:
    app.run(port=PORT, host="127.0.0.1")
    loop.run_forever()  # the device idiom after run(): returns at once here
print("device app ended cleanly", flush=True)
