"""Idle keep-alive connections (benches/run_idle.sh; docs/internals/benchmarks.md).

For ViperHTTP (examples/hello.py), bare hyper (benches/hyper-hello) and nginx, one after the
other: start the server, time fresh requests (a new connection, `GET /hello`, the whole answer
read, closed), read the server's RSS, then open IDLE_CONNS HTTP/1.1 connections that each send
one request, read the answer and stay open, idle. One second later read the RSS again and time
fresh requests while they are all open, then check that the server still holds every one of them
(a closed one would make the per-connection figure a lie). Reports KiB per idle connection
((RSS after − RSS before) ÷ connections) and the median fresh-request latency, before and while.

Configuration (environment, set by run_idle.sh): IDLE_CONNS (10000), FRESH (20 fresh requests),
SERVERS (viperhttp hyper nginx), NGINX (path of the binary), OUT (markdown file).
Standard library only: run by any python3.
"""
import errno
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from paths import ROOT, free_port, product_commit, rss_kib, tree, wait_port

REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
IN_FLIGHT = 256  # connections being set up at once: well under the listen backlogs


def response_complete(buf):
    """True once `buf` holds one whole response with a Content-Length body (all three servers
    answer /hello that way)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= head_end + 4 + length


def fresh_request(port):
    """Milliseconds for connect + `GET /hello` + the whole answer, on a new connection."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(REQUEST)
        buf = b""
        while not response_complete(buf):
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"fresh request on :{port}: connection closed early")
            buf += chunk
    elapsed = (time.perf_counter() - t0) * 1e3
    if not buf.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"fresh request on :{port}: {buf[:80]!r}")
    return elapsed


def fresh_median(port, count):
    return statistics.median(fresh_request(port) for _ in range(count))


def open_idle(port, count, timeout=120.0):
    """`count` connections, each having sent one request and read its answer; returned open."""
    sel = selectors.DefaultSelector()
    done, pending, started = [], {}, 0
    deadline = time.monotonic() + timeout
    while len(done) < count:
        while started < count and len(pending) < IN_FLIGHT:
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, f"connect #{started}: {os.strerror(err)}")
            pending[s] = b""
            sel.register(s, selectors.EVENT_WRITE)
            started += 1
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(done)} of {count} connections answered in {timeout} s")
        for key, events in sel.select(timeout=1.0):
            s = key.fileobj
            if events & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {os.strerror(err)}")
                s.send(REQUEST)  # 40 bytes into an empty send buffer: sent whole
                sel.modify(s, selectors.EVENT_READ)
                continue
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"server closed a connection before answering ({len(done)} open)")
            pending[s] += chunk
            if response_complete(pending[s]):
                if not pending[s].startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"answer {pending.pop(s)[:80]!r}")
                del pending[s]
                sel.unregister(s)
                done.append(s)
    sel.close()
    return done


