#!/usr/bin/env bash
# Scale-out benchmark: `viperhttp run --workers 1` vs `--workers 2`, next to FastAPI on uvicorn
# and on Granian with the same worker counts, for /hello and a typed GET. One run each; reports
# req/s, the workers-2/workers-1 ratio and the CPU the server's processes used (seconds of CPU
# per second of load, summed over the process tree, so 1.0 = one core busy).
#
#   bash benches/run_workers.sh        DURATION=10 CONNS=64 bash benches/run_workers.sh
#
# On a 2-core machine wrk shares the cores with the servers: read the ratios with that in mind
# (docs/guide/deployment.md and docs/internals/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
OUT=${OUT:-benches/results/workers.md}
mkdir -p "$(dirname "$OUT")"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x .venv/bin/python ] || bash scripts/setup.sh
if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
.bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi uvicorn granian >/dev/null

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# CPU ticks (utime+stime) of a process and all its descendants.
tree_ticks() {
  local pids=$1 all="" next
  while [ -n "$pids" ]; do
    all="$all $pids"; next=""
    for p in $pids; do next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null || true)"; done
    pids=$(echo $next)
  done
  local sum=0
  for p in $all; do
    [ -r /proc/"$p"/stat ] || continue
    sum=$((sum + $(awk '{print $14 + $15}' /proc/"$p"/stat)))
  done
  echo "$sum"
}

bench() {  # bench NAME PATH PORT CMD... -> "NAME PATH rps cpu"
  local name=$1 path=$2 port=$3; shift 3
  "$@" >"/tmp/bench-workers-$name.log" 2>&1 &
  local pid=$!
  wait_port "$port" || { echo "$name failed"; cat "/tmp/bench-workers-$name.log"; kill $pid; return 1; }
  sleep 0.5
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$port$path" >/dev/null 2>&1 || true
  local t0 out t1 hz rps
  hz=$(getconf CLK_TCK)
  t0=$(tree_ticks $pid)
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port$path")
  t1=$(tree_ticks $pid)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  kill -TERM $pid 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  echo "$name $path $rps $(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v d="$DURATION" 'BEGIN {printf "%.2f", (b - a) / hz / d}')"
}

rows=()
PORT=18400
for path in /hello "/items/42?q=pen&limit=5"; do
  for w in 1 2; do
    PORT=$((PORT + 1))
    rows+=("$(bench viperhttp-w$w "$path" $PORT env VIPERHTTP_LOG=warn .venv/bin/python -m viperhttp run workers_app:app --app-dir benches/apps --host 127.0.0.1 --port $PORT --workers $w --log-level warning)")
    PORT=$((PORT + 1))
    rows+=("$(bench uvicorn-w$w "$path" $PORT .bench-venv/bin/python -m uvicorn --app-dir benches/peers fastapi_workers_app:app --host 127.0.0.1 --port $PORT --workers $w --log-level warning --no-access-log)")
    PORT=$((PORT + 1))
    rows+=("$(bench granian-w$w "$path" $PORT .bench-venv/bin/granian --interface asgi --workers $w --host 127.0.0.1 --port $PORT --working-dir benches/peers --log-level warning fastapi_workers_app:app)")
  done
done
{
  echo "## workers 1 vs 2 (wrk -t1 -c$CONNS -d${DURATION}s), $(date -u +%F\ %H:%M) UTC, $(nproc) cores, commit $(git rev-parse --short HEAD)"
  echo
  echo "| server | path | req/s | CPU (cores) |"
  echo "|---|---|---:|---:|"
  for r in "${rows[@]}"; do set -- $r; echo "| $1 | \`$2\` | $3 | $4 |"; done
  echo
  echo "| server | path | workers 2 / workers 1 |"
  echo "|---|---|---:|"
  for s in viperhttp uvicorn granian; do
    for path in /hello "/items/42?q=pen&limit=5"; do
      a=$(printf '%s\n' "${rows[@]}" | awk -v n="$s-w1" -v p="$path" '$1==n && $2==p {print $3}')
      b=$(printf '%s\n' "${rows[@]}" | awk -v n="$s-w2" -v p="$path" '$1==n && $2==p {print $3}')
      echo "| $s | \`$path\` | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}') |"
    done
  done
} | tee "$OUT"
