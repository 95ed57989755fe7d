"""Soak driver (docs/internals/benchmarks.md "Soak"): benches/apps/soak_app.py under many minutes
of mixed traffic, sampled every INTERVAL seconds, then idle, with a verdict per metric.

A benchmark, never a test: `bash benches/run_soak.sh` (DURATION=600 by default). The load is
moderate on purpose (the point is duration and mix, not req/s): wrk with a per-request delay on
typed GETs, plus Python clients doing everything else at a few requests per second each.

Verdict: a least-squares line through the samples of the second half of the run; a metric is
"growing" when that line rises over the half by more than its tolerance (relative and absolute,
so noise on a small figure is not called a leak) and by more than twice the samples' scatter
around the line (a sawtooth, such as sessions between two sweeps, tilts the line by chance),
else "flat". The idle sample after the load is
checked separately: no open connections, no active streams, no open yield resources.
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import httpx
import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DURATION = int(os.environ.get("DURATION", "600"))
INTERVAL = int(os.environ.get("INTERVAL", "15"))
IDLE_WAIT = int(os.environ.get("IDLE_WAIT", "15"))
WRK_CONNS = int(os.environ.get("WRK_CONNS", "32"))
WRK_DELAY_MS = int(os.environ.get("WRK_DELAY_MS", "10"))
PY = os.environ.get("SOAK_PYTHON", sys.executable)

ERRORS: "Counter[str]" = Counter()  # client-side: unexpected answers and exceptions, per kind
DONE: "Counter[str]" = Counter()    # client-side: operations completed, per kind

WRK_LUA = """
-- rotates typed GETs over a few thousand ids, async and sync handlers, 404s and a static file
local i = 0
request = function()
  i = i + 1
  local m = i % 10
  local path
  if m < 5 then path = "/users/" .. (i % 800) .. "?verbose=" .. ((i % 2 == 0) and "true" or "false")
  elseif m < 8 then path = "/ausers/" .. (i % 5000) .. "?q=w" .. (i % 97)
  elseif m == 8 then path = "/users/" .. (900 + i % 50)
  else path = "/static/page.html" end
  return wrk.format("GET", path)
