"""`viperhttp run` / `python -m viperhttp run`: one worker, `--workers N` with SO_REUSEPORT and
supervision, `--reload`, exit status 3 on a failed start-up (docs/guide/deployment.md)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Set

import httpx
import pytest

from conftest import TESTS, free_port
from apps.bridge_support import wait_for

APPS = TESTS / "apps"


class Cli:
    """A `viperhttp run ...` process, its log and its port."""

    def __init__(self, args: List[str], tmp: Path, cwd: Path = APPS, env: Optional[dict] = None,
                 module: bool = True, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.log_path = tmp / f"cli-{self.port}.log"
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1")
        full_env.update(env or {})
        if module:
            cmd = [sys.executable, "-m", "viperhttp"]
        else:  # the console script of the package
            cmd = [str(Path(sys.executable).parent / "viperhttp")]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd + ["run", *args, "--host", host, "--port", str(self.port)],
                cwd=str(cwd), env=full_env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        self.base = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logs()
            try:
                if httpx.get(self.base + "/pid", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("not ready:\n" + self.logs())

    def pids(self, n: int = 40) -> Set[int]:
        seen = set()
        for _ in range(n):
            # A new connection each time: the kernel balances connections, not requests.
            seen.add(httpx.get(self.base + "/pid", timeout=5).json()["pid"])
        return seen

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def cli(tmp_path):
    started: List[Cli] = []

    def start(*args: str, **kw) -> Cli:
        c = Cli(list(args), tmp_path, **kw)
        started.append(c)
        return c

    yield start
    for c in started:
        c.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie that its parent has not reaped yet counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_single_worker_module_and_console_script(cli):
    c = cli("cli_app:app")
    c.wait_ready()
    assert c.pids(5) == {c.proc.pid}  # one worker serves in the CLI's own process
    assert c.stop() == 0
    s = cli("cli_app:app", module=False)
    s.wait_ready()
    assert httpx.get(s.base + "/pid").status_code == 200
    assert s.stop() == 0


def test_two_workers_two_pids_and_clean_sigterm(cli):
    c = cli("cli_app:app", "--workers", "2")
    c.wait_ready()
    deadline = time.monotonic() + 20
    pids: Set[int] = set()
    while len(pids) < 2 and time.monotonic() < deadline:
        pids |= c.pids(20)
    assert len(pids) == 2, pids
    assert c.proc.pid not in pids  # the supervisor serves nothing itself
    assert c.stop(signal.SIGTERM) == 0
    for pid in pids:
        assert not _alive(pid), pid
    logs = c.logs()
    assert "all workers stopped" in logs
    assert "Traceback" not in logs
    with pytest.raises(httpx.ConnectError):
        httpx.get(c.base + "/pid", timeout=2)


def test_sigint_forwarded_too(cli):
    c = cli("cli_app:app", "--workers", "2")
    c.wait_ready()
    assert c.stop(signal.SIGINT) == 0


def test_a_stop_while_workers_start_ends_them_all(cli):
    """SIGINT while the workers still import the app: forwarded as SIGTERM, which ends a worker
    at any point of its start (a SIGINT landing inside an import-lock callback was swallowed,
    the worker served on and the stop waited 30 s for it: seen once in CI)."""
    c = cli("cli_app:app", "--workers", "2")
    assert wait_for(lambda: "worker 1 started" in c.logs(), 20), c.logs()
    assert c.stop(signal.SIGINT, timeout=15) == 0, c.logs()


def _worker_pids(c) -> Set[int]:
    pids: Set[int] = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        pids |= c.pids(10)
    assert len(pids) == 2, pids
    return pids


def test_workers_stop_when_the_supervisor_is_killed(cli):
    """SIGKILL cannot be forwarded: each worker notices its supervisor is gone, drains and
    exits instead of serving on, orphaned."""
    c = cli("cli_app:app", "--workers", "2")
    c.wait_ready()
    pids = _worker_pids(c)
    c.proc.kill()
    c.proc.wait(5)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), pids
    assert "supervisor (pid %d) is gone: stopping" % c.proc.pid in c.logs()
    with pytest.raises(httpx.ConnectError):
        httpx.get(c.base + "/pid", timeout=2)


def test_sighup_neither_stops_nor_orphans(cli):
    """Without TLS there is nothing to reload: the supervisor logs it and everyone serves on."""
    c = cli("cli_app:app", "--workers", "2")
    c.wait_ready()
    pids = _worker_pids(c)
    c.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert c.proc.poll() is None
    assert _worker_pids(c) == pids
    assert "sighup: no TLS certificate to reload" in c.logs()
    assert c.stop() == 0
    assert not any(_alive(p) for p in pids)


def test_sighup_stops_nothing_in_a_single_process_either(cli):
    """Its default action ended the process (exit 129, no drain, no lifespan exit)."""
    c = cli("cli_app:app")
    c.wait_ready()
    c.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert c.proc.poll() is None, c.logs()
    assert httpx.get(c.base + "/pid", timeout=5).status_code == 200
    assert "sighup: no TLS certificate to reload" in c.logs()
    assert c.stop() == 0


def test_a_target_that_is_not_an_app_is_one_line_and_exit_3(cli, tmp_path):
    (tmp_path / "not_app.py").write_text("ITEMS = {}\ndef create_app():\n    pass\n")
    for attr, words in (("ITEMS", "is a dict, not a ViperHTTP app"),
                        ("create_app", "is a function, not a ViperHTTP app (a factory?")):
        c = cli(f"not_app:{attr}", "--app-dir", str(tmp_path))
        assert c.proc.wait(30) == 3, c.logs()
        assert words in c.logs() and "Traceback" not in c.logs(), c.logs()


def test_workers_on_a_port_in_use_fail_to_start(cli):
    """A second `--workers` run on the port of a running one: exit 3 with the bind error, as a
    single process; the workers' `SO_REUSEPORT` bind alone would have shared the port."""
    first = cli("cli_app:app", "--workers", "2")
    first.wait_ready()
    log = first.log_path.parent / "second.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "viperhttp", "run", "cli_app:app", "--workers", "2",
                                 "--host", "127.0.0.1", "--port", str(first.port)], cwd=str(APPS),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, VIPERHTTP_NO_UVLOOP="1"))
    try:
        assert proc.wait(30) == 3, log.read_text()
        # the single process's words (viperhttp_bridge.AddressInUseError), not the supervisor's own
        assert (f"startup failed: [Errno 98] error while attempting to bind on address 127.0.0.1:{first.port}: "
                "Address already in use") in log.read_text(), log.read_text()
    finally:
        if proc.poll() is None:  # it started after all: stop it and its workers
            proc.terminate()
            proc.wait(30)
    assert first.stop() == 0


