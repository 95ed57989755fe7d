#!/usr/bin/env bash
# Soak (docs/internals/benchmarks.md "Soak: mixed traffic"): benches/apps/soak_app.py started
# with `viperhttp run`, driven by benches/soak.py for $DURATION s with a mix of typed GETs (wrk,
# a per-request delay keeps the load moderate), POSTs, uploads, 4xx/5xx, streams and SSE read
# whole and dropped half-way, WebSocket churn and vanishing clients, session logins and
# half-sent heads; sampled every $INTERVAL s, then once more after $IDLE_WAIT s idle.
#
#   bash benches/run_soak.sh                    # 600 s
#   DURATION=900 bash benches/run_soak.sh
#   SOAK_LOG=/tmp/soak.log DURATION=120 bash benches/run_soak.sh
#
# Needs: wrk (Debian), the project's .venv (scripts/setup.sh) with httpx and websockets.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
SOAK_PYTHON="$VENV/bin/python" exec "$VENV/bin/python" benches/soak.py
