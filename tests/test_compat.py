"""Device apps run unchanged (docs/guide/device-apps.md): a MicroPython-style app served with
VIPERHTTP_VFS_ROOT, each shim's behaviour, the fallback finder's precedence and the device-only
modules' error."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from conftest import TESTS, free_port

import viperhttp  # noqa: F401  (installs the finder and the time/gc/sys additions)


def _device_fs(tmp_path: Path) -> Path:
    root = tmp_path / "device_fs"
    (root / "www").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "www" / "index.html").write_text("<h1>device page</h1>")
    (root / "www" / "app.js").write_text("console.log(1)")
    return root


@pytest.mark.parametrize("mode", ["run", "start"])
def test_device_app_runs_unchanged(serve, tmp_path, mode):
    root = _device_fs(tmp_path)
    server = serve("apps/device_app.py", cwd=root,
                   env={"VIPERHTTP_VFS_ROOT": str(root), "DEVICE_MODE": mode})
    health = server.client.get("/health").json()
    assert health["free"] > 0 and health["alloc"] > 0
    assert len(bytes.fromhex(health["id"])) == 6
    assert health["freq"] == 240_000_000
    assert health["ip"].count(".") == 3
    assert 0 <= health["took"] < 1000
    files = server.client.get("/files").json()
    assert files["listing"] == ["app.js", "index.html"]
    assert files["size"] == len("<h1>device page</h1>")
    assert files["www_is_dir"] is True
    assert ["index.html", 0x8000] == files["entries"][1][:2]
    page = server.client.get("/page")
    assert page.status_code == 200 and page.text == "<h1>device page</h1>"
    static = server.client.get("/static/app.js")  # native static mount of /www
    assert static.status_code == 200 and static.text == "console.log(1)"
    saved = server.client.get("/save").json()
    assert saved["data"] == ["settings.json"]
    assert (root / "data" / "settings.json").read_text() == '{"saved": true}'
    time.sleep(0.1)
    assert server.client.get("/beats").json()["beats"] >= 2  # the task made before run() runs
    assert server.stop() == 0
    assert "device app ended cleanly" in server.logs()
    assert "Traceback" not in server.logs()


def test_device_app_through_cli_vfs_root(tmp_path):
    root = _device_fs(tmp_path)
    port = free_port()
    env = dict(os.environ, VIPERHTTP_NO_UVLOOP="1", PYTHONUNBUFFERED="1")
    env.pop("VIPERHTTP_VFS_ROOT", None)
    # The module serves at import with its own port; the CLI's --port and --vfs-root win, and
    # the CLI changes the working directory to the VFS root (relative paths as on the device).
    proc = subprocess.Popen(
        [sys.executable, "-m", "viperhttp", "run", "device_app", "--host", "127.0.0.1",
         "--port", str(port), "--vfs-root", str(root), "--app-dir", str(TESTS / "apps")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/page", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        assert r.text == "<h1>device page</h1>"
        httpx.get(f"http://127.0.0.1:{port}/save")
        assert (root / "data" / "settings.json").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out


def test_vfs_path_cannot_escape(tmp_path, monkeypatch):
    import uos
    from viperhttp import files
    monkeypatch.setattr(files, "VFS_ROOT", str(tmp_path))
    (tmp_path / "a").mkdir()
    assert uos.listdir("/") == ["a"]
    with pytest.raises(ValueError, match="leaves vfs_root"):
        uos.listdir("/../..")
    with pytest.raises(ValueError, match="leaves vfs_root"):
        uos.stat("../outside")


def test_uos_shapes_and_no_ops(tmp_path, monkeypatch):
    import uos
    from viperhttp import files
    monkeypatch.setattr(files, "VFS_ROOT", str(tmp_path))
    uos.mkdir("/d")
    (tmp_path / "d" / "f.bin").write_bytes(b"12345")
    st = uos.stat("/d/f.bin")
    assert len(st) == 10 and st[6] == 5 and st[0] & 0x8000 and not st[0] & 0x4000
    assert abs(st[8] - time.time()) < 60
    assert uos.stat("/d")[0] & 0x4000
    (entry,) = list(uos.ilistdir("/d"))
    assert entry[0] == "f.bin" and entry[1] == 0x8000 and entry[3] == 5 and len(entry) == 4
    uos.rename("/d/f.bin", "/d/g.bin")
    assert uos.listdir("/d") == ["g.bin"]
    uos.remove("/d/g.bin")
    uos.rmdir("/d")
    assert uos.listdir("/") == []
    assert len(uos.urandom(8)) == 8
    assert uos.uname().sysname
    assert len(uos.statvfs("/")) == 10
    assert uos.mount(object(), "/sd") is None and uos.umount("/sd") is None
    assert uos.dupterm(None) is None
    assert uos.sep == "/"


def test_utime_tuples_and_seconds_are_the_devices():
    import time as t

    import utime
    now = utime.time()
    assert type(now) is int and abs(now - t.time()) < 2
    y, mo, d, h, mi, sec, wd, yd = utime.localtime()  # the device's 8 fields
    assert utime.mktime(utime.localtime(now)) == now  # round trip through the 8-tuple
    assert utime.gmtime(0) == (1970, 1, 1, 0, 0, 0, 3, 1)
    assert utime.mktime((2024, 1, 1, 0, 0, 0, 0, 1)) == int(t.mktime((2024, 1, 1, 0, 0, 0, 0, 0, -1)))
    assert type(t.localtime()) is t.struct_time  # the standard module's own stay CPython's
    with pytest.raises(TypeError):
        utime.mktime((2024, 1, 1))


def test_ticks_wrap_like_the_device():
    import time as t

    import utime
    assert t.ticks_ms is utime.ticks_ms  # added onto the standard module
    period = 1 << 30
    assert utime.ticks_diff(5, period - 5) == 10  # across the wrap
    assert utime.ticks_diff(period - 5, 5) == -10
    assert utime.ticks_add(period - 1, 2) == 1
    assert utime.ticks_add(0, -1) == period - 1
    assert utime.ticks_diff(utime.ticks_add(100, 1000), 100) == 1000
    a = utime.ticks_ms()
    utime.sleep_ms(30)
    assert 25 <= utime.ticks_diff(utime.ticks_ms(), a) < 1000
    b = utime.ticks_us()
    utime.sleep_us(2000)
    assert utime.ticks_diff(utime.ticks_us(), b) >= 1500
    assert 0 <= utime.ticks_ms() < period


def test_gc_sys_micropython_additions():
    import gc

    import micropython
    assert gc.mem_free() > 0 and gc.mem_alloc() > 0
    big = bytearray(64 * 1024 * 1024)
    big[::4096] = b"x" * len(big[::4096])  # touch the pages so they are resident
    assert gc.mem_alloc() > 32 * 1024 * 1024
    del big
    assert micropython.const(7) == 7
    f = lambda: 1  # noqa: E731
    assert micropython.native(f) is f and micropython.viper(f) is f
    assert micropython.alloc_emergency_exception_buf(100) is None
    out = []
    micropython.schedule(out.append, 3)  # no loop serving: runs at once
    assert out == [3]
    buf = io.StringIO()
    try:
        raise ValueError("shown")
    except ValueError as exc:
        sys.print_exception(exc, buf)  # type: ignore[attr-defined]
    assert "ValueError: shown" in buf.getvalue() and "Traceback" in buf.getvalue()


def test_ujson_urandom_and_renames():
    import binascii
    import re

    import ubinascii
    import ujson
    import ure
    import urandom
    assert ujson.dumps({"a": [1, 2]}) == '{"a": [1, 2]}'  # device separators
    assert ujson.loads('{"a": 1}') == {"a": 1}
    assert ure is re and ubinascii is binascii
    for _ in range(50):
        assert 0 <= urandom.getrandbits(8) < 256
        assert 3 <= urandom.randint(3, 5) <= 5
    assert urandom.getrandbits(1) in (0, 1)
    assert 0 <= urandom.getrandbits(32) < 2 ** 32
    with pytest.raises(ValueError):
        urandom.getrandbits(33)
    with pytest.raises(ValueError):
        urandom.getrandbits(0)


def test_machine_and_network():
    import machine
    import network
    assert machine.unique_id() == machine.unique_id() and len(machine.unique_id()) == 6
    assert machine.freq() == 240_000_000
    pin = machine.Pin(4, machine.Pin.OUT)
    assert pin.value() == 0
    pin.value(1)
    assert machine.Pin(4).value() == 1  # settable from tests, shared per pin id
    pin.off()
    assert pin() == 0
    button = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP)
    assert button.value() == 1  # an idle pulled-up input reads high
    button.value(0)  # a test "presses" it
    assert machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    adc = machine.ADC(machine.Pin(34))
    assert adc.read() == 0
    adc.set(2048)
    assert machine.ADC(34).read() == 2048 and adc.read_u16() == 32768
    rtc = machine.RTC().datetime()
    assert len(rtc) == 8 and rtc[0] == time.localtime().tm_year
    machine.WDT(timeout=5000).feed()
    assert machine.reset_cause() == machine.PWRON_RESET
    assert machine.I2C(0).scan() == [] and machine.UART(1).any() == 0
    wlan = network.WLAN(network.STA_IF)
    assert not wlan.isconnected()
    wlan.active(True)
    assert wlan.isconnected() and wlan.status() == network.STAT_GOT_IP
    ip, mask, gw, dns = wlan.ifconfig()
    assert ip.count(".") == 3 and mask == "255.255.255.0"
    assert wlan.scan() == []
    wlan.config(pm=network.PM_NONE)
    assert wlan.config("pm") == network.PM_NONE
    assert len(wlan.config("mac")) == 6
    with pytest.raises(ValueError):
        wlan.config("nonsense")


def test_uasyncio_additions():
    import uasyncio

    async def main():
        flag = uasyncio.ThreadSafeFlag()
        import threading
        threading.Timer(0.05, flag.set).start()
        await uasyncio.wait_for_ms(flag.wait(), 2000)
        await uasyncio.sleep_ms(1)
        with pytest.raises(uasyncio.TimeoutError):
            await uasyncio.wait_for_ms(uasyncio.sleep(1), 10)
        return "done"

    try:
        assert uasyncio.run(main()) == "done"
    finally:
        # The device has one loop for the whole program, so uasyncio.run() leaves it set;
        # this process goes on running other tests: close it (its self-pipe sockets).
        import asyncio
        uasyncio.get_event_loop()._loop.close()
        asyncio.set_event_loop(None)
    assert uasyncio.Event and uasyncio.Lock and uasyncio.gather and uasyncio.create_task


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_real_package_wins_and_device_only_message(tmp_path):
    (tmp_path / "machine.py").write_text("REAL = True\n")
    proc = _run("""
        import machine, network
        print(getattr(machine, "REAL", False), hasattr(network, "WLAN"))
        try:
            import neopixel
        except ImportError as exc:
            print(exc)
        """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()
    assert first == "True True"  # the real `machine` wins; `network` comes from the shim
    assert "'neopixel' is a device-only MicroPython module" in second


def test_patch_open_is_opt_in(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "x.txt").write_text("inside")
    proc = _run(f"""
        import os
        os.environ["VIPERHTTP_VFS_ROOT"] = {str(tmp_path)!r}
        import viperhttp.compat
        try:
            open("/www/x.txt")
        except FileNotFoundError:
            print("plain")
        viperhttp.compat.patch_open()
        print(open("/www/x.txt").read())
        # already mapped (the framework's own paths) and host files are left alone
        print(open(os.path.join({str(tmp_path)!r}, "www", "x.txt")).read())
        import mimetypes
        mimetypes.init()
        print(bool(mimetypes.guess_type("a.css")[0]))
        open("/www/new.txt", "w").write("made")  # a new file in a device folder
        print(open(os.path.join({str(tmp_path)!r}, "www", "new.txt")).read())
        """, tmp_path)
    assert proc.stdout.split() == ["plain", "inside", "inside", "True", "made"], proc.stderr


def test_uos_working_directory_is_the_devices(tmp_path):
    (tmp_path / "fs" / "www").mkdir(parents=True)
    (tmp_path / "fs" / "www" / "a.txt").write_text("A")
    proc = _run("""
        import os
        os.environ["VIPERHTTP_VFS_ROOT"] = "fs"  # relative: resolved once, chdir cannot move it
        import uos
        print(uos.getcwd(), uos.listdir())
        uos.chdir("/www")
        print(uos.getcwd(), uos.listdir(), uos.stat("a.txt")[6], open("a.txt").read())
        import esp32
        nvs = esp32.NVS("cfg")  # made in /www: still <root>/.nvs, not <root>/www/fs/.nvs
        nvs.set_i32("k", 5)
        nvs.commit()
        uos.chdir("..")
        print(uos.getcwd(), uos.listdir("www"))
        """, tmp_path)
    assert proc.stdout.split() == ["/", "['www']", "/www", "['a.txt']", "1", "A", "/", "['a.txt']"], \
        proc.stdout + proc.stderr
    assert (tmp_path / "fs" / ".nvs" / "cfg.json").is_file(), sorted(str(p) for p in tmp_path.rglob("*.json"))


@pytest.mark.parametrize("patch_open", ["", "1"])
def test_original_style_app_starts_and_serves(serve, tmp_path, patch_open):
    """With `patch_open()` too: the framework's own files (templates, VFS sessions, OTA) are not
    mapped a second time."""
    root = _device_fs(tmp_path)
    (root / "www" / "hello.html").write_text("<p>Hello {{ name }} {{ id }}</p>")
    server = serve("apps/original_style_app.py", cwd=root,
                   env={"VIPERHTTP_VFS_ROOT": str(root), "PATCH_OPEN": patch_open})
    if patch_open:
        assert server.client.get("/raw").text == "<p>Hello {{ name }} {{ id }}</p>"
    page = server.client.get("/")
    assert page.status_code == 200 and page.text.startswith("<p>Hello device "), page.text
    assert server.client.get("/static/app.js").text == "console.log(1)"
    assert server.client.get("/me").status_code == 401
    assert server.client.get("/login").json() == {"ok": True}
    assert server.client.get("/me").json() == {"sub": "admin", "free": True}  # cookie kept
    assert server.client.get("/fail").status_code == 418
    status = server.client.get("/ota/status", headers={"X-OTA-Token": "ota-secret"})
    assert status.status_code == 200, status.text
    assert server.client.get("/ota/status").status_code == 401
    assert (root / ".ota").is_dir()  # the OTA directory follows vfs_root
    assert server.stop() == 0


@pytest.mark.parametrize("pattern", ["module-task", "run-in-main"])
def test_micropython_start_patterns(serve, pattern):
    server = serve("apps/uasyncio_patterns_app.py", env={"PATTERN": pattern})
    first = server.client.get("/beats").json()["n"]
    deadline = time.monotonic() + 5
    while server.client.get("/beats").json()["n"] <= first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.client.get("/beats").json()["n"] > first  # the task runs while serving
    if pattern == "run-in-main":
        assert "run() inside a running event loop" in server.logs()


@pytest.mark.parametrize("uvloop_off, late", [("1", ""), ("", ""), ("", "1"), ("1", "1")])
def test_plain_asyncio_run_forever_after_run_returns(serve, uvloop_off, late):
    server = serve("apps/plain_asyncio_app.py",
                   env={"VIPERHTTP_NO_UVLOOP": uvloop_off, "PLAIN_LATE": late})
    time.sleep(0.1)
    beats = server.client.get("/beats").json()["beats"]
    assert (beats >= 2) if not late else (beats == 0)
    assert server.stop() == 0
    assert "plain asyncio app ended" in server.logs()


def test_machine_reset_restarts_the_process(serve, tmp_path):
    root = _device_fs(tmp_path)
    server = serve("apps/device_app.py", cwd=root, env={"VIPERHTTP_VFS_ROOT": str(root)})
    first = server.client.get("/boot").json()
    assert first["cause"] == 1  # PWRON_RESET
    r = server.client.get("/reset")
    assert r.status_code == 503  # reset() did not return: the request ends with the process
    deadline = time.monotonic() + 20
    again = first
    while time.monotonic() < deadline:
        try:
            again = httpx.get(server.url("/boot"), timeout=1).json()
            if again["boot"] != first["boot"]:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert again["boot"] != first["boot"], server.logs()
    assert again["pid"] == first["pid"]  # re-executed in place, like the OTA restart
    assert again["cause"] == 5  # SOFT_RESET


def test_esp_and_micropython_helpers(capsys):
    import esp
    import micropython
    assert esp.flash_size() > 0
    assert esp.osdebug(None) is None
    micropython.mem_info()
    assert "GC: total:" in capsys.readouterr().out


def test_esp32_nvs_and_temperature(tmp_path, monkeypatch):
    import errno

    import esp32
    from viperhttp import files
    monkeypatch.setattr(files, "VFS_ROOT", str(tmp_path))
    nvs = esp32.NVS("settings")
    nvs.set_i32("boots", 2**31 - 1)  # the 32-bit boundary
    with pytest.raises(ValueError):
        nvs.set_i32("boots", 2**31)
    with pytest.raises(ValueError):
        nvs.set_i32("a" * 16, 1)  # keys are at most 15 characters
    nvs.set_i32("a" * 15, -2**31)
    nvs.set_blob("ssid", b"home-net")
    assert esp32.NVS("settings")._data == {}  # nothing on disk before commit()
    nvs.commit()
    again = esp32.NVS("settings")
    assert again.get_i32("boots") == 2**31 - 1 and again.get_i32("a" * 15) == -2**31
    buf = bytearray(4)
    assert again.get_blob("ssid", buf) == 8 and bytes(buf) == b"home"
    assert again.get_blob("ssid") == b"home-net"
    with pytest.raises(OSError) as missing:
        again.get_i32("nope")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(OSError):
        again.get_i32("ssid")  # a blob is not an int
    again.erase_key("ssid")
    again.commit()
    with pytest.raises(OSError):
        esp32.NVS("settings").get_blob("ssid")
    assert (tmp_path / ".nvs" / "settings.json").exists()
    assert esp32.mcu_temperature() == 40 and esp32.raw_temperature() == 104
