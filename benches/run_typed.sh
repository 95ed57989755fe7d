#!/usr/bin/env bash
# Typed API: a pydantic-validated JSON POST with response_model (and a typed GET) on ViperHTTP
# vs the same FastAPI app on uvicorn, same run, reported as ratios (docs/benchmarks.md).
#
#   bash benches/run_typed.sh
#   DURATION=10 CONNS=64 bash benches/run_typed.sh
#
# Apps: benches/apps/typed_app.py and benches/peers/fastapi_typed_app.py (same models, same
# routes). The script first checks both give the same answers. Needs: wrk (Debian), the
# project's .venv; FastAPI and uvicorn[standard] (uvloop, httptools: its fastest set-up) are installed into .bench-venv from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
OUT=${OUT:-benches/results/typed.md}
mkdir -p "$(dirname "$OUT")"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x .venv/bin/python ] || bash scripts/setup.sh
if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
.bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi "uvicorn[standard]" >/dev/null

BODY='{"name":"widget","price":9.5,"tags":["a","b"],"description":"d","secret":"s"}'
LUA=$(mktemp --suffix=.lua)
cat >"$LUA" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
run_wrk() {  # run_wrk NAME URL [wrk args] -> "NAME rps p50 p99"
  local name=$1 url=$2 out; shift 2
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >/dev/null 2>&1 || true
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url")
  echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -f "$LUA"; }
trap cleanup EXIT

VPORT=18480; FPORT=18481
.venv/bin/python benches/apps/typed_app.py $VPORT >/tmp/bench-typed-viper.log 2>&1 & PIDS+=($!)
.bench-venv/bin/python -m uvicorn --app-dir benches/peers fastapi_typed_app:app --port $FPORT \
  --log-level warning --no-access-log >/tmp/bench-typed-fastapi.log 2>&1 & PIDS+=($!)
wait_port $VPORT && wait_port $FPORT
for path in "/items/5?limit=3&q=x"; do
  v=$(curl -s "http://127.0.0.1:$VPORT$path"); f=$(curl -s "http://127.0.0.1:$FPORT$path")
  [ "$v" = "$f" ] || { echo "GET answers differ: $v vs $f"; exit 1; }
done
v=$(curl -s -XPOST -H 'content-type: application/json' -d "$BODY" http://127.0.0.1:$VPORT/items)
f=$(curl -s -XPOST -H 'content-type: application/json' -d "$BODY" http://127.0.0.1:$FPORT/items)
[ "$v" = "$f" ] || { echo "POST answers differ: $v vs $f"; exit 1; }

results=()
results+=("$(run_wrk viperhttp-post http://127.0.0.1:$VPORT/items -s "$LUA")")
results+=("$(run_wrk fastapi-uvicorn-post http://127.0.0.1:$FPORT/items -s "$LUA")")
results+=("$(run_wrk viperhttp-get "http://127.0.0.1:$VPORT/items/5?limit=3&q=x")")
results+=("$(run_wrk fastapi-uvicorn-get "http://127.0.0.1:$FPORT/items/5?limit=3&q=x")")
rps() { printf '%s\n' "${results[@]}" | awk -v n="$1" '$1==n {print $2}'; }
{
  echo "## typed API: JSON POST validated by pydantic with response_model, typed GET; wrk -t1 -c$CONNS -d${DURATION}s"
  echo
  echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores, commit $(git rev-parse --short HEAD)."
  echo
  echo "| server | req/s | p50 | p99 |"
  echo "|---|---:|---:|---:|"
  for r in "${results[@]}"; do
    read -r name rps p50 p99 <<<"$r"
    echo "| $name | $rps | $p50 | $p99 |"
  done
  echo
  awk -v a="$(rps viperhttp-post)" -v b="$(rps fastapi-uvicorn-post)" 'BEGIN { printf "POST: %.2fx FastAPI/uvicorn\n", a / b }'
  awk -v a="$(rps viperhttp-get)" -v b="$(rps fastapi-uvicorn-get)" 'BEGIN { printf "GET: %.2fx FastAPI/uvicorn\n", a / b }'
} | tee "$OUT"
