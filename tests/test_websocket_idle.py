"""Idle WebSockets (docs/websocket.md, "Backpressure and memory"): 10,000 open, idle
connections held by one server process cost no Python work once accepted and little memory
each; all still answer afterwards."""
from __future__ import annotations

import resource
import time

import pytest

from support.ws_raw import frame, handshake_bytes, read_head
from support.ws_raw import RawWs

APP = "apps/ws_app.py"
IDLE = 10_000
BATCH = 500


def _rss(server) -> int:
    return server.client.get("/rss").json()["rss_kib"]


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.timeout(300)
def test_ten_thousand_idle_websockets(serve):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < IDLE + 200:
        pytest.skip(f"needs {IDLE + 200} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = serve(APP, env={"MAXCONN": str(IDLE + 100)})
    import socket
    before = _rss(server)
    socks = []
    try:
        for start in range(0, IDLE, BATCH):
            batch = []
            for _ in range(min(BATCH, IDLE - start)):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                s.sendall(handshake_bytes("/ws/idle"))
                batch.append(s)
            for s in batch:
                head, rest = read_head(s)
                assert head.startswith(b"HTTP/1.1 101"), head
                assert rest == b""
            socks.extend(batch)
        time.sleep(0.5)
        stats = server.client.get("/state").json()["stats"]
        assert stats["ws_tasks_active"] == IDLE
        after = _rss(server)
        per_conn = (after - before) * 1024 / IDLE
        print(f"\nRSS {before} KiB -> {after} KiB for {IDLE} idle WebSockets: {per_conn:.0f} bytes each")
        # Runtime state (task, 4 KiB read buffer, head guard) plus the Python task and
        # WebSocket object: well under 32 KiB each.
        assert per_conn < 32 * 1024, per_conn
        # Idle means idle: the whole process uses (almost) no CPU over a second.
        t0 = _cpu_ticks(server.proc.pid)
        time.sleep(1.0)
        assert _cpu_ticks(server.proc.pid) - t0 <= 5  # clock ticks (1/100 s)
        # Every connection still works.
        for s in socks[:: IDLE // 20]:
            ws = RawWs(s)
            ws.send(frame(9, b"alive"))
            assert ws.recv_frame() == (True, 10, b"alive")
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.client.get("/state").json()["stats"]["ws_tasks_active"] == 0:
            break
        time.sleep(0.1)
    assert server.client.get("/state").json()["stats"]["ws_tasks_active"] == 0
