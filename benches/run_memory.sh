#!/usr/bin/env bash
# Memory of the hello app (docs/internals/benchmarks.md "Memory"): VmRSS / RssAnon / RssFile at
# idle, then every 5 s under `wrk -t1 -c$CONNS` for $DURATION s, then after the load.
#
#   bash benches/run_memory.sh                 # 60 s, 64 connections (≈1.5–2.5M requests here)
#   DURATION=90 CONNS=256 bash benches/run_memory.sh
#   VIPERHTTP_NO_UVLOOP=1 bash benches/run_memory.sh   # plain asyncio loop
#
# Needs: wrk (Debian), the project's .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
CONNS=${CONNS:-64}
PORT=${PORT:-18790}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

.venv/bin/python examples/hello.py "$PORT" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/hello" && break; sleep 0.1; done
sleep 1
snap() { awk '/^(VmRSS|RssAnon|RssFile)/{printf "%s %5.1f MiB  ", $1, $2/1024}' "/proc/$PID/status"; echo; }
echo "idle      $(snap)"
OUTFILE=$(mktemp)
wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/hello" >"$OUTFILE" &
WRK=$!
for t in $(seq 5 5 "$DURATION"); do sleep 5; printf 't=%-6s  %s\n' "${t}s" "$(snap)"; done
wait $WRK
grep -E "requests in|Requests/sec" "$OUTFILE"
rm -f "$OUTFILE"
sleep 2
echo "after     $(snap)"
