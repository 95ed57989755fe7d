"""Serving without an event loop (docs/internals/bridge.md#serving-without-an-event-loop).

An app that has not imported asyncio when `run()` starts, and has no startup hooks, is served by
this plain loop: it waits on the runtime's wake-up fd (the GIL released), takes a whole batch and
runs each handler inline, as the event loop's poller does. asyncio — and with it `ssl`, whose
OpenSSL initialisation alone is ~5 MiB of RSS, and uvloop — is then never imported by a sync app.

The first request that needs an event loop (a coroutine or other awaitable, a stream, background
tasks, a WebSocket record) makes the bridge create it (`Bridge.need_loop`); that request and
the rest of its batch are queued for the loop's workers, this loop returns, and the event loop
serves from then on, for good. A handler that imports asyncio itself (to reach a loop) gets one
the same way, after its batch.
"""
from __future__ import annotations

import logging
import os
import select
import sys
import time
from typing import List, Tuple

from viperhttp import _native
from viperhttp._native import is_cancelled as _is_cancelled
from viperhttp.diagnostics import forward_native_logs as _forward_logs
from viperhttp.diagnostics import refresh_access_log

from .delivery import _INTERNAL_ERROR
from .dispatch import _BATCH_MAX, _SCALE_CHECK_S, Bridge

log = logging.getLogger("viperhttp.bridge")


def _take_batch(bridge: Bridge) -> int:
    """One batch, admitted as `Bridge.on_wake` admits it; the number of messages (0: none)."""
    batch = bridge.poll_batch(_BATCH_MAX)
    handle_inline = bridge.handle_inline
    first = batch[0] if batch and not bridge.draining else None  # fresh, unless stopping
    for item in batch:
        try:
            if item[0].__class__ is str:  # ("ws_*", ...): WebSocket handlers are tasks
                bridge.need_loop()
                bridge.ws.handle(item)
            elif item is not first and _is_cancelled(item[0]):
                bridge.client_gone(item[0])  # left while the handlers before it ran
            elif bridge.queue or bridge.backlog:  # FIFO behind what already waits for the loop
                bridge._enqueue((item, None, None, None, None))
            else:
                handle_inline(item)
        except Exception as exc:  # e.g. the loop could not be made: this request, not the server
            log.error("bridge_loop_error %r", exc, exc_info=True)
            if item[0].__class__ is not str:
                bridge._send_safe(item[0], _INTERNAL_ERROR)
    bridge.dispatched += len(batch)
    if bridge.loop is None and "asyncio" in sys.modules:
        try:
            bridge.need_loop()  # a handler imported asyncio: it may have scheduled work on a loop
        except Exception as exc:
            log.error("bridge_loop_error %r", exc, exc_info=True)
    return len(batch)


def _tick(bridge: Bridge) -> None:
    """What the event loop's 100 ms tick does, less the workers and streams this mode has not."""
    bridge._ticks += 1
    try:
        _forward_logs()  # static and reject access lines arrive without a wake-up
        if bridge._ticks % 10 == 0:
            refresh_access_log()
    except Exception as exc:
        log.error("bridge_loop_error %r", exc, exc_info=True)


_WAKE_PIPE: List[Tuple[int, int]] = []


def wake_pipe() -> Tuple[int, int]:
    """The process's wake-up pipe (read end, write end), non-blocking. Never closed: a thread
    that read it just before a stop may still write it, and a closed descriptor's number could
    by then belong to another file."""
    if not _WAKE_PIPE:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        _WAKE_PIPE.append((r, w))
    return _WAKE_PIPE[0]


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def serve(bridge: Bridge) -> None:
    """Serves until a stop is requested or an event loop is needed (then `bridge.loop` is set)."""
    bridge.running = True
    pipe = wake_pipe()
    wake_r = pipe[0]
    _drain_pipe(wake_r)  # bytes written for an earlier run
    bridge.wake_pipe = pipe
    poller = select.poll()
    poller.register(_native.wakeup_fd(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    next_tick = time.monotonic() + _SCALE_CHECK_S
    while not bridge.stop_requested and bridge.loop is None:
        if bridge._calls:
            bridge.run_calls()
            continue
        if not _take_batch(bridge):
            # Nothing queued: `_poll_batch` parked the consumer, so the next request makes the
            # wake-up fd readable. A signal interrupts the wait; its handler writes the pipe.
            timeout_ms = max(0, int((next_tick - time.monotonic()) * 1000) + 1)
            for fd, _events in poller.poll(timeout_ms):
                if fd == wake_r:
                    _drain_pipe(wake_r)
        now = time.monotonic()  # once per batch or wait: a busy server still ticks
        if now >= next_tick:
            _tick(bridge)
            next_tick = now + _SCALE_CHECK_S


def drain(bridge: Bridge, timeout_s: float) -> float:
    """The graceful stop of docs/internals/bridge.md#start-and-stop without a loop: queued
    requests are still dispatched, in-flight ones get up to `timeout_s`. Returns the time left
    when a request needed an event loop meanwhile (`bridge.loop` is set and its drain finishes
    the job), else closes the runtime and returns 0."""
    deadline = bridge.begin_drain(timeout_s)
    while time.monotonic() < deadline and not bridge.skip_drain:
        bridge.run_calls()
        _take_batch(bridge)
        if bridge.loop is not None:
            return max(0.0, deadline - time.monotonic())
        if bridge._idle():
            break
        time.sleep(0.01)
    bridge.running = False
    if bridge.exit_request is not None:
        # sys.exit() in a handler: let the runtime write its 503s before the connections are cut.
        until = time.monotonic() + 2.0
        while _native.open_connections() and time.monotonic() < until:
            time.sleep(0.01)
    else:
        bridge.end_drain()
    _native.close()
    return 0.0
