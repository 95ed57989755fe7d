"""Process supervision for `viperhttp run --workers N` and `--reload` (docs/guide/deployment.md).

Workers are fresh interpreters (`python -m viperhttp run ... --reuse-port`), never forks: each
has its own runtime, interpreter and IPC rings, and binds the same port with `SO_REUSEPORT` so
the kernel balances connections. The supervisor binds nothing to serve; it forwards SIGINT and
SIGTERM to every worker as SIGTERM (each drains as a single process does), and SIGHUP when they serve TLS
(each re-reads its certificate); a worker whose supervisor is gone (killed) stops by itself
(`PARENT_ENV`, watched by the bridge). A worker that exits is started again after
`RESTART_DELAY_S`: one that stopped cleanly (status 0: someone sent it SIGTERM, which is how
workers are replaced one at a time; an exit sooner than `MIN_UP_S` after its start counts as a
death) always, one that died unless that worker slot died
`MAX_RESTARTS` times within `RESTART_WINDOW_S` (a crash loop: then all stop and the supervisor
exits 1). Each slot has its own budget, so crashes spread over many workers never stop the
service. A worker that fails to start (status 3) on the first start stops the others (exit 3);
a replacement that fails to start is tried again after 1, 2, 4 ... up to 30 s, never counted as
a death (a certificate or a database that is back by a later try does not stop the workers
still serving).
"""
from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Set

from .cli import EXIT_STARTUP, child_argv
from .diagnostics import listen_address

log = logging.getLogger("viperhttp.supervisor")

RESTART_DELAY_S = 1.0
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
#: a worker that exits cleanly (status 0) sooner than this after its start is counted as a
#: death: it ended by itself (an app that exits at import), not because someone stopped it
#: after it served; without this such a worker was restarted every second forever
MIN_UP_S = 3.0
#: the longest wait between tries of a replacement worker that fails to start
MAX_START_BACKOFF_S = 30.0
#: what a worker is sent to stop, whichever stop signal the supervisor got
STOP_SIGNAL = signal.SIGTERM
#: a worker still running this long after SIGTERM (its drain) gets SIGKILL
KILL_AFTER_S = 30.0


def _setup_logging(level: str) -> None:
    level = "debug" if level == "trace" else level
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")