def test_crashed_worker_is_restarted(cli):
    c = cli("cli_app:app", "--workers", "2")
    c.wait_ready()
    before = set()
    deadline = time.monotonic() + 20
    while len(before) < 2 and time.monotonic() < deadline:
        before |= c.pids(10)
    victim = next(iter(before))
    os.kill(victim, signal.SIGKILL)
    time.sleep(1.8)  # restart delay 1 s + start-up
    after = set()
    deadline = time.monotonic() + 20
    while len(after) < 2 and time.monotonic() < deadline:
        after |= c.pids(10)
    assert len(after) == 2, after
    assert victim not in after
    assert (before - {victim}) <= after  # the other worker kept serving
    assert "was killed by SIGKILL; restarting in 1s" in c.logs()
    assert c.stop() == 0


@pytest.mark.parametrize("status, words", [("5", "died with status 5"),
                                           ("0", "exited by itself right after its start (status 0)")])
def test_restart_limit_gives_up(cli, status, words):
    # Every worker exits right after import (not the start-up status 3; status 0 too: a clean
    # exit that soon is no replacement, it was restarted every second forever): the supervisor
    # restarts them, then gives up once one worker slot died 5 times within a minute.
    c = cli("scale_app:app", "--workers", "2", env={"SCALE_EXIT_AT_IMPORT": status})
    assert c.proc.wait(30) == 1, c.logs()
    logs = c.logs()
    assert 5 <= logs.count(f"{words}; restarting in 1s") <= 10, logs  # 5 per slot at most
    assert f"{words}; 5 times within 60s: giving up" in logs


