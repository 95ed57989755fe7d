"""Overload at ~10× capacity, loopback only, bounded in count and time
(docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol, docs/internals/bridge.md#one-request).

A slow async handler (50 ms) on 4 bridge workers with a bridge queue of 16 serves ≈ 80
requests/s; 400 requests arrive within ≈ 0.5 s in waves of 100 concurrent connections. Every
request must get exactly one complete response, 200 (with its own tag: no mix-ups) or 503
(Server Busy / Queue Full / Backpressure), nothing else; the counts add up with the server's
own counters, and the server's RSS stays bounded.
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from apps.bridge_support import app_env, arequest, get_json, quiet_serve, rss_kb

APP = "apps/bridge_app.py"
WAVES = 4
PER_WAVE = 100
WAVE_GAP = 0.125
OVERLOAD_BODIES = {b"Server Busy", b"Queue Full", b"Backpressure"}


@pytest.fixture
def serve(serve):
    return quiet_serve(serve)


def run_waves(port):
    async def main():
        tasks = []
        for w in range(WAVES):
            for i in range(PER_WAVE):
                n = w * PER_WAVE + i
                path = f"/async/sleep?ms=50&tag=L{n}" if n % 10 else f"/sync/sleep?ms=0&tag=L{n}"
                tasks.append(asyncio.ensure_future(arequest(port, path, timeout=25.0)))
            await asyncio.sleep(WAVE_GAP)
        return await asyncio.gather(*tasks)
    return asyncio.run(main())


class RssPeak(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, rss_kb(pid), threading.Event()
        self.start()

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.02)

    def finish(self):
        self.stop_flag.set()
        self.join()
        return self.peak


@pytest.mark.parametrize("kw", [
    {},                                                          # native queue 256 absorbs bursts
    {"ipc_request_queue_len": 32, "ipc_enqueue_retry_ms": 100},  # native Queue Full answers too
], ids=["default-native-queue", "small-native-queue"])
def test_ten_times_capacity_only_200_or_503_one_response_each(serve, kw):
    server = serve(APP, env=app_env(dict(kw, bridge_min_workers=4, bridge_max_workers=4,
                                         bridge_queue_size=16)))
    port = server.port
    before = get_json(port, "/stats")
    base_rss = rss_kb(server.proc.pid)
    sampler = RssPeak(server.proc.pid)
    t0 = time.monotonic()
    results = run_waves(port)
    took = time.monotonic() - t0
    peak = sampler.finish()
    n = WAVES * PER_WAVE
    assert len(results) == n
    assert took <= 20, f"load took {took:.1f}s"
    bad = [(i, r.summary()) for i, r in enumerate(results)
           if r.error is not None or not r.complete or r.trailing or r.status not in (200, 503)]
    assert not bad, f"{len(bad)} requests without exactly one 200/503 response, e.g. {bad[:3]}"
    ok = [r for r in results if r.status == 200]
    busy = [r for r in results if r.status == 503]
    for i, r in enumerate(results):
        if r.status == 200:
            assert r.json()["tag"] == f"L{i}", f"request L{i} got someone else's response: {r.body!r}"
        else:
            assert r.body in OVERLOAD_BODIES, r.summary()
    after = get_json(port, "/stats")
    native_503 = after["server"]["backpressure_503_sent"] - before["server"]["backpressure_503_sent"]
    bridge_503 = after["bridge"]["server_busy_503"] - before["bridge"]["server_busy_503"]
    by_body = {b: sum(r.body == b for r in busy) for b in OVERLOAD_BODIES}
    assert by_body[b"Server Busy"] == bridge_503, (by_body, bridge_503)
    assert by_body[b"Queue Full"] + by_body[b"Backpressure"] == native_503, (by_body, native_503)
    assert len(ok) + len(busy) == n
    assert len(ok) >= 4, "hardly anything was served"
    grew_mib = (peak - base_rss) / 1024
    assert grew_mib < 64, f"RSS grew by {grew_mib:.1f} MiB under load (base {base_rss} kB, peak {peak} kB)"
    # Still healthy afterwards, with nothing left in flight.
    final = get_json(port, "/stats")
    assert final["bridge"]["workers_busy"] == 0 and final["bridge"]["queue_depth"] == 0, final["bridge"]
    print(f"load {kw}: {len(ok)} × 200, {by_body}, {took:.2f}s, RSS +{grew_mib:.1f} MiB")
