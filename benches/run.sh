#!/usr/bin/env bash
# Load benchmarks: ViperHTTP vs its peers, in the same run, reported as ratios
# (absolute figures drift on shared machines). Loopback only, bounded duration.
#
#   bash benches/run.sh            # hello: viperhttp vs bare hyper (+ FastAPI/uvicorn, Granian, Robyn)
#   DURATION=10 CONNS=64 bash benches/run.sh
#   PEERS=hyper bash benches/run.sh   # only the required peer
#
# Needs: wrk (Debian), the project's .venv (scripts/setup.sh). Optional peers are
# installed into .bench-venv from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
PEERS=${PEERS:-hyper fastapi-uvicorn granian robyn}
OUT=${OUT:-benches/results/latest.md}
mkdir -p "$(dirname "$OUT")"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x .venv/bin/python ] || bash scripts/setup.sh
cargo build --release -q -p hyper-hello

need_bench_venv() {
  if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
  .bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi uvicorn granian robyn >/dev/null
}

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# run_wrk NAME URL -> prints "NAME rps p50 p99"
run_wrk() {
  local name=$1 url=$2 out
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$name $rps $p50 $p99"
}

start() {  # start NAME PORT CMD...
  local name=$1 port=$2; shift 2
  "$@" >"/tmp/bench-$name.log" 2>&1 &
  echo $! >"/tmp/bench-$name.pid"
  wait_port "$port" || { echo "$name failed to start"; cat "/tmp/bench-$name.log"; return 1; }
}
stop() {  # SIGTERM, then SIGKILL after 5 s (some peers hang in their graceful shutdown)
  local pid; pid=$(cat "/tmp/bench-$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

results=()
PORT=18180
start viperhttp $PORT .venv/bin/python examples/hello.py $PORT
results+=("$(run_wrk viperhttp http://127.0.0.1:$PORT/hello)")
stop viperhttp
for peer in $PEERS; do
  PORT=$((PORT + 1))
  case $peer in
    hyper) start hyper $PORT ./target/release/hyper-hello $PORT ;;
    fastapi-uvicorn) need_bench_venv; start $peer $PORT .bench-venv/bin/python -m uvicorn --app-dir benches/peers fastapi_app:app --port $PORT --log-level warning --no-access-log ;;
    granian) need_bench_venv; start $peer $PORT .bench-venv/bin/granian --interface asgi --workers 1 --port $PORT --working-dir benches/peers fastapi_app:app ;;
    robyn) need_bench_venv; start $peer $PORT .bench-venv/bin/python benches/peers/robyn_app.py $PORT ;;
    *) echo "unknown peer $peer"; continue ;;
  esac
  results+=("$(run_wrk "$peer" http://127.0.0.1:$PORT/hello)")
  stop "$peer"
done

hyper_rps=$(printf '%s\n' "${results[@]}" | awk '$1=="hyper" {print $2}')
{
  echo "## hello (GET /hello → {\"msg\":\"ok\"}), wrk -t1 -c$CONNS -d${DURATION}s"
  echo
  echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores, commit $(git rev-parse --short HEAD)."
  echo
  echo "| server | req/s | p50 | p99 | × bare hyper |"
  echo "|---|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    read -r name rps p50 p99 <<<"$r"
    ratio=$(awk -v a="$rps" -v b="${hyper_rps:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $name | $rps | $p50 | $p99 | $ratio |"
  done
} | tee "$OUT"
