#!/usr/bin/env bash
# Session benchmark: requests per second of an authenticated session route (GET /me with the
# session cookie of a logged-in user) on viperhttp with the memory store and the Redis store,
# against FastAPI + Starlette's SessionMiddleware on uvicorn, in the same run.
#
#   bash benches/session_bench.sh
#   DURATION=10 CONNS=64 bash benches/session_bench.sh
#
# Needs: wrk and redis-server (Debian; installed when missing), the project's .venv
# (scripts/setup.sh). FastAPI/uvicorn/itsdangerous go into .bench-venv from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
OUT=${OUT:-benches/results/session-latest.md}
mkdir -p "$(dirname "$OUT")"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
[ -x .venv/bin/python ] || bash scripts/setup.sh
if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
.bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi uvicorn itsdangerous >/dev/null

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start() {  # start NAME PORT CMD... (env passes through)
  local name=$1 port=$2; shift 2
  "$@" >"/tmp/session-bench-$name.log" 2>&1 &
  pids+=($!)
  echo $! >"/tmp/session-bench-$name.pid"
  wait_port "$port" || { echo "$name failed to start"; cat "/tmp/session-bench-$name.log"; return 1; }
}
stop() {
  local pid; pid=$(cat "/tmp/session-bench-$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# login once, then load GET /me with that cookie -> "NAME rps p50 p99"
run_session() {
  local name=$1 port=$2 cookie out
  cookie=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/login" | awk -F'[ ;]' 'tolower($1)=="set-cookie:" {print $2; exit}')
  [ -n "$cookie" ] || { echo "$name: no session cookie" >&2; return 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$port/me")" = 200 ] \
    || { echo "$name: /me is not 200 with the cookie" >&2; return 1; }
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" -H "Cookie: $cookie" "http://127.0.0.1:$port/me" >/dev/null 2>&1 || true
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Cookie: $cookie" "http://127.0.0.1:$port/me")
  echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}

REDIS_PORT=18290
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no >/tmp/session-bench-redis.log 2>&1 &
pids+=($!); echo $! >/tmp/session-bench-redis.pid
wait_port $REDIS_PORT

results=()
start vh-memory 18291 env STORE=memory .venv/bin/python benches/apps/session_app.py 18291
results+=("$(run_session "viperhttp-memory" 18291)"); stop vh-memory
start vh-redis 18292 env STORE=redis REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 .venv/bin/python benches/apps/session_app.py 18292
results+=("$(run_session "viperhttp-redis" 18292)"); stop vh-redis
start fastapi 18293 .bench-venv/bin/python -m uvicorn --app-dir benches/peers fastapi_session_app:app --port 18293 --log-level warning --no-access-log
results+=("$(run_session "fastapi-starlette-sessions" 18293)"); stop fastapi

peer=$(printf '%s\n' "${results[@]}" | awk '$1=="fastapi-starlette-sessions" {print $2}')
{
  echo "## session route (GET /me with a logged-in session cookie), wrk -t1 -c$CONNS -d${DURATION}s"
  echo
  echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores (shared machine), commit $(git rev-parse --short HEAD)."
  echo
  echo "| server | req/s | p50 | p99 | × FastAPI + Starlette sessions |"
  echo "|---|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    read -r name rps p50 p99 <<<"$r"
    ratio=$(awk -v a="$rps" -v b="${peer:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $name | $rps | $p50 | $p99 | $ratio |"
  done
} | tee "$OUT"
