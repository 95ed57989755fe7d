#!/usr/bin/env bash
# Static files: ViperHTTP's native mount vs nginx, in the same run, reported as ratios
# (absolute figures drift on shared machines). Loopback only, bounded duration.
#
#   bash benches/run_static.sh
#   DURATION=10 CONNS=128 bash benches/run_static.sh
#   FILES="1m.bin 16m.bin" bash benches/run_static.sh   # a subset of the files below
#
# Creates 1 KiB and 100 KiB files (under the 256 KiB open-file cache limit: served from memory)
# and 1 MiB and 16 MiB files (above it: sent with sendfile(2), docs/internals/static-files.md#sendfile)
# in a temp dir, serves the dir with
# benches/apps/static_app.py (app.mount("/static", dir)) and with nginx (one worker,
# sendfile on, access_log off; config from benches/nginx.conf.template), checks both
# return the same bytes, then drives each with wrk -t1 -cCONNS (WARMUP s warm-up,
# DURATION s measured) and prints a markdown table with each server's CPU time per request.
# Needs: wrk and nginx (Debian packages, installed with apt-get when missing), the
# project's .venv with the extension built (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
VIPER_PORT=${VIPER_PORT:-18280}
NGINX_PORT=${NGINX_PORT:-18281}

need() {  # need CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
}
need wrk wrk
need nginx nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x .venv/bin/python ] || bash scripts/setup.sh

TMP=$(mktemp -d /tmp/viperhttp-static-bench.XXXXXX)
chmod 755 "$TMP"  # nginx workers may run as an unprivileged user
ROOT=$TMP/www
mkdir -p "$ROOT" "$TMP/nginx"
head -c 1024 /dev/urandom >"$ROOT/1k.bin"
head -c 102400 /dev/urandom >"$ROOT/100k.bin"
head -c 1048576 /dev/urandom >"$ROOT/1m.bin"
head -c 16777216 /dev/urandom >"$ROOT/16m.bin"
chmod -R a+rX "$ROOT"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# viperhttp
.venv/bin/python benches/apps/static_app.py "$VIPER_PORT" "$ROOT" >"$TMP/viperhttp.log" 2>&1 &
PIDS+=($!)
wait_port "$VIPER_PORT" || { echo "viperhttp failed to start"; cat "$TMP/viperhttp.log"; exit 1; }

# nginx
sed -e "s|@PORT@|$NGINX_PORT|g" -e "s|@ROOT@|$ROOT|g" -e "s|@TMP@|$TMP/nginx|g" -e "s|@CONNECTIONS@|1024|g" \
  benches/nginx.conf.template >"$TMP/nginx/nginx.conf"
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' \
  >"$TMP/nginx.log" 2>&1 &
PIDS+=($!)
wait_port "$NGINX_PORT" || { echo "nginx failed to start"; cat "$TMP/nginx.log" "$TMP/nginx/error.log" 2>/dev/null; exit 1; }

FILES=${FILES:-1k.bin 100k.bin 1m.bin 16m.bin}

# both must serve the very same bytes
for f in $FILES; do
  for port in "$VIPER_PORT" "$NGINX_PORT"; do
    curl -fsS "http://127.0.0.1:$port/static/$f" -o "$TMP/check" || { echo "GET /static/$f on :$port failed"; exit 1; }
    cmp -s "$TMP/check" "$ROOT/$f" || { echo "wrong bytes for /static/$f on :$port"; exit 1; }
  done
done

# Server CPU per request: utime + stime of the server's processes (all threads) over the measured
# run, divided by the requests wrk completed. Much less sensitive to other load on a shared
# machine than req/s, and it shows what zero-copy saves.
TICK_US=$((1000000 / $(getconf CLK_TCK)))
cpu_ticks() {  # cpu_ticks PID... -> utime+stime in clock ticks, summed
  local t=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
  done
  echo "$t"
}
VIPER_PIDS="${PIDS[0]}"
NGINX_PIDS="${PIDS[1]} $(pgrep -P "${PIDS[1]}" | tr '\n' ' ')"

# run_wrk URL PID... -> "rps p50 p99 cpu_us_per_request"
run_wrk() {
  local url=$1 out before after n
  shift
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
  before=$(cpu_ticks "$@")
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url")
  after=$(cpu_ticks "$@")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "warning: $url: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ')" >&2
  fi
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")" \
    "$(awk -v t=$((after - before)) -v us="$TICK_US" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", t * us / n; else print "-" }')"
}

rows=()
for f in $FILES; do
  # shellcheck disable=SC2086 # the PID lists split on purpose
  read -r v_rps v_p50 v_p99 v_cpu <<<"$(run_wrk "http://127.0.0.1:$VIPER_PORT/static/$f" $VIPER_PIDS)"
  # shellcheck disable=SC2086
  read -r n_rps n_p50 n_p99 n_cpu <<<"$(run_wrk "http://127.0.0.1:$NGINX_PORT/static/$f" $NGINX_PIDS)"
  ratio=$(awk -v a="$v_rps" -v b="$n_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  rows+=("| $f | $v_rps | $v_p50 | $v_p99 | $v_cpu | $n_rps | $n_p50 | $n_p99 | $n_cpu | $ratio |")
done

echo "## static files (GET /static/<file>), wrk -t1 -c$CONNS, ${WARMUP}s warm-up, ${DURATION}s run"
echo
echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores, commit $(git rev-parse --short HEAD), $("$NGINX" -v 2>&1 | sed 's|.*/||')."
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). CPU = server CPU time (user + system, all threads) per request, µs."
echo
echo "| file | viperhttp req/s | p50 | p99 | CPU | nginx req/s | p50 | p99 | CPU | viperhttp/nginx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