def test_workers_replaced_one_at_a_time_never_use_up_the_restart_budget(cli):
    """SIGTERM to a worker (how workers are replaced one by one, new code included) is a clean
    stop, not a death: six in a row on one slot, the service keeps serving with two workers."""
    from viperhttp.supervisor import MIN_UP_S

    c = cli("cli_app:app", "--workers", "2")
    c.wait_ready()
    seen: dict = {}
    for _ in range(6):
        pids = _worker_pids(c)
        now = time.monotonic()
        for pid in pids:
            seen.setdefault(pid, now)
        victim = min(pids)
        # a clean exit sooner than MIN_UP_S after the start counts as a death: wait that long
        time.sleep(max(0.0, MIN_UP_S + 0.2 - (time.monotonic() - seen[victim])))
        os.kill(victim, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while victim in _worker_pids(c) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert c.proc.poll() is None, c.logs()
    assert len(_worker_pids(c)) == 2
    logs = c.logs()
    assert logs.count("stopped; starting a new one in 1s") == 6 and "giving up" not in logs, logs
    assert c.stop() == 0


def test_a_replacement_that_cannot_start_does_not_stop_the_others(cli, tmp_path):
    """Only a first start that fails stops everything; a replacement that fails to start (a
    database down for a while) is tried again with a growing delay, never given up on."""
    flag = tmp_path / "db-down"
    c = cli("scale_app:app", "--workers", "2", env={"SCALE_FAIL_START_IF": str(flag)})
    c.wait_ready()
    pids = _worker_pids(c)
    flag.write_text("1")
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    # tried again after 1, 2, 4 s (never counted as a crash: 5 of them do not stop the service)
    assert wait_for(lambda: "failed to start (status 3); trying again in 4s" in c.logs(), 30), c.logs()
    assert c.proc.poll() is None
    assert httpx.get(c.base + "/pid", timeout=5).json()["pid"] == max(pids)  # the other one serves
    flag.unlink()
    deadline = time.monotonic() + 20
    while len(c.pids(10)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_worker_pids(c)) == 2 and c.proc.poll() is None, c.logs()
    assert c.stop() == 0


@pytest.mark.parametrize("target, env, needle", [
    ("cli_bad_startup:app", {}, "startup failed: a startup handler raised RuntimeError: database unreachable"),
    ("no_such_module:app", {}, "module 'no_such_module' not found"),
    ("cli_app:nothing", {}, "has no attribute 'nothing'"),
])
def test_failed_startup_exits_3(cli, target, env, needle):
    c = cli(target, env=env)
    assert c.proc.wait(30) == 3
    assert needle in c.logs()


def test_a_file_path_is_a_target_as_with_fastapi_run(cli, tmp_path):
    """`viperhttp run main.py` (and `pkg/main.py:api`, a module of a package with relative imports),
    as `fastapi run main.py` takes it, with one worker and with two; it was "module 'main.py' not
    found"."""
    (tmp_path / "main.py").write_text("from cli_app import app\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("NAME = 'pkg.main'\n")
    (pkg / "main.py").write_text(
        "from cli_app import app as api\n\nfrom .helpers import NAME\n\n\n"
        "@api.get('/name')\ndef name():\n    return {'name': NAME, 'module': __name__}\n")
    env = {"PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    for args in (["main.py"], ["main.py", "--workers", "2"]):
        c = cli(*args, cwd=tmp_path, env=env)
        c.wait_ready()
        assert c.stop() == 0, c.logs()
    c = cli("pkg/main.py:api", cwd=tmp_path, env=env)
    c.wait_ready()
    assert httpx.get(c.base + "/name").json() == {"name": "pkg.main", "module": "pkg.main"}
    assert c.stop() == 0
    c = cli("missing.py", cwd=tmp_path)
    assert c.proc.wait(30) == 3 and "startup failed: file 'missing.py' not found" in c.logs()


def test_a_file_path_target_with_a_vfs_root(cli, tmp_path):
    """`--vfs-root` makes the device root the working directory before the app is imported; a
    file target is still the one named from where the command started (it was "file 'main.py'
    not found"), with one worker and with two."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("from the root")
    (tmp_path / "main.py").write_text(
        "from cli_app import app\n\n\n@app.get('/hello')\ndef hello():\n"
        "    with open('hello.txt') as f:  # relative to the device root\n        return f.read()\n")
    env = {"PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    for args in (["main.py"], ["main.py", "--workers", "2"]):
        c = cli(*args, "--vfs-root", "www", cwd=tmp_path, env=env)
        c.wait_ready()
        assert httpx.get(c.base + "/hello").text == "from the root"
        assert c.stop() == 0, c.logs()


def test_help_gives_examples_and_dev_says_what_to_write(tmp_path):
    """A FastAPI user's first two commands: `--help` shows how to serve and reload an app, and
    `viperhttp dev main.py` (FastAPI's `fastapi dev`) names the command to write instead of
    argparse's bare "invalid choice: 'dev'"."""
    def viperhttp(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "viperhttp", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    helped = viperhttp("--help")
    assert helped.returncode == 0
    assert "viperhttp run main:app --reload --host 127.0.0.1" in helped.stdout, helped.stdout
    assert "0.0.0.0:8080" in helped.stdout  # the default address, said where it is first read
    dev = viperhttp("dev", "main.py")
    assert dev.returncode == 2 and dev.stdout == ""
    assert dev.stderr.splitlines() == [
        "viperhttp: there is no `dev` command; for FastAPI's `fastapi dev`, write:",
        "  viperhttp run main.py --reload --host 127.0.0.1 --port 8000"], dev.stderr
    # options before the path (as fastapi dev takes them) and the user's own port kept
    dev = viperhttp("dev", "--port", "9000", "app/main.py", "--reload")
    assert dev.returncode == 2
    assert dev.stderr.splitlines()[1] == "  viperhttp run app/main.py --reload --host 127.0.0.1 --port 9000", dev.stderr


def test_a_missing_vfs_root_is_named_and_exits_3(cli, tmp_path):
    """The device-apps guide's command with no `device_fs` yet: one line naming the option (was
    `startup failed: [Errno 2] No such file or directory: '/abs/device_fs'`)."""
    (tmp_path / "main.py").write_text("from cli_app import app\n")
    env = {"PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    c = cli("main", "--vfs-root", "./device_fs", cwd=tmp_path, env=env)
    assert c.proc.wait(30) == 3, c.logs()
    assert "startup failed: --vfs-root './device_fs' is not a directory" in c.logs(), c.logs()
    assert "Traceback" not in c.logs()


def test_failed_startup_with_workers_exits_3(cli):
    c = cli("cli_bad_startup:app", "--workers", "2")
    assert c.proc.wait(30) == 3
    assert "failed to start (status 3)" in c.logs()


def test_a_certificate_that_cannot_be_used_exits_3_and_is_not_retried(cli, tmp_path):
    missing = str(tmp_path / "missing.pem")
    c = cli("cli_app:app", "--tls-cert", missing, "--tls-key", missing)  # a certificate implies --https
    assert c.proc.wait(30) == 3, c.logs()
    assert "cannot read TLS certificate file" in c.logs() and "Traceback" not in c.logs()
    c = cli("cli_app:app", "--workers", "2", "--tls-cert", missing, "--tls-key", missing)
    assert c.proc.wait(30) == 3, c.logs()
    logs = c.logs()
    assert "failed to start (status 3)" in logs and "restarting" not in logs


def test_an_app_that_fails_to_import_shows_where(cli, tmp_path):
    (tmp_path / "broken_main.py").write_text("import broken_helper\napp = None\n")
    (tmp_path / "broken_helper.py").write_text("import os\nX = os.environ['NO_SUCH_SETTING_XYZ']\n")
    c = cli("broken_main:app", "--app-dir", str(tmp_path))
    assert c.proc.wait(30) == 3
    logs = c.logs()
    assert "importing 'broken_main' failed: KeyError: 'NO_SUCH_SETTING_XYZ'" in logs
    assert 'broken_helper.py", line 2' in logs  # file and line of the failure


def test_a_refused_setting_is_one_line(tmp_path):
    env = dict(os.environ, VIPERHTTP_NO_UVLOOP="1")
    proc = subprocess.run([sys.executable, "-m", "viperhttp", "run", "cli_app:app", "--port", "0",
                           "--shared-store", "http://x"],
                          cwd=APPS, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3 and "startup failed: shared_store must be a redis:// URL" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    # a port out of range is a usage error, as the other numeric options
    proc = subprocess.run([sys.executable, "-m", "viperhttp", "run", "cli_app:app", "--port", "99999"],
                          cwd=APPS, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "argument --port: 99999 is not in 0..65535" in proc.stderr


def test_version():
    proc = subprocess.run([sys.executable, "-m", "viperhttp", "--version"], capture_output=True, text=True,
                          timeout=30)
    import viperhttp

    assert proc.returncode == 0 and proc.stdout.strip() == f"viperhttp {viperhttp.__version__}"
    assert viperhttp.__version__ == viperhttp.version()


def test_port_in_use_exits_3():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = dict(os.environ, VIPERHTTP_NO_UVLOOP="1")
        proc = subprocess.run(
            [sys.executable, "-m", "viperhttp", "run", "cli_app:app", "--host", "127.0.0.1",
             "--port", str(port)], cwd=APPS, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    # one line naming the address, the one a script's `app.run()` logs (docs/internals/bridge.md)
    line = f"startup failed: [Errno 98] error while attempting to bind on address 127.0.0.1:{port}: Address already in use"
    assert proc.stderr.count(line) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_cli_port_overrides_a_module_that_runs_at_import(cli, tmp_path):
    (tmp_path / "runs_itself.py").write_text(
        "import os\nfrom viperhttp import ViperHTTP\napp = ViperHTTP()\n"
        "@app.get('/pid')\ndef pid():\n    return {'pid': os.getpid()}\n"
        "app.run(port=1, host='0.0.0.0')\n")  # port 1 would fail: the CLI's --port wins
    c = cli("runs_itself", cwd=tmp_path)
    c.wait_ready()
    assert c.stop() == 0


def test_reload_restarts_on_py_change(cli, tmp_path):
    src = tmp_path / "reload_app.py"
    src.write_text("import os\nfrom viperhttp import ViperHTTP\napp = ViperHTTP()\n"
                   "@app.get('/pid')\ndef pid():\n    return {'pid': os.getpid(), 'v': 1}\n")
    c = cli("reload_app:app", "--reload", cwd=tmp_path)
    c.wait_ready()
    first = httpx.get(c.base + "/pid").json()
    assert first["v"] == 1
    (tmp_path / "notes.txt").write_text("not python")  # ignored by the filter
    src.write_text(src.read_text().replace("'v': 1", "'v': 2"))
    deadline = time.monotonic() + 20
    body = first
    while time.monotonic() < deadline:
        try:
            body = httpx.get(c.base + "/pid", timeout=1).json()
            if body["v"] == 2:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert body["v"] == 2, c.logs()
    assert body["pid"] != first["pid"]
    assert "reload_app.py changed" in c.logs()
    assert "notes.txt" not in c.logs()
    assert c.stop() == 0
    assert not _alive(body["pid"])


def test_reload_says_it_waits_after_a_broken_save_and_recovers(cli, tmp_path):
    """A save with a syntax error: the traceback, then a line saying the reloader waits for the
    next change (nothing said so before), and the fixed file serves again."""
    src = tmp_path / "reload_app.py"
    good = ("import os\nfrom viperhttp import ViperHTTP\napp = ViperHTTP()\n"
            "@app.get('/pid')\ndef pid():\n    return {'pid': os.getpid()}\n")
    src.write_text(good)
    c = cli("reload_app:app", "--reload", cwd=tmp_path)
    c.wait_ready()
    src.write_text(good + "def broken(:\n")
    wait_for(lambda: "waiting for a .py change to restart it" in c.logs(), timeout=20)
    assert "SyntaxError" in c.logs()
    assert "reload: the app exited (status 3); waiting for a .py change to restart it" in c.logs()
    src.write_text(good)
    c.wait_ready()
    assert c.logs().count("waiting for a .py change") == 1  # once per exit, not per tick
    assert c.stop() == 0


def test_run_keyword_workers(tmp_path):
    port = free_port()
    env = dict(os.environ, VIPERHTTP_NO_UVLOOP="1", PYTHONUNBUFFERED="1")
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([sys.executable, str(APPS / "workers_run_app.py"), str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    c = Cli.__new__(Cli)
    c.proc, c.port, c.log_path, c.base = proc, port, tmp_path / "log", f"http://127.0.0.1:{port}"
    try:
        c.wait_ready()
        pids: Set[int] = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            pids |= c.pids(20)
        assert len(pids) == 2 and proc.pid not in pids, pids
        assert c.stop() == 0, c.logs()
        assert not any(_alive(p) for p in pids)
    finally:
        c.kill()


def test_run_keyword_workers_checked(tmp_path):
    code = ("import viperhttp\napp = viperhttp.ViperHTTP()\n"
            "try:\n    app.run(port=0, workers='2')\nexcept TypeError as e:\n    print(e)\n"
            "try:\n    app.run(port=0, workers=0)\nexcept ValueError as e:\n    print(e)\n"
            "try:\n    app.run(port=0, workers=1025)\nexcept ValueError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.split("\n")[:3] == ["workers must be an int", "workers out of range",
                                           "workers out of range"], proc


def test_bridge_pool_options(cli):
    c = cli("cli_app:app")
    c.wait_ready()
    assert httpx.get(c.base + "/pool").json() == {"max": 256, "queue": 256, "workers": 4,
                                                  "on_demand": True}  # the host default
    assert c.stop() == 0
    c = cli("cli_app:app", "--workers", "2", "--bridge-max-workers", "8", "--bridge-queue-size", "32")
    c.wait_ready()
    assert {httpx.get(c.base + "/pool").json()["max"] for _ in range(6)} == {8}  # in every worker
    # the default pool's shape with the other bound: 4 at start, grown on demand
    assert httpx.get(c.base + "/pool").json() == {"max": 8, "queue": 32, "workers": 4, "on_demand": True}
    assert c.stop() == 0
    for bad in (["--bridge-max-workers", "0"], ["--bridge-max-workers", "100000000"],
                ["--bridge-queue-size", "-5"], ["--bridge-max-workers", "many"]):
        proc = subprocess.run([sys.executable, "-m", "viperhttp", "run", "cli_app:app", *bad], cwd=APPS,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and "is not" in proc.stderr, (bad, proc.stderr)


def test_http2_max_streams_option(cli):
    """`--http2-max-streams` (1..64, the runtime's range) reaches the server's SETTINGS."""
    import struct

    from support.h2raw import SETTINGS, RawH2

    c = cli("cli_app:app", "--http2", "--http2-max-streams", "32")
    c.wait_ready()
    raw = RawH2(c.port)
    assert raw.until(lambda r: any(f.type == SETTINGS and not f.flags for f in r.frames))
    frame = next(f for f in raw.frames if f.type == SETTINGS and not f.flags)
    settings = dict(struct.unpack(">HI", frame.payload[i:i + 6]) for i in range(0, len(frame.payload), 6))
    assert settings[3] == 32  # SETTINGS_MAX_CONCURRENT_STREAMS
    raw.close()
    assert c.stop() == 0
    proc = subprocess.run([sys.executable, "-m", "viperhttp", "run", "cli_app:app", "--http2-max-streams", "65"],
                          cwd=APPS, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "65 is not in 1..64" in proc.stderr


def _sleepy_app(tmp_path, name: str, seconds: float, blocking: bool = False) -> str:
    """A module `name` whose `/sleep` handler sleeps `seconds` (in the thread pool when
    `blocking`); returns the `module:app` target."""
    (tmp_path / f"{name}.py").write_text(
        "import time\nfrom viperhttp import ViperHTTP\napp = ViperHTTP()\n"
        "@app.get('/pid')\ndef pid():\n    return {}\n"
        f"@app.get('/sleep', blocking={blocking})\ndef sleep():\n    time.sleep({seconds})\n    return {{}}\n")
    return f"{name}:app"


def _stop_while_sleeping(c, calls: int, settle: float) -> float:
    """`calls` requests to `/sleep` in the background, then SIGTERM: the seconds until exit
    (status 0 asserted). Requests cut by the stop end without an answer."""
    import threading

    def call():
        try:
            httpx.get(c.base + "/sleep", timeout=30)
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for t in threads:
        t.start()
    time.sleep(settle)
    t0 = time.monotonic()
    c.proc.send_signal(signal.SIGTERM)
    assert c.proc.wait(30) == 0, c.logs()
    took = time.monotonic() - t0
    for t in threads:
        t.join(30)
    return took


def test_shutdown_timeout_option_bounds_the_drain(cli, tmp_path):
    """`--shutdown-timeout 0.5` with four 1 s blocking handlers in line: the one running
    finishes, the others are not started, so the stop takes about 1 s, not 4."""
    c = cli(_sleepy_app(tmp_path, "stuck_app", 1), "--app-dir", str(tmp_path), "--shutdown-timeout", "0.5")
    c.wait_ready()
    took = _stop_while_sleeping(c, calls=4, settle=0.3)
    assert "unexpected keyword" not in c.logs()
    assert took < 1.6, f"the stop took {took:.1f}s"


def test_forwarded_allow_ips_option_and_environment(cli):
    fwd = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    c = cli("cli_app:app", "--forwarded-allow-ips", "127.0.0.1")
    c.wait_ready()
    assert httpx.get(c.base + "/client", headers=fwd).json() == {"host": "203.0.113.5", "scheme": "https"}
    assert c.stop() == 0
    c = cli("cli_app:app", "--workers", "2", env={"FORWARDED_ALLOW_IPS": "127.0.0.0/8"})  # uvicorn's variable
    c.wait_ready()
    assert httpx.get(c.base + "/client", headers=fwd).json() == {"host": "203.0.113.5", "scheme": "https"}
    assert c.stop() == 0
    c = cli("cli_app:app")
    c.wait_ready()
    assert httpx.get(c.base + "/client", headers=fwd).json() == {"host": "127.0.0.1", "scheme": "http"}
    assert c.stop() == 0


def test_access_log_and_log_level(cli):
    c = cli("cli_app:app", "--access-log")
    c.wait_ready()
    httpx.get(c.base + "/pid?x=1")
    time.sleep(1.2)  # access lines reach Python logging within the bridge's drain interval
    assert c.stop() == 0
    assert "GET /pid?x=1 -> 200" in c.logs()
    assert "serving on" in c.logs() and "wifi=True" not in c.logs()  # no device start line here
    quiet = cli("cli_app:app", "--log-level", "warning")
    quiet.wait_ready()
    httpx.get(quiet.base + "/pid")
    assert quiet.stop() == 0
    assert "GET /pid" not in quiet.logs() and "serving on" not in quiet.logs()


def test_an_ipv6_listen_address_is_logged_in_brackets(cli):
    """`::1:8000` would read as an address with one more group; the start lines of the
    supervisor and of each worker show `[::1]:8000`, as a URL does."""
    c = cli("cli_app:app", "--workers", "2", host="::1")
    c.wait_ready()
    assert c.stop() == 0
    assert f"supervising 2 workers on [::1]:{c.port}" in c.logs()
    assert f"serving on http://[::1]:{c.port}" in c.logs()


def test_usage_errors_exit_2():
    for argv in ([], ["run"], ["run", "cli_app:app", "--workers", "0"],
                 ["run", "cli_app:app", "--port", "http"]):
        proc = subprocess.run([sys.executable, "-m", "viperhttp", *argv], cwd=APPS,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "usage" in proc.stderr or "--workers must be >= 1" in proc.stderr


def test_a_blocking_pool_handler_does_not_hold_the_exit(cli, tmp_path):
    """A `blocking=True` handler runs in a pool thread, which nothing can stop: at the end of
    the grace period the command says how many are still running and exits, instead of the
    interpreter waiting for them (20 s here)."""
    c = cli(_sleepy_app(tmp_path, "pool_app", 20, blocking=True), "--app-dir", str(tmp_path),
            "--shutdown-timeout", "1")
    c.wait_ready()
    took = _stop_while_sleeping(c, calls=1, settle=0.5)
    assert took < 4, f"the stop took {took:.1f}s"
    assert "1 blocking call(s) still running in the thread pool are left behind" in c.logs()


def test_a_blocking_pool_handler_does_not_hold_a_scripts_own_exit(tmp_path):
    """The same with a script that calls `app.run()` itself and goes on after it: the code
    after `run()` runs at once and the interpreter's exit does not wait for the pool thread
    (the pool's threads are daemon threads, as anyio's)."""
    from types import SimpleNamespace

    port = free_port()
    script = tmp_path / "script_app.py"
    script.write_text(
        "import time\nfrom viperhttp import ViperHTTP\napp = ViperHTTP()\n"
        "@app.get('/pid')\ndef pid():\n    return {}\n"
        "@app.get('/sleep', blocking=True)\ndef sleep():\n    time.sleep(20)\n    return {}\n"
        f"app.run(host='127.0.0.1', port={port}, shutdown_timeout_s=1)\n"
        "print('after run', flush=True)\n")
    log_path = tmp_path / "script.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(script)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                env=dict(os.environ, PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1"))
    c = SimpleNamespace(proc=proc, base=f"http://127.0.0.1:{port}", logs=lambda: log_path.read_text())
    try:
        Cli.wait_ready(c)
        took = _stop_while_sleeping(c, calls=1, settle=0.5)
        assert took < 4, f"the script's exit took {took:.1f}s:\n{c.logs()}"
        assert "after run" in c.logs() and "1 blocking call(s) still running in the thread pool are left behind" in c.logs()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_https_without_a_certificate_names_the_options(cli):
    c = cli("cli_app:app", "--https")
    assert c.proc.wait(30) == 3
    assert "give the certificate and key: --tls-cert/--tls-key" in c.logs()
    c = cli("cli_app:app", "--tls-cert", str(APPS / "cli_app.py"))  # a certificate without its key
    assert c.proc.wait(30) == 3
    assert "give the certificate and key: --tls-cert/--tls-key" in c.logs()