end
delay = function() return DELAY_MS end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_pids(pid: int) -> List[int]:
    """The process and its descendants (a `--workers` run has children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def proc_sample(pid: int) -> Dict[str, float]:
    rss = fds = threads = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return {"rss_mib": rss / 1024, "fds": fds, "threads": threads}


# --- the Python clients: each a loop doing one kind of traffic at a modest pace -------------------

def expect(kind: str, ok: bool) -> None:
    if ok:
        DONE[kind] += 1
    else:
        ERRORS[kind] += 1


async def guarded(kind: str, coro: Any) -> None:
    try:
        await coro
    except Exception as exc:
        ERRORS[f"{kind}:{type(exc).__name__}"] += 1


async def api_loop(base: str, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        n = 0
        while not stop.is_set():
            n += 1
            r = await c.post("/items", json={"name": f"n{n}", "price": 1.5, "tags": ["a"]})
            expect("post_201", r.status_code == 201 and r.json()["name"] == f"n{n}")
            r = await c.post("/items", json={"name": "", "price": -1})
            expect("post_422", r.status_code == 422)
            r = await c.get("/users/not-a-number")
            expect("get_422", r.status_code == 422)
            r = await c.get("/private")
            expect("get_401", r.status_code == 401)
            r = await c.get("/nowhere/at/all")
            expect("get_404", r.status_code == 404)
            r = await c.get("/boom")
            expect("get_500", r.status_code == 500)
            r = await c.get("/slow")
            expect("slow", r.status_code == 200)
            r = await c.options("/users/1", headers={"origin": "https://soak.example",
                                                     "access-control-request-method": "GET"})
            expect("cors_preflight", r.status_code in (200, 204)
                   and r.headers.get("access-control-allow-origin") == "https://soak.example")
            r = await c.post("/upload", files={"file": ("f.bin", os.urandom(2048 + n % 4096))})
            expect("upload", r.status_code == 200 and r.json()["size"] == 2048 + n % 4096)
            await asyncio.sleep(0.05)


async def stream_loop(base: str, stop: asyncio.Event, path: str, drop: bool) -> None:
    """Reads a stream whole, or drops the connection after a few chunks (the client left)."""
    kind = ("drop " if drop else "read ") + path
    while not stop.is_set():
        async def once() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=10) as c:
                async with c.stream("GET", path) as r:
                    got = b""
                    async for chunk in r.aiter_raw():
                        got += chunk
                        if drop and got.count(b"\n") >= 6:
                            break  # leaving the `with` closes the connection mid-stream
                    if drop:
                        expect(kind, r.status_code == 200)
                    else:
                        expect(kind, r.status_code == 200 and got.count(b"\n") >= 20)
        await guarded(kind, once())
        await asyncio.sleep(0.1)


async def ws_loop(port: int, stop: asyncio.Event) -> None:
    """WebSocket churn: connect, echo, close; every third one vanishes without a close frame."""
    n = 0
    while not stop.is_set():
        n += 1

        async def once() -> None:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/echo", close_timeout=2)
            for i in range(3):
                await ws.send(f"m{i}")
                expect("ws_echo", await asyncio.wait_for(ws.recv(), 5) == f"echo: m{i}")
            if n % 3 == 0:
                ws.transport.abort()  # gone: no close frame, the TCP connection reset
                DONE["ws_vanish"] += 1
            else:
                await ws.close()
        await guarded("ws", once())
        await asyncio.sleep(0.05)


async def room_loop(port: int, stop: asyncio.Event) -> None:
    """Two members of a room through ConnectionManager; one speaks, both hear; one vanishes."""
    n = 0
    while not stop.is_set():
        n += 1

        async def once() -> None:
            url = f"ws://127.0.0.1:{port}/ws/room/r{n % 4}"
            a = await websockets.connect(url, close_timeout=2)
            b = await websockets.connect(url, close_timeout=2)
            await asyncio.sleep(0.02)  # both joined
            await a.send("hi")
            ok_a = str(await asyncio.wait_for(a.recv(), 5)).endswith(": hi")
            ok_b = str(await asyncio.wait_for(b.recv(), 5)).endswith(": hi")
            expect("ws_broadcast", ok_a and ok_b)
            await a.close()
            b.transport.abort()
        await guarded("ws_room", once())
        await asyncio.sleep(0.2)


async def session_loop(base: str, stop: asyncio.Event) -> None:
    """A new visitor per login (a fresh cookie jar): login, /me, leave without logging out."""
    while not stop.is_set():
        async def once() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=10) as c:
                r = await c.post("/login", data={"username": "ada", "password": "open sesame"})
                expect("login", r.status_code == 200)
                r = await c.get("/me")
                expect("me", r.status_code == 200 and r.json() == {"user": "ada"})
                r = await c.post("/login", data={"username": "ada", "password": "wrong"})
                expect("login_401", r.status_code in (401, 403))
        await guarded("session", once())
        await asyncio.sleep(0.1)


async def slowloris_loop(port: int, stop: asyncio.Event) -> None:
    """Clients that send half a request head and leave (close), or go quiet and never return."""
    n = 0
    idle: List[Any] = []
    while not stop.is_set():
        n += 1

        async def once() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /users/1 HTTP/1.1\r\nHost: soak\r\nX-Slow: ")
            await writer.drain()
            await asyncio.sleep(0.3)
            if n % 4 == 0:
                idle.append(writer)  # left open: the server's header timeout must end it
                while len(idle) > 8:
                    idle.pop(0).close()
            else:
                writer.close()
            DONE["slowloris"] += 1
        await guarded("slowloris", once())
        await asyncio.sleep(0.2)
    for w in idle:
        w.close()


# --- sampling and the report ---------------------------------------------------------------------

def fetch_stats(base: str, collect: bool = False) -> Dict[str, Any]:
    try:
        r = httpx.get(base + "/soak/stats" + ("?collect=true" if collect else ""), timeout=10)
        data: Dict[str, Any] = r.json()
        return data
    except Exception as exc:
        return {"error": repr(exc)}


def flatten(pid: int, stats: Dict[str, Any]) -> Dict[str, float]:
    app = stats.get("app", {})
    bridge = stats.get("bridge", {}) if isinstance(stats.get("bridge"), dict) else {}
    ipc = stats.get("ipc", {}) if isinstance(stats.get("ipc"), dict) else {}
    server = stats.get("server", {}) if isinstance(stats.get("server"), dict) else {}
    row = proc_sample(pid)
    row.update({
        "gc_objects": stats.get("gc_objects", -1),
        "asyncio_tasks": stats.get("tasks", -1),
        "open_conns": stats.get("open_connections", -1) if isinstance(stats.get("open_connections"), int) else -1,
        "yield_open": app.get("yield_open", -1),
        "streams_app": app.get("streams_active", -1),
        "streams_bridge": bridge.get("streams_active", -1),
        "bg_pending": bridge.get("bg_tasks_pending", -1),
        "workers": bridge.get("workers", -1),
        "ws_open": app.get("ws_open", -1),
        "ws_manager": stats.get("ws_manager", {}).get("connections", -1),
        "ws_tasks": server.get("ws_tasks_active", -1),
        "sessions": stats.get("sessions", -1),
        "pending_ids": ipc.get("pending_ids", -1),
        "cancelled_ids": ipc.get("cancelled_ids", -1),
    })
    return row


# Tolerance per metric: "growing" when the fitted line over the second half rises by more than
# both the relative and the absolute figure (gauges that swing with the load get wide margins).
TOLERANCE: Dict[str, Tuple[float, float]] = {
    "rss_mib": (0.05, 4.0), "fds": (0.10, 8), "threads": (0.10, 2), "gc_objects": (0.05, 2000),
    "asyncio_tasks": (0.25, 10), "open_conns": (0.25, 10), "yield_open": (0.5, 5),
    "streams_app": (0.5, 5), "streams_bridge": (0.5, 5), "bg_pending": (0.5, 5), "workers": (0.5, 4),
    "ws_open": (0.5, 5), "ws_manager": (0.5, 5), "ws_tasks": (0.5, 5), "sessions": (0.10, 50),
    "pending_ids": (0.5, 5), "cancelled_ids": (0.5, 5),
}
# What an idle server returns to once the load stopped.
IDLE_ZERO = ["open_conns", "yield_open", "streams_app", "streams_bridge", "bg_pending", "ws_open",
             "ws_manager", "ws_tasks", "pending_ids", "cancelled_ids"]


def slope(xs: List[float], ys: List[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def _num(v: float) -> str:
    return f"{int(v)}" if v == int(v) else f"{v:.1f}"


def verdicts(samples: List[Tuple[float, Dict[str, float]]]) -> Dict[str, str]:
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    out = {}
    for key, (rel, absolute) in TOLERANCE.items():
        xs = [t for t, _ in half]
        ys = [float(row[key]) for _, row in half]
        if len(xs) < 3:
            out[key] = "too short"
            continue
        k = slope(xs, ys)
        rise = k * (xs[-1] - xs[0])
        mean = sum(ys) / len(ys)
        # The scatter around the line: a gauge that swings (sessions between two sweeps, open
        # connections) tilts the line by chance; a rise within twice its scatter is not growth.
        resid = (sum((y - mean - k * (x - sum(xs) / len(xs))) ** 2 for x, y in zip(xs, ys)) / len(ys)) ** 0.5
        growing = rise > absolute and rise > rel * max(mean, 1e-9) and rise > 2 * resid
        out[key] = (f"{'GROWING' if growing else 'flat'} ({rise:+.1f} over the 2nd half, "
                    f"scatter ±{resid:.1f}, range {_num(min(ys))}..{_num(max(ys))})")
    return out


def print_table(samples: List[Tuple[float, Dict[str, float]]], idle: Dict[str, float]) -> None:
    keys = list(TOLERANCE)
    short = {"rss_mib": "rss MiB", "gc_objects": "gc objs", "asyncio_tasks": "tasks",
             "open_conns": "conns", "yield_open": "yield", "streams_app": "str app",
             "streams_bridge": "str brg", "bg_pending": "bg pend", "ws_manager": "ws mgr",
             "pending_ids": "pend ids", "cancelled_ids": "canc ids"}
    head = ["t s"] + [short.get(k, k) for k in keys]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))

    def fmt(k: str, v: float) -> str:
        return f"{v:.1f}" if k == "rss_mib" else f"{int(v)}"

    for t, row in samples:
        print(f"| {t:.0f} | " + " | ".join(fmt(k, row[k]) for k in keys) + " |")
    print(f"| idle +{IDLE_WAIT}s | " + " | ".join(fmt(k, idle[k]) for k in keys) + " |")


async def drive(port: int, pid: int) -> Tuple[List[Tuple[float, Dict[str, float]]], Dict[str, float], str]:
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(WRK_LUA.replace("DELAY_MS", str(WRK_DELAY_MS)))
    lua.close()
    wrk = subprocess.Popen(["wrk", "-t1", f"-c{WRK_CONNS}", f"-d{DURATION}s", "-s", lua.name, base],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    clients = [
        api_loop(base, stop), api_loop(base, stop),
        stream_loop(base, stop, "/stream/sync", False), stream_loop(base, stop, "/stream/async", False),
        stream_loop(base, stop, "/sse", False),
        stream_loop(base, stop, "/stream/sync", True), stream_loop(base, stop, "/stream/async", True),
        stream_loop(base, stop, "/sse", True),
        ws_loop(port, stop), ws_loop(port, stop), room_loop(port, stop),
        session_loop(base, stop), slowloris_loop(port, stop),
    ]
    tasks = [asyncio.ensure_future(guarded("client_loop", c)) for c in clients]
    started = time.monotonic()
    samples: List[Tuple[float, Dict[str, float]]] = []
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(INTERVAL)
        t = time.monotonic() - started
        stats = await loop.run_in_executor(None, fetch_stats, base)
        row = flatten(pid, stats)
        samples.append((t, row))
        print(f"t={t:5.0f}s rss={row['rss_mib']:.1f}MiB fds={row['fds']} thr={row['threads']} "
              f"gc={row['gc_objects']} conns={row['open_conns']} yield={row['yield_open']} "
              f"streams={row['streams_bridge']} sessions={row['sessions']} "
              f"errors={sum(ERRORS.values())}", flush=True)
        if t + INTERVAL > DURATION:  # the next sample would fall after wrk's end
            break
    stop.set()
    await asyncio.wait(tasks, timeout=15)
    wrk_out = await loop.run_in_executor(None, lambda: wrk.communicate(timeout=30)[0])
    os.unlink(lua.name)
    await asyncio.sleep(IDLE_WAIT)
    stats = await loop.run_in_executor(None, fetch_stats, base, True)
    return samples, flatten(pid, stats), wrk_out


def main() -> int:
    if shutil.which("wrk") is None:
        print("needs wrk (apt-get install wrk)")
        return 2
    port = int(os.environ.get("PORT") or free_port())
    workdir = tempfile.mkdtemp(prefix="soak-")
    static = os.path.join(workdir, "soak_static")
    os.mkdir(static)
    with open(os.path.join(static, "page.html"), "w") as f:
        f.write("<html><body>" + "static soak page " * 100 + "</body></html>")
    log_path = os.environ.get("SOAK_LOG", os.path.join(workdir, "server.log"))
    env = dict(os.environ, SOAK_STATIC_DIR=static)
    server = subprocess.Popen([PY, "-m", "viperhttp", "run", os.path.join(HERE, "apps", "soak_app.py"),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/soak/stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            print("server did not start; log:", open(log_path).read())
            return 1
        time.sleep(1)
        before = flatten(server.pid, fetch_stats(f"http://127.0.0.1:{port}", True))
        print(f"soak: {DURATION}s of mixed traffic on :{port}, sampling every {INTERVAL}s; log {log_path}")
        print("start:", json.dumps(before))
        samples, idle, wrk_out = asyncio.run(drive(port, server.pid))
        print()
        print_table(samples, idle)
        print()
        print(f"start (idle, before the load): rss {before['rss_mib']:.1f} MiB, fds {before['fds']}, "
              f"threads {before['threads']}, gc objects {before['gc_objects']}")
        print("verdicts (linear fit over the second half of the run):")
        for key, verdict in verdicts(samples).items():
            print(f"  {key:15s} {verdict}")
        # The stats request itself is one open connection and one pending id: the figures
        # before the load are the baseline an idle server returns to.
        print(f"idle after {IDLE_WAIT}s (baseline: before the load):")
        for key in IDLE_ZERO:
            left = idle[key] > before[key]
            print(f"  {key:15s} {idle[key]:g} (baseline {before[key]:g}) {'LEFT BEHIND' if left else 'ok'}")
        print("client operations:", dict(sorted(DONE.items())))
        print("client errors:", dict(sorted(ERRORS.items())) or "none")
        print("wrk:", " ".join(line.strip() for line in wrk_out.splitlines()
                                if "requests in" in line or "Requests/sec" in line or "Non-2xx" in line
                                or "Socket errors" in line))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    with open(log_path) as f:
        lines = [ln.rstrip() for ln in f if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln]
    kinds = Counter(" ".join(ln.split()[2:3] + ln.split()[4:6]) for ln in lines)
    print(f"server log: {len(lines)} WARNING/ERROR lines")
    for kind, count in kinds.most_common(20):
        print(f"  {count:6d}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
