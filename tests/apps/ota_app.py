"""OTA test app (tests/test_ota.py): `app.run(ota=True, ...)` over file-backed slots.

Run: python ota_app.py PORT
Env:
  OTA_DIR        slot directory (required)
  OTA_TOKEN      token for the endpoints (unset: open)
  OTA_SLOT_SIZE  slot size in bytes (default 1 MiB here)
  OTA_APPLY_LOG  file the apply hook appends "<path> <size>" lines to
  OTA_BOOT_LOG   file that gets one line per process start: "<pid> <running label>"
  OTA_ARGV_LOG   file that gets one JSON line per process start (how it was started:
                 `-m` or a script path, `-X utf8`) and "atexit <pid>" from an atexit handler
                 registered before anything else
"""
import os
import sys

import viperhttp
import viperhttp_ota

app = viperhttp.ViperHTTP()


@app.post("/tools/abort")
def tools_abort_taken():
    return {"mine": True}


INSTALL = viperhttp_ota.install_ota_routes(app, prefix="tools/", token="t2", token_header="X-T2",
                                           token_query="k")


@app.get("/install-result")
def install_result():
    return INSTALL


@app.get("/route-docs")
def route_docs():
    return [{"method": r["method"], "path": r["path"], "docs": r["docs"]} for r in app.routes()
            if r["path"].startswith("/ota/")]


@app.get("/device-api")
def device_api():
    """Code written against the device's partition API, unchanged."""
    import esp32
    from esp32 import Partition

    running = Partition(Partition.RUNNING)
    nxt = running.get_next_update()
    buf = bytearray(8)
    nxt.writeblocks(0, b"ABCDEFGH")
    nxt.readblocks(0, buf)
    erased = bytearray(4)
    nxt.ioctl(6, 0)
    nxt.readblocks(0, erased)
    return {
        "same": sys.modules["esp32"] is sys.modules["viperhttp.compat.esp32"],
        "shim": esp32.Partition.__module__,
        "running": running.info(), "next": nxt.info(), "boot": Partition(Partition.BOOT).info()[4],
        "blocks": nxt.ioctl(4, None), "block_size": nxt.ioctl(5, None), "read": buf.decode(),
        "erased": erased.hex(), "found": [p.info()[4] for p in Partition.find(Partition.TYPE_APP)],
        "found_label": [p.info()[4] for p in Partition.find(Partition.TYPE_APP, label="ota_1")],
    }


@app.post("/apply-direct")
def apply_direct(request):
    try:
        return viperhttp_ota.ota_apply(request.body, set_boot=False)
    except viperhttp_ota.OTAError as exc:
        return {"error": exc.detail, "status": exc.status_code}


def _apply_hook(path, size):
    with open(os.environ["OTA_APPLY_LOG"], "a") as fh:
        fh.write(f"{path} {size}\n")


if __name__ == "__main__":
    if os.environ.get("OTA_ARGV_LOG"):
        import atexit
        import json

        with open(os.environ["OTA_ARGV_LOG"], "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "module": __spec__ is not None,
                                 "utf8": sys.flags.utf8_mode}) + "\n")
        atexit.register(lambda: open(os.environ["OTA_ARGV_LOG"], "a").write(f"atexit {os.getpid()}\n"))
    if os.environ.get("OTA_APPLY_LOG"):
        viperhttp_ota.set_apply_hook(_apply_hook)
    if os.environ.get("OTA_BOOT_LOG"):
        from viperhttp.compat.esp32 import configure_slots, Partition
        configure_slots(os.environ["OTA_DIR"], int(os.environ.get("OTA_SLOT_SIZE", 1 << 20)))
        with open(os.environ["OTA_BOOT_LOG"], "a") as fh:
            fh.write(f"{os.getpid()} {Partition(Partition.RUNNING).info()[4]}\n")
    app.run(port=int(sys.argv[1]), host=os.environ.get("OTA_HOST", "127.0.0.1"), ota=True, ota_token=os.environ.get("OTA_TOKEN"),
            ota_dir=os.environ["OTA_DIR"], ota_slot_size=int(os.environ.get("OTA_SLOT_SIZE", 1 << 20)))