def still_open(socks):
    """How many of `socks` the server has not closed (a closed one reads as EOF or an error)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    for key, _ in sel.select(timeout=0):
        try:
            if not key.fileobj.recv(1, socket.MSG_PEEK):
                closed += 1
        except OSError:
            closed += 1
    sel.close()
    return len(socks) - closed


class Target:
    """One server under test, started in its own session and stopped by its group id."""

    def __init__(self, name, tmp):
        self.name, self.port = name, free_port()
        if name == "viperhttp":
            cmd = [os.path.join(ROOT, ".venv", "bin", "python"),
                   os.path.join(ROOT, "examples", "hello.py"), str(self.port)]
        elif name == "hyper":
            cmd = [os.path.join(ROOT, "target", "release", "hyper-hello"), str(self.port)]
        elif name == "nginx":
            cmd = self.nginx_command(tmp)
        else:
            raise ValueError(f"unknown server {name!r}; known: viperhttp hyper nginx")
        self.log = os.path.join(tmp, f"{name}.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if not wait_port(self.port, self.proc):
            self.stop()
            with open(self.log, errors="replace") as f:
                raise RuntimeError(f"{name} did not start:\n{f.read()[-3000:]}")

    def nginx_command(self, tmp):
        """nginx from benches/nginx.conf.template (as run_static.sh), sized for the idle crowd."""
        conf_dir = os.path.join(tmp, "nginx")
        www = os.path.join(tmp, "www")
        os.makedirs(conf_dir, exist_ok=True)
        os.makedirs(www, exist_ok=True)
        os.chmod(tmp, 0o755)  # nginx workers may run as an unprivileged user
        with open(os.path.join(ROOT, "benches", "nginx.conf.template")) as f:
            conf = f.read()
        conf = (conf.replace("@PORT@", str(self.port)).replace("@ROOT@", www)
                .replace("@TMP@", conf_dir)
                .replace("@CONNECTIONS@", str(int(os.environ.get("IDLE_CONNS", "10000")) + 1024)))
        path = os.path.join(conf_dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        nginx = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", conf_dir, "-e", os.path.join(conf_dir, "error.log"), "-c", path,
                "-g", "daemon off;"]

    def rss(self):
        return rss_kib(tree(self.proc.pid))

    def stop(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(3.0)
                return
            except subprocess.TimeoutExpired:
                continue


def run_one(name, tmp, conns, fresh):
    target = Target(name, tmp)
    try:
        for _ in range(50):  # warm: first requests build caches and thread-local buffers
            fresh_request(target.port)
        before_ms = fresh_median(target.port, fresh)
        time.sleep(0.5)
        rss0 = target.rss()
        t0 = time.monotonic()
        socks = open_idle(target.port, conns)
        setup_s = time.monotonic() - t0
        time.sleep(1.0)  # let the server settle into idle (buffers released, allocator trimmed)
        rss1 = target.rss()
        during_ms = fresh_median(target.port, fresh)
        held = still_open(socks)
        for s in socks:
            s.close()
        return {"name": name, "rss0": rss0, "rss1": rss1, "per_conn": (rss1 - rss0) / conns,
                "before_ms": before_ms, "during_ms": during_ms, "held": held,
                "setup_s": setup_s}
    finally:
        target.stop()


def main():
    conns = int(os.environ.get("IDLE_CONNS", "10000"))
    fresh = int(os.environ.get("FRESH", "20"))
    names = os.environ.get("SERVERS", "viperhttp hyper nginx").split()
    out_path = os.environ.get("OUT", os.path.join(ROOT, "benches", "results", "idle.md"))
    tmp = tempfile.mkdtemp(prefix="viperhttp-idle-")
    rows = []
    try:
        for name in names:
            r = run_one(name, tmp, conns, fresh)
            rows.append(r)
            print(f"{name}: {r}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    commit = product_commit()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    lines = [
        f"## {conns:,} idle keep-alive HTTP/1.1 connections (each sent one `GET /hello`, read the "
        "answer, stayed open)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on {os.cpu_count()} cores, "
        f"commit {commit}, load average at the end {load}. Fresh request = new connection + "
        f"`GET /hello` + whole answer, median of {fresh}.",
        "",
        "| server | RSS before KiB | RSS with idle KiB | KiB per idle connection | still open "
        "| fresh request, none idle | fresh request, all idle open | setup s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"viperhttp": "ViperHTTP (examples/hello.py)", "hyper": "bare hyper",
              "nginx": "nginx"}
    for r in rows:
        lines.append(f"| {labels.get(r['name'], r['name'])} | {r['rss0']:,} | {r['rss1']:,} | "
                     f"{r['per_conn']:.2f} | {r['held']:,} | {r['before_ms']:.2f} ms | "
                     f"{r['during_ms']:.2f} ms | {r['setup_s']:.1f} |")
    v = next((r for r in rows if r["name"] == "viperhttp"), None)
    if v:
        lines += ["", "Issue 11 targets (ViperHTTP):", "", "| target | measured | |",
                  "|---|---:|---|",
                  f"| ≤ 4 KiB per idle connection | {v['per_conn']:.2f} KiB | "
                  f"{'met' if v['per_conn'] <= 4 and v['held'] == conns else '**not met**'} |",
                  f"| fresh request < 2 ms with them open | {v['during_ms']:.2f} ms | "
                  f"{'met' if v['during_ms'] < 2 else '**not met**'} |"]
        if v["held"] != conns:
            lines.append(f"\nViperHTTP closed {conns - v['held']} of the idle connections during "
                         "the test: the per-connection figure does not count them.")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
