"""`uasyncio`: `asyncio` plus the device's additions (docs/guide/device-apps.md).

`get_event_loop()` returns the loop the bridge serves on, wrapped so that the device pattern
`loop.create_task(job()); app.run(); loop.run_forever()` works: `app.run()` blocks and serves
(the task runs on the same loop), and `run_forever()` afterwards returns at once instead of
hanging a script whose server has already stopped. After `viperhttp_bridge.start(app)` (the
non-blocking form) `run_forever()` serves until the app stops, then drains like `app.run()`.
"""
from __future__ import annotations

import asyncio as _asyncio
import threading as _threading
from typing import Any, Awaitable, Optional

__all__ = sorted({name for name in dir(_asyncio) if not name.startswith("_")} | {
    "sleep_ms", "wait_for_ms", "ThreadSafeFlag", "get_event_loop", "new_event_loop", "create_task"})


def __getattr__(name: str) -> Any:
    # The rest of the device API (`sleep`, `create_task`, `Event`, `Lock`, `Queue`, `gather`,
    # `wait_for`, ...) is asyncio's.
    try:
        return getattr(_asyncio, name)
    except AttributeError:
        raise AttributeError(f"module 'uasyncio' has no attribute {name!r}") from None


async def sleep_ms(ms: int) -> None:
    await _asyncio.sleep(ms / 1000)


async def wait_for_ms(aw: Awaitable[Any], timeout_ms: int) -> Any:
    return await _asyncio.wait_for(aw, timeout_ms / 1000)


class ThreadSafeFlag:
    """A flag set from any thread (an interrupt handler on the device), awaited on the loop;
    `wait()` clears it when it returns, like the device's."""

    def __init__(self) -> None:
        self._flag = False
        self._event: Optional[_asyncio.Event] = None
        self._loop: Optional[_asyncio.AbstractEventLoop] = None
        self._lock = _threading.Lock()

    def set(self) -> None:
        with self._lock:
            self._flag = True
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)

    def clear(self) -> None:
        with self._lock:
            self._flag = False

    async def wait(self) -> None:
        with self._lock:
            if self._event is None:
                self._loop = _asyncio.get_running_loop()
                self._event = _asyncio.Event()
        while True:
            with self._lock:
                if self._flag:
                    self._flag = False
                    return
                self._event.clear()
            await self._event.wait()


class _DeviceLoop:
    """The device's loop object over the real asyncio loop; everything else is delegated."""

    def __init__(self, loop: _asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._device_loop_target = loop  # what viperhttp_bridge.run(loop=...) unwraps

    def run_forever(self) -> None:
        from viperhttp_bridge import Bridge, serve_started

        bridge = Bridge.current
        if bridge is not None and bridge.loop is self._loop and not self._loop.is_running():
            serve_started(bridge)  # started with start()/block=False: serve, then drain
            return
        if Bridge.served:
            return  # app.run() already served and returned (docs/guide/device-apps.md)
        self._loop.run_forever()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    def __eq__(self, other: object) -> bool:
        return other is self or other is self._loop

    def __hash__(self) -> int:
        return hash(self._loop)


def get_event_loop(*_args: Any) -> _DeviceLoop:
    """The current loop, created and set when there is none (device `get_event_loop(runq_len)`
    arguments are accepted and ignored)."""
    try:
        loop = _asyncio.get_running_loop()
    except RuntimeError:
        from viperhttp_bridge import _loop_already_set
        existing = _loop_already_set()
        if existing is not None and not existing.is_closed():
            loop = existing
        else:
            loop = _asyncio.new_event_loop()
            _asyncio.set_event_loop(loop)
    return _DeviceLoop(loop)


def create_task(coro: Any, **kw: Any) -> "_asyncio.Task[Any]":
    """`asyncio.create_task`, and also before any loop runs (MicroPython queues the task until
    the scheduler starts): then on the loop `get_event_loop()` gives, which the server runs."""
    try:
        _asyncio.get_running_loop()
    except RuntimeError:
        return get_event_loop()._loop.create_task(coro, **kw)
    return _asyncio.create_task(coro, **kw)


def new_event_loop() -> _DeviceLoop:
    loop = _asyncio.new_event_loop()
    _asyncio.set_event_loop(loop)
    return _DeviceLoop(loop)


def run(coro: Any) -> Any:
    """Runs `coro` on the current loop (the device has one loop for the whole program)."""
    loop = get_event_loop()._loop
    return loop.run_until_complete(coro)
