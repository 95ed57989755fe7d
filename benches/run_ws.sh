#!/usr/bin/env bash
# WebSocket echo benchmark: round trips per second with CONNS connections (one message in
# flight each), ViperHTTP vs FastAPI on uvicorn and on Granian, in the same run, reported as
# ratios; then the server memory per idle WebSocket (IDLE connections held open).
#
#   bash benches/run_ws.sh
#   DURATION=10 CONNS=64 SIZE=16 IDLE=5000 bash benches/run_ws.sh
#
# Needs the project's .venv (scripts/setup.sh). FastAPI, uvicorn (with websockets) and Granian
# are installed into .bench-venv from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
SIZE=${SIZE:-16}
IDLE=${IDLE:-5000}
OUT=${OUT:-benches/results/websocket.md}
mkdir -p "$(dirname "$OUT")"
[ -x .venv/bin/python ] || bash scripts/setup.sh
cargo build --release -q -p ws-echo-client
if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
.bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi uvicorn websockets granian >/dev/null

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
start() {  # start NAME PORT CMD...
  local name=$1 port=$2; shift 2
  "$@" >"/tmp/bench-ws-$name.log" 2>&1 &
  echo $! >"/tmp/bench-ws-$name.pid"
  wait_port "$port" || { echo "$name failed to start"; cat "/tmp/bench-ws-$name.log"; return 1; }
}
stop() {
  local pid; pid=$(cat "/tmp/bench-ws-$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

results=()
PORT=18380
for server in viperhttp fastapi-uvicorn granian; do
  PORT=$((PORT + 1))
  case $server in
    viperhttp) start $server $PORT .venv/bin/python benches/apps/ws_echo_app.py $PORT ;;
    fastapi-uvicorn) start $server $PORT .bench-venv/bin/python -m uvicorn --app-dir benches/peers fastapi_ws_app:app --port $PORT --log-level warning --no-access-log --ws websockets ;;
    granian) start $server $PORT .bench-venv/bin/granian --interface asgi --workers 1 --port $PORT --working-dir benches/peers fastapi_ws_app:app ;;
  esac
  read -r rt p50 p99 errors < <(./target/release/ws-echo-client 127.0.0.1:$PORT /ws "$CONNS" "$DURATION" "$SIZE")
  results+=("$server $rt $p50 $p99 $errors")
  stop $server
done

# Memory per idle WebSocket (ViperHTTP): RSS before and after IDLE idle connections.
PORT=$((PORT + 1))
start viperhttp-idle $PORT .venv/bin/python benches/apps/ws_echo_app.py $PORT
pid=$(cat /tmp/bench-ws-viperhttp-idle.pid)
before=$(rss_kib "$pid")
after=$(.venv/bin/python - "$PORT" "$IDLE" "$pid" <<'PY'
import resource, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
req = (b"GET /idle HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n\r\n")
socks = []
for start in range(0, n, 500):
    batch = [socket.create_connection(("127.0.0.1", port)) for _ in range(min(500, n - start))]
    for s in batch:
        s.sendall(req)
    for s in batch:
        assert s.recv(4096).startswith(b"HTTP/1.1 101")
    socks += batch
time.sleep(1)
print(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")))
PY
)
stop viperhttp-idle

uv_rt=$(printf '%s\n' "${results[@]}" | awk '$1=="fastapi-uvicorn" {print $2}')
{
  echo "## WebSocket echo, $CONNS connections, ${SIZE}-byte text, ${DURATION}s (benches/run_ws.sh)"
  echo
  echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores (shared machine), commit $(git rev-parse --short HEAD)."
  echo
  echo "| server | round trips/s | p50 µs | p99 µs | errors | × FastAPI/uvicorn |"
  echo "|---|---:|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    read -r name rt p50 p99 errors <<<"$r"
    ratio=$(awk -v a="$rt" -v b="${uv_rt:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $name | $rt | $p50 | $p99 | $errors | $ratio |"
  done
  echo
  per=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }')
  echo "Memory per idle WebSocket (ViperHTTP, $IDLE connections): RSS $before KiB → $after KiB, $per KiB each."
} | tee "$OUT"
