#!/usr/bin/env bash
# Request-path benchmark (`make bench`): ViperHTTP vs its peers in one run, alternating, for a
# sync hello, an async hello, a typed GET and a JSON POST; req/s, p50/p99, CPU per request and RSS
# under load, as ratios (absolute figures drift on shared machines). Loopback only, bounded
# duration: ≈ (WARMUP + DURATION) × 22 runs × ROUNDS, 6.6 min with the defaults.
#
#   bash benches/run.sh                         # everything, 3 rounds
#   DURATION=10 CONNS=64 ROUNDS=1 bash benches/run.sh
#   PEERS=hyper WORKLOADS="hello ahello typed" bash benches/run.sh
#   BASE=/tmp/base/python PEERS="viperhttp-base hyper" bash benches/run.sh   # before/after
#
# Servers: ViperHTTP benches/apps/paths_app.py; others (PEERS, default all): viperhttp-hello
# (examples/hello.py, hello only: the RSS target's app), hyper (bare hyper,
# benches/hyper-hello, hello only: the reference), granian-rsgi (benches/peers/rsgi_paths_app.py),
# fastapi-uvicorn and fastapi-granian (benches/peers/fastapi_paths_app.py, `async def`), robyn
# (benches/peers/robyn_app.py). WORKLOADS: hello ahello typed post. The driver is
# benches/paths.py; the report goes to stdout and to OUT (default benches/results/paths.md).
# What each figure means: docs/internals/benchmarks.md.
#
# Needs: wrk (Debian), the project's .venv (scripts/setup.sh). The Python peers are installed
# into .bench-venv from PyPI on first use (uvicorn[standard]: uvloop + httptools, as its users run it).
set -euo pipefail
cd "$(dirname "$0")/.."
export DURATION=${DURATION:-5} WARMUP=${WARMUP:-1} CONNS=${CONNS:-64} ROUNDS=${ROUNDS:-3}
export PEERS=${PEERS:-viperhttp-hello hyper granian-rsgi fastapi-uvicorn fastapi-granian robyn}
export WORKLOADS=${WORKLOADS:-hello ahello typed post}
export OUT=${OUT:-benches/results/paths.md}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x .venv/bin/python ] || bash scripts/setup.sh
case " $PEERS " in *" hyper "*) cargo build --release -q -p hyper-hello ;; esac

need_bench_venv() {
  if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
  .bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi "uvicorn[standard]" granian robyn >/dev/null
}
case " $PEERS " in *" granian-rsgi "* | *" fastapi-"* | *" robyn "*) need_bench_venv ;; esac

# Many connections per server (CONNS) and several servers at once.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 benches/paths.py
