"""The thread pool's executor (python/viperhttp/daemon_pool.py): ThreadPoolExecutor's behaviour
on daemon threads. End to end it is covered by tests/test_typed.py (`threadpool_size` bounds
concurrency) and tests/test_cli.py (a stop does not wait for it)."""
from __future__ import annotations

import threading
import time

import pytest

from viperhttp.daemon_pool import DaemonThreadPool


def test_results_exceptions_and_daemon_threads():
    pool = DaemonThreadPool(max_workers=2, thread_name_prefix="t")
    try:
        assert pool.submit(lambda a, b=0: a + b, 1, b=2).result(5) == 3
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(5)
        names = pool.submit(lambda: (threading.current_thread().name, threading.current_thread().daemon)).result(5)
        assert names[0].startswith("t_") and names[1] is True
    finally:
        pool.shutdown(wait=True)


def test_grows_to_max_workers_and_reuses_idle_threads():
    pool = DaemonThreadPool(max_workers=3, thread_name_prefix="t")
    try:
        for _ in range(20):  # one at a time: the idle thread takes each, no new ones
            pool.submit(time.sleep, 0).result(5)
        assert len(pool._threads) == 1
        gate = threading.Event()
        running = []
        lock = threading.Lock()

        def held():
            with lock:
                running.append(1)
            gate.wait(5)

        futures = [pool.submit(held) for _ in range(5)]
        deadline = time.monotonic() + 5
        while len(running) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(running) == 3 and len(pool._threads) == 3  # bounded by max_workers
        gate.set()
        for f in futures:
            f.result(5)
        assert len(running) == 5
    finally:
        pool.shutdown(wait=True)


def test_shutdown_cancels_what_is_queued_and_refuses_new_work():
    pool = DaemonThreadPool(max_workers=1, thread_name_prefix="t")
    gate, started = threading.Event(), threading.Event()

    def first_call():
        started.set()
        return gate.wait(5)

    first = pool.submit(first_call)
    queued = pool.submit(lambda: "ran")
    assert started.wait(5)  # the one thread is busy: `queued` waits in the queue
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None)
    gate.set()
    assert first.result(5) is True  # the running call finishes on its own
    pool.shutdown(wait=True)
    assert not any(t.is_alive() for t in pool._threads)
