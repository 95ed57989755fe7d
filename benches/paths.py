"""Request-path benchmark (`make bench`, started by benches/run.sh; docs/internals/benchmarks.md).

Starts ViperHTTP (benches/apps/paths_app.py) and its peers side by side, checks that every server
gives the expected answer for every workload, then measures in rounds; within a round each workload
is run against every server in turn (the order rotates between rounds), so a slow spell of the
shared machine hits all servers alike. Per server and workload it reports the median round's
req/s, p50 and p99 (wrk -t1 -cCONNS), CPU per request (utime + stime of the server's whole process
tree, from /proc, over the measured window, ÷ requests) and RSS under load (VmRSS summed over the
tree, sampled just before the measured window ends), then the ratios and the issue 11 targets.

Configuration (environment, set by run.sh): DURATION, WARMUP (seconds per measured / warm-up wrk
run), CONNS, ROUNDS, PEERS, WORKLOADS, OUT (markdown file the report is also written to), BASE
(another build's python/ tree: peer "viperhttp-base", for before/after runs).
Standard library only: run by any python3.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_PY = os.path.join(ROOT, ".bench-venv", "bin", "python")
GRANIAN = os.path.join(ROOT, ".bench-venv", "bin", "granian")
PEERS_DIR = os.path.join(ROOT, "benches", "peers")
CLK_TCK = os.sysconf("SC_CLK_TCK")

POST_BODY = '{"name":"widget","price":9.5,"tags":["a","b"]}'
USER = {"id": 42, "name": "user", "email": "user@example.com", "active": True, "score": 1.5,
        "verbose": True, "roles": ["a", "b"], "team": None}

# name -> (label, method, target, expected JSON answer)
WORKLOADS = {
    "hello": ("sync hello `GET /hello`", "GET", "/hello", {"msg": "ok"}),
    "ahello": ("async hello `GET /ahello`", "GET", "/ahello", {"msg": "ok"}),
    "typed": ("typed GET `GET /users/42?verbose=1`", "GET", "/users/42?verbose=1", USER),
    "post": ("JSON POST `POST /items`", "POST", "/items", json.loads(POST_BODY)),
}


def granian(interface, app):
    return lambda port: [GRANIAN, "--interface", interface, "--workers", "1", "--port", str(port),
                         "--working-dir", PEERS_DIR, app]


# name -> (label, command for a port, workloads it serves). Bare hyper answers every path with the
# hello body, so it runs the hello workload only: it is the reference, not a competitor.
SERVERS = {
    "viperhttp": ("ViperHTTP", lambda port: [os.path.join(ROOT, ".venv", "bin", "python"),
                                            os.path.join(ROOT, "benches", "apps", "paths_app.py"),
                                            str(port)], set(WORKLOADS)),
    # The hello app of examples/hello.py (no pydantic imported): the "hello app" whose RSS the
    # issue's target is about; its sync hello is a cross-check of paths_app's.
    "viperhttp-hello": ("ViperHTTP, examples/hello.py", lambda port: [
        os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(ROOT, "examples", "hello.py"),
        str(port)], {"hello"}),
    "hyper": ("bare hyper", lambda port: [os.path.join(ROOT, "target", "release", "hyper-hello"),
                                          str(port)], {"hello"}),
    "granian-rsgi": ("Granian RSGI raw", granian("rsgi", "rsgi_paths_app:app"), set(WORKLOADS)),
    "fastapi-uvicorn": ("FastAPI + uvicorn", lambda port: [
        BENCH_PY, "-m", "uvicorn", "--app-dir", PEERS_DIR, "fastapi_paths_app:app",
        "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--log-level", "warning", "--no-access-log"], set(WORKLOADS)),
    "fastapi-granian": ("FastAPI + Granian", granian("asgi", "fastapi_paths_app:app"),
                        set(WORKLOADS)),
    "robyn": ("Robyn", lambda port: [BENCH_PY, os.path.join(PEERS_DIR, "robyn_app.py"), str(port)],
              set(WORKLOADS)),
}

# A/B of ViperHTTP itself: BASE=DIR (a copy of another build's python/ tree, its _native extension
# included) adds "viperhttp-base", paths_app run on that code; name it in PEERS.
if os.environ.get("BASE"):
    SERVERS["viperhttp-base"] = (
        "ViperHTTP, BASE build", lambda port: [
            "env", f"PYTHONPATH={os.environ['BASE']}", os.path.join(ROOT, ".venv", "bin", "python"),
            os.path.join(ROOT, "benches", "apps", "paths_app.py"), str(port)], set(WORKLOADS))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def tree(root):
    """The pids of `root` and all its descendants (granian forks a worker; others may too)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def cpu_ticks(pids):
    """utime + stime + cutime + cstime summed over `pids` (children reaped during the window move
    from their own counters into their parent's c* counters, so the sum stays continuous)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in rest[11:15])  # fields 14-17 of proc(5)
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


class Server:
    def __init__(self, name, logdir):
        self.name = name
        self.label, command, self.workloads = SERVERS[name]
        self.port = free_port()
        self.log = os.path.join(logdir, f"{name}.log")
        with open(self.log, "wb") as log:
            # Own session: stop() signals the whole group this started, by its id.
            self.proc = subprocess.Popen(command(self.port), cwd=ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_port(self.port, self.proc):
            self.stop()
            with open(self.log, errors="replace") as f:
                raise RuntimeError(f"{name} did not start:\n{f.read()[-3000:]}")

    def stop(self):
        """SIGTERM, then SIGKILL after 3 s: some peers (Robyn) hang in their graceful shutdown."""
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def check_answer(server, workload):
    _, method, target, expected = WORKLOADS[workload]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        body = POST_BODY if method == "POST" else None
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200 or json.loads(data) != expected:
        raise RuntimeError(f"{server.name} {method} {target}: {resp.status} {data[:300]!r}, "
                           f"expected 200 {json.dumps(expected)}")


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[m.group(2)]


def wrk_args(conf, url, duration, lua, latency=False):
    args = ["wrk", "-t1", f"-c{conf['conns']}", f"-d{duration}s"]
    if latency:
        args.append("--latency")
    if lua:
        args += ["-s", lua]
    return args + [url]


def measure(server, workload, conf, lua):
    """One warm-up and one measured wrk run; returns the row's figures."""
    method = WORKLOADS[workload][1]
    url = f"http://127.0.0.1:{server.port}{WORKLOADS[workload][2]}"
    lua = lua if method == "POST" else None
    subprocess.run(wrk_args(conf, url, conf["warmup"], lua), capture_output=True)
    pids = tree(server.proc.pid)
    ticks0 = cpu_ticks(pids)
    wrk = subprocess.Popen(wrk_args(conf, url, conf["duration"], lua, latency=True),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # "RSS under load": sampled while wrk is still driving the server, just before it stops.
    time.sleep(max(conf["duration"] - 0.3, 0.1))
    pids = tree(server.proc.pid)
    rss = rss_kib(pids)
    out, _ = wrk.communicate()
    ticks1 = cpu_ticks(pids)
    reqs = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (reqs and rps and p50 and p99) or int(reqs.group(1)) == 0:
        return {"error": out.strip().splitlines()[-1] if out.strip() else "wrk failed"}
    errors = [" ".join(line.split()) for line in out.splitlines()
              if "Non-2xx" in line or "Socket errors" in line]
    n = int(reqs.group(1))
    return {"rps": float(rps.group(1)), "p50": to_ms(p50.group(1)), "p99": to_ms(p99.group(1)),
            "cpu_us": (ticks1 - ticks0) / CLK_TCK * 1e6 / n, "rss": rss, "requests": n,
            "errors": "; ".join(errors)}


def peer_versions():
    if not os.path.exists(BENCH_PY):
        return ""
    code = ("import importlib.metadata as m\n"
            "for p in ('fastapi','uvicorn','uvloop','httptools','granian','robyn','pydantic'):\n"
            "    try: print(f'{p} {m.version(p)}', end=', ')\n"
            "    except m.PackageNotFoundError: pass\n")
    out = subprocess.run([BENCH_PY, "-c", code], capture_output=True, text=True).stdout
    return out.strip().rstrip(",")


def product_commit():
    """HEAD, and the last commit that changed the product (python/, crates/) when that is older:
    bench-only commits do not change what was measured."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD")
    product = git("log", "-1", "--format=%h", "--", "python", "crates")
    return head if product in ("", head) else f"{head} (product code as of {product})"


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def report(conf, servers, rounds_data, skipped):
    """Markdown: per-round figures, the median table with ratios, the issue 11 targets."""
    lines = []
    add = lines.append
    commit = product_commit()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "python", "crates"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[:3]
    add(f"## Request path (issue 11): wrk -t1 -c{conf['conns']}, {conf['warmup']} s warm-up + "
        f"{conf['duration']} s measured, {conf['rounds']} alternating round(s), median shown")
    add("")
    add(f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on {os.cpu_count()} cores, "
        f"commit {commit}{' (python/ or crates/ modified)' if dirty else ''}, load average at the "
        f"end {' '.join(load)}. Peers: {peer_versions() or 'none'}.")
    if skipped:
        add("")
        add("Skipped: " + "; ".join(skipped))
    add("")

    def median_row(name, workload):
        runs = [r[(name, workload)] for r in rounds_data if "rps" in r.get((name, workload), {})]
        if not runs:
            return None
        runs.sort(key=lambda r: r["rps"])
        return runs[(len(runs) - 1) // 2]  # the median round (the lower one for an even count)

    med = {(s, w): median_row(s, w) for s in servers for w in conf["workloads"]}
    hyper = med.get(("hyper", "hello"))
    hyper_rps = hyper["rps"] if hyper else None
    add("| workload | server | req/s | p50 ms | p99 ms | CPU µs/req | RSS KiB | × bare hyper "
        "| × FastAPI-uvicorn |")
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for w in conf["workloads"]:
        base = med.get(("fastapi-uvicorn", w))
        for s in servers:
            if w not in SERVERS[s][2]:
                continue
            r = med.get((s, w))
            if r is None:
                add(f"| {w} | {SERVERS[s][0]} | failed | | | | | | |")
                continue
            vs_hyper = ratio(r["rps"], hyper_rps) if w in ("hello", "ahello", "typed") else None
            vs_fastapi = ratio(r["rps"], base["rps"] if base else None)
            note = f" ({r['errors']})" if r["errors"] else ""
            add(f"| {w} | {SERVERS[s][0]}{note} | {r['rps']:,.0f} | {fmt(r['p50'], '.2f')} | "
                f"{fmt(r['p99'], '.2f')} | {r['cpu_us']:.1f} | {r['rss']:,} | "
                f"{fmt(vs_hyper, '.2f')} | {fmt(vs_fastapi, '.2f')} |")
    add("")
    add("× bare hyper: req/s ÷ bare hyper's sync hello req/s (hyper serves only the hello; it is "
        "the reference for the hello rows and the typed GET). CPU µs/req and RSS cover the "
        "server's whole process tree.")
    add("")
    add("Per round (req/s):")
    add("")
    add("| workload | server | " + " | ".join(f"round {i + 1}" for i in range(len(rounds_data)))
        + " |")
    add("|---|---|" + "---:|" * len(rounds_data))
    for w in conf["workloads"]:
        for s in servers:
            if w in SERVERS[s][2]:
                cells = [fmt(r.get((s, w), {}).get("rps"), ",.0f") for r in rounds_data]
                add(f"| {w} | {SERVERS[s][0]} | " + " | ".join(cells) + " |")
    add("")

    v = {w: med.get(("viperhttp", w)) for w in conf["workloads"]}
    rps = {w: (v[w]["rps"] if v[w] else None) for w in v}
    targets = []
    if "hello" in rps:
        targets.append(("sync hello ≥ 0.80× bare hyper", ratio(rps["hello"], hyper_rps), 0.80,
                        "{:.2f}×"))
    if "ahello" in rps and "hello" in rps:
        targets.append(("async hello ≥ 0.90× sync hello", ratio(rps["ahello"], rps["hello"]), 0.90,
                        "{:.2f}×"))
    if "typed" in rps:
        targets.append(("typed GET ≥ 0.40× bare hyper", ratio(rps["typed"], hyper_rps), 0.40,
                        "{:.2f}×"))
    if v.get("hello") and hyper:
        cpu = ratio(v["hello"]["cpu_us"], hyper["cpu_us"])
        targets.append((f"CPU/req (sync hello) ≤ 1.7× bare hyper's ({v['hello']['cpu_us']:.1f} vs "
                        f"{hyper['cpu_us']:.1f} µs)", cpu, -1.7, "{:.2f}×"))
    hello_app = med.get(("viperhttp-hello", "hello"))
    if hello_app:
        targets.append(("RSS under load ≤ 24 MiB (the hello app, examples/hello.py)",
                        hello_app["rss"] / 1024, -24, "{:.1f} MiB"))
    rss = [r["rss"] for r in v.values() if r]
    if rss:
        # Informative: paths_app imports pydantic for its POST model, which the hello app does not.
        targets.append(("RSS under load, benches/apps/paths_app.py (largest over the workloads)",
                        max(rss) / 1024, None, "{:.1f} MiB"))
    add("Issue 11 targets (ViperHTTP):")
    add("")
    add("| target | measured | |")
    add("|---|---:|---|")
    for label, value, bound, spec in targets:
        if value is None:
            add(f"| {label} | - | not measured |")
            continue
        if bound is None:
            add(f"| {label} | {spec.format(value)} | (for information) |")
            continue
        met = value >= bound if bound > 0 else value <= -bound
        add(f"| {label} | {spec.format(value)} | {'met' if met else '**not met**'} |")
    return "\n".join(lines) + "\n"


def main():
    conf = {
        "duration": int(os.environ.get("DURATION", "5")),
        "warmup": int(os.environ.get("WARMUP", "1")),
        "conns": int(os.environ.get("CONNS", "64")),
        "rounds": int(os.environ.get("ROUNDS", "3")),
        "workloads": os.environ.get("WORKLOADS", "hello ahello typed post").split(),
    }
    peers = os.environ.get(
        "PEERS", "viperhttp-hello hyper granian-rsgi fastapi-uvicorn fastapi-granian robyn")
    out_path = os.environ.get("OUT", os.path.join(ROOT, "benches", "results", "paths.md"))
    for w in conf["workloads"]:
        if w not in WORKLOADS:
            sys.exit(f"unknown workload {w!r}; known: {' '.join(WORKLOADS)}")
    names = ["viperhttp"] + [p for p in peers.split() if p != "viperhttp"]
    for n in names:
        if n not in SERVERS:
            sys.exit(f"unknown peer {n!r}; known: {' '.join(SERVERS)}")
    runs = sum(1 for n in names for w in conf["workloads"] if w in SERVERS[n][2])
    print(f"{runs} runs × {conf['rounds']} rounds × {conf['warmup'] + conf['duration']} s "
          f"≈ {runs * conf['rounds'] * (conf['warmup'] + conf['duration']) / 60:.1f} min",
          file=sys.stderr)

    logdir = tempfile.mkdtemp(prefix="viperhttp-bench-")
    lua = os.path.join(logdir, "post.lua")
    with open(lua, "w") as f:
        f.write(f"wrk.method = \"POST\"\nwrk.body = '{POST_BODY}'\n"
                "wrk.headers[\"Content-Type\"] = \"application/json\"\n")
    servers, skipped = {}, []
    try:
        for n in names:
            try:
                servers[n] = Server(n, logdir)
                for w in conf["workloads"]:
                    if w in servers[n].workloads:
                        check_answer(servers[n], w)
            except (RuntimeError, OSError, ValueError) as e:
                if n in servers:
                    servers.pop(n).stop()
                if n == "viperhttp":
                    raise
                skipped.append(f"{n}: {str(e).splitlines()[0]}")
                print(f"skipping {n}: {e}", file=sys.stderr)
        order = list(servers)
        rounds_data = []
        for i in range(conf["rounds"]):
            data = {}
            rotated = order[i % len(order):] + order[:i % len(order)]
            for w in conf["workloads"]:
                for n in rotated:
                    if w not in servers[n].workloads:
                        continue
                    if servers[n].proc.poll() is not None:
                        data[(n, w)] = {"error": "server exited"}
                        continue
                    data[(n, w)] = r = measure(servers[n], w, conf, lua)
                    print(f"round {i + 1} {w:6} {n:16} " + (
                        f"{r['rps']:>10,.0f} req/s  p50 {fmt(r['p50'], '.2f')} ms  "
                        f"p99 {fmt(r['p99'], '.2f')} ms  {r['cpu_us']:.1f} µs/req  "
                        f"{r['rss']:,} KiB {r['errors']}" if "rps" in r else r["error"]),
                        file=sys.stderr)
            rounds_data.append(data)
    finally:
        for s in servers.values():
            s.stop()
    text = report(conf, list(servers), rounds_data, skipped)
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
