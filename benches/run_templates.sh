#!/usr/bin/env bash
# Templates: a 100-row HTML page rendered per request by viperhttp.TemplateResponse vs
# FastAPI + Jinja2Templates on uvicorn (async route), same run, reported as a ratio.
#
#   bash benches/run_templates.sh
#   DURATION=10 CONNS=64 bash benches/run_templates.sh
#
# Both sides render benches/templates/page.html with the rows of benches/templates/context.py;
# the script first checks that both answers have the same rows. Needs: wrk (Debian), the
# project's .venv (scripts/setup.sh); FastAPI, uvicorn and Jinja2 are installed into
# .bench-venv from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
OUT=${OUT:-benches/results/templates.md}
mkdir -p "$(dirname "$OUT")"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x .venv/bin/python ] || bash scripts/setup.sh
if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
.bench-venv/bin/python -m pip install -q --disable-pip-version-check fastapi uvicorn jinja2 >/dev/null

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
run_wrk() {  # run_wrk NAME URL -> "NAME rps p50 p99"
  local name=$1 url=$2 out
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url")
  echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

VPORT=18380; FPORT=18381
.venv/bin/python benches/apps/template_app.py $VPORT >/tmp/bench-tpl-viper.log 2>&1 & PIDS+=($!)
.bench-venv/bin/python -m uvicorn --app-dir benches/peers fastapi_template_app:app --port $FPORT \
  --log-level warning --no-access-log >/tmp/bench-tpl-fastapi.log 2>&1 & PIDS+=($!)
wait_port $VPORT && wait_port $FPORT
v_rows=$(curl -s "http://127.0.0.1:$VPORT/page" | grep -c '<tr ')
f_rows=$(curl -s "http://127.0.0.1:$FPORT/page" | grep -c '<tr ')
[ "$v_rows" = 100 ] && [ "$f_rows" = 100 ] || { echo "row count mismatch: $v_rows vs $f_rows"; exit 1; }

results=()
results+=("$(run_wrk viperhttp-sync http://127.0.0.1:$VPORT/page)")
results+=("$(run_wrk viperhttp-async http://127.0.0.1:$VPORT/page-async)")
results+=("$(run_wrk fastapi-uvicorn http://127.0.0.1:$FPORT/page)")
f_rps=$(printf '%s\n' "${results[@]}" | awk '$1=="fastapi-uvicorn" {print $2}')
{
  echo "## templates (GET /page → 100-row HTML page, ~9.8 KB), wrk -t1 -c$CONNS -d${DURATION}s"
  echo
  echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores, commit $(git rev-parse --short HEAD)."
  echo
  echo "| server | req/s | p50 | p99 | × FastAPI |"
  echo "|---|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    read -r name rps p50 p99 <<<"$r"
    ratio=$(awk -v a="$rps" -v b="$f_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $name | $rps | $p50 | $p99 | $ratio |"
  done
} | tee "$OUT"