def _reserve_port(host: str, port: int) -> Optional[socket.socket]:
    """With `--port 0` every worker would get its own port: pick one now and hold it with a
    bound, never listening `SO_REUSEPORT` socket (it takes no connections) so the workers
    share it. A given port is first bound once without `SO_REUSEPORT`: the workers' own bind
    with it would succeed beside another server's workers of the same user (a second
    `--workers` run on a busy port took part of its traffic), this one fails as a single
    process's does (`OSError`: address already in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port != 0:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
            probe.bind((host, port))
        return None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


#: set in every worker's environment: `run(workers=N)` in a worker serves instead of supervising
WORKER_ENV = "VIPERHTTP_WORKER"
#: the port every worker binds (the one picked for `port=0`)
WORKER_PORT_ENV = "VIPERHTTP_WORKER_PORT"
#: the supervising process: a worker whose parent is no longer this pid (the supervisor was
#: killed) stops as on SIGTERM instead of serving on, orphaned
PARENT_ENV = "VIPERHTTP_PARENT_PID"


def child_env(**extra: str) -> Dict[str, str]:
    return dict(os.environ, **{PARENT_ENV: str(os.getpid())}, **extra)


class Supervisor:
    def __init__(self, argv: List[str], workers: int, port: int) -> None:
        self.argv = argv
        self.workers = workers
        self.env = child_env(**{WORKER_ENV: "1", WORKER_PORT_ENV: str(port)})
        self.children: Dict[int, "subprocess.Popen[bytes]"] = {}  # slot → process
        self.restarts: Dict[int, Deque[float]] = {}  # slot → times of its recent deaths
        self.started: Set[int] = set()  # slots whose first worker did not fail to start
        self.start_failures: Dict[int, int] = {}  # slot → replacements in a row that failed to start
        self.spawned: Dict[int, float] = {}  # slot → when its current worker was started
        self.stopping = threading.Event()
        self.status = 0

    def spawn(self, slot: int) -> None:
        proc = subprocess.Popen(self.argv, env=self.env)
        self.children[slot] = proc
        self.spawned[slot] = time.monotonic()
        log.info("worker %d started (pid %d)", slot, proc.pid)

    def forward(self, signum: int, _frame: Any = None) -> None:
        # Every stop signal is forwarded, a second one too: the workers then skip their grace
        # period. Always as SIGTERM (`STOP_SIGNAL`): a SIGINT that reaches a worker still
        # importing its app can be swallowed (a KeyboardInterrupt raised inside an import-lock
        # callback is "ignored"), and the worker then served on and held the stop; SIGTERM's
        # default action ends such a worker, and a serving one drains as on SIGINT.
        self.stopping.set()
        self.relay(STOP_SIGNAL)

    def relay(self, signum: int, _frame: Any = None) -> None:
        """Passes `signum` to every live worker (SIGHUP alone: each re-reads its TLS
        certificate, nobody stops)."""
        for proc in self.children.values():
            if proc.poll() is None:
                try:
                    proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def _allow_restart(self, slot: int) -> bool:
        now = time.monotonic()
        deaths = self.restarts.setdefault(slot, deque())
        while deaths and now - deaths[0] > RESTART_WINDOW_S:
            deaths.popleft()
        if len(deaths) >= MAX_RESTARTS:
            return False
        deaths.append(now)
        return True

    def run(self) -> int:
        for slot in range(self.workers):
            self.spawn(slot)
        due: Dict[int, float] = {}  # slot → restart time
        while True:
            if self.stopping.is_set():
                return self._wait_all()
            for slot, proc in list(self.children.items()):
                if slot in due or proc.poll() is None:
                    continue
                code = proc.returncode
                if code == EXIT_STARTUP and slot not in self.started:
                    log.error("worker %d failed to start (status 3): stopping", slot)
                    self.status = EXIT_STARTUP
                    self.forward(signal.SIGTERM)
                    break
                self.started.add(slot)
                delay = RESTART_DELAY_S
                if code == EXIT_STARTUP:
                    # A replacement that cannot start (its database is down): tried again with a
                    # growing delay while the other workers serve, never counted as a crash.
                    fails = self.start_failures[slot] = self.start_failures.get(slot, 0) + 1
                    delay = min(RESTART_DELAY_S * 2 ** (fails - 1), MAX_START_BACKOFF_S)
                    log.warning("worker %d (pid %d) failed to start (status 3); trying again in %.0fs",
                                slot, proc.pid, delay)
                elif code == 0 and time.monotonic() - self.spawned[slot] >= MIN_UP_S:
                    self.start_failures.pop(slot, None)
                    log.info("worker %d (pid %d) stopped; starting a new one in %.0fs",
                             slot, proc.pid, RESTART_DELAY_S)
                elif not self._allow_restart(slot):
                    log.error("worker %d %s; %d times within %ds: giving up",
                              slot, _how(code), MAX_RESTARTS, int(RESTART_WINDOW_S))
                    self.status = 1
                    self.forward(signal.SIGTERM)
                    break
                else:
                    self.start_failures.pop(slot, None)
                    log.warning("worker %d (pid %d) %s; restarting in %.0fs",
                                slot, proc.pid, _how(code), RESTART_DELAY_S)
                due[slot] = time.monotonic() + delay
            now = time.monotonic()
            for slot, when in list(due.items()):
                if now >= when and not self.stopping.is_set():
                    del due[slot]
                    self.spawn(slot)
            self.stopping.wait(0.1)

    def _wait_all(self) -> int:
        deadline = time.monotonic() + KILL_AFTER_S
        for slot, proc in self.children.items():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop in %ds: killing", slot, int(KILL_AFTER_S))
                proc.kill()
                proc.wait()
        log.info("all workers stopped")
        return self.status


def _how(code: int) -> str:
    """`died with status 1`, `failed to start (status 3)`, `was killed by SIGKILL`, or the
    status 0 of a worker that did not live `MIN_UP_S`."""
    if code == EXIT_STARTUP:
        return "failed to start (status 3)"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    if code == 0:
        return "exited by itself right after its start (status 0)"
    return f"died with status {code}"


def supervise(args: argparse.Namespace) -> int:
    """`viperhttp run --workers N`."""
    _setup_logging(args.log_level)
    return supervise_command(lambda port: child_argv(_with_port(args, port), reuse_port=True),
                             args.host, args.port, args.workers, tls=bool(args.https))


def _with_port(args: argparse.Namespace, port: int) -> argparse.Namespace:
    copy = argparse.Namespace(**vars(args))
    copy.port = port
    return copy


def _on_hup(tls: bool, relay: Callable[..., None]) -> Callable[..., None]:
    """The supervisor's SIGHUP (docs/guide/deployment.md): with TLS every child re-reads its
    certificate; without, nothing is reloaded and nothing stops (SIGTERM stops)."""
    def handler(signum: int, frame: Any) -> None:
        if tls:
            relay(signum, frame)
        else:
            log.info("sighup: no TLS certificate to reload; SIGTERM or SIGINT stops the server")
    return handler


def supervise_command(argv_for_port: Callable[[int], List[str]], host: str, port: int,
                      workers: int, tls: bool = False) -> int:
    """Runs `workers` copies of the command `argv_for_port(port)` sharing `port`; the exit
    status (0 after a clean stop, 1 when restarts ran out, 3 when a worker failed to start)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        log.error("workers > 1 needs SO_REUSEPORT (not available on this system)")
        return EXIT_STARTUP
    try:
        holder = _reserve_port(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # the words of a single process's (viperhttp_bridge.run)
            from viperhttp_bridge import AddressInUseError

            log.error("startup failed: %s", AddressInUseError(host, port))
        else:
            log.error("startup failed: cannot bind %s: %s", listen_address(host, port), exc)
        return EXIT_STARTUP
    if holder is not None:
        port = holder.getsockname()[1]
    sup = Supervisor(argv_for_port(port), workers, port)
    previous = {sig: signal.signal(sig, sup.forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _on_hup(tls, sup.relay))
    log.info("supervising %d workers on %s", workers, listen_address(host, port))
    try:
        return sup.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if holder is not None:
            holder.close()


def run_workers(host: str, port: int, workers: int, tls: bool = False) -> None:
    """`app.run(workers=N)` in a script: re-runs this program N times as workers (each with
    `WORKER_ENV` set, so their `run()` serves with `reuse_port`) and supervises them."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("workers > 1 needs SO_REUSEPORT")
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:  # started with `python -m module`
        base = [sys.executable, "-m", spec.name]
    else:
        base = [sys.executable, os.path.abspath(sys.argv[0])]
    status = supervise_command(lambda _port: base + sys.argv[1:], host, port, workers, tls=tls)
    if status:
        raise SystemExit(status)


def reload_loop(args: argparse.Namespace) -> int:
    """Runs one worker and restarts it when a `.py` file under the app directory changes."""
    from watchfiles import PythonFilter, watch

    _setup_logging(args.log_level)
    root = os.path.abspath(args.app_dir)
    stop = threading.Event()
    proc: List[Optional["subprocess.Popen[bytes]"]] = [None]

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        if proc[0] is not None and proc[0].poll() is None:
            proc[0].send_signal(STOP_SIGNAL)  # as the supervisor's `forward`

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    def relay(signum: int, _frame: Any = None) -> None:
        if proc[0] is not None and proc[0].poll() is None:
            proc[0].send_signal(signum)

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _on_hup(bool(args.https), relay))

    def start() -> None:
        child = subprocess.Popen(child_argv(args, reuse_port=False), env=child_env())
        proc[0] = child
        log.info("reload: serving (pid %d), watching %s", child.pid, root)

    start()
    told: List[Optional["subprocess.Popen[bytes]"]] = [None]  # the child whose end was logged
    for changes in watch(root, watch_filter=PythonFilter(), stop_event=stop,
                         yield_on_timeout=True, rust_timeout=500, raise_interrupt=False):
        if stop.is_set():
            break
        if not changes:
            current = proc[0]
            if current is not None and current is not told[0] and current.poll() is not None:
                # After an import error's traceback, say that the reloader still waits: without
                # this line nothing told the developer what to do next (docs/guide/deployment.md).
                told[0] = current
                log.info("reload: the app exited (status %d); waiting for a .py change to restart it",
                         current.returncode)
            continue
        names = sorted({os.path.relpath(path, root) for _kind, path in changes})
        log.info("reload: %s changed; restarting", ", ".join(names))
        current = proc[0]
        if current is not None and current.poll() is None:
            current.terminate()
            try:
                current.wait(KILL_AFTER_S)
            except subprocess.TimeoutExpired:
                current.kill()
                current.wait()
        start()
    current = proc[0]
    if current is not None:
        try:
            current.wait(KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            current.kill()
            current.wait()
    return 0
