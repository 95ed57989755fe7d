"""`ThreadPoolExecutor`'s interface on daemon threads (docs/internals/typed-api.md "Blocking code").

Why not `concurrent.futures.ThreadPoolExecutor` itself: its threads are joined when the
interpreter exits, so a `blocking=True` handler still sleeping after a stop holds the process
of a script that called `app.run()` itself until it returns, past any shutdown timeout. anyio's
worker threads (Starlette's `run_in_threadpool`, so FastAPI's) are daemon threads for the same
reason. Everything else is `ThreadPoolExecutor`'s behaviour: threads started on demand up to
`max_workers`, an idle one reused first, `shutdown(cancel_futures=True)` cancels what is queued.
Imported on first use of the pool only (`concurrent.futures` is not loaded for apps that never
use it).
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future
from typing import Any, Callable, Optional, Tuple

__all__ = ["DaemonThreadPool"]

_Item = Optional[Tuple[Future, Callable[..., Any], tuple, dict]]


class DaemonThreadPool(Executor):
    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._queue: "queue.SimpleQueue[_Item]" = queue.SimpleQueue()
        # One permit per idle thread: a submit takes one instead of starting a thread.
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: "list[threading.Thread]" = []
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._work, name=f"{self._prefix}_{len(self._threads)}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)  # the next thread ends too
                return
            future, fn, args, kwargs = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                    del exc
                else:
                    future.set_result(result)
                    del result
            del future, fn, args, kwargs
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            self._queue.put(None)
        if wait:  # the framework never waits: a thread cannot be stopped, a stop has its grace period
            for thread in self._threads:
                thread.join()
