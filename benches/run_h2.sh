#!/usr/bin/env bash
# HTTP/2 over TLS with h2load (Debian nghttp2-client), peers in the same run, reported as ratios
# (absolute figures drift on shared machines). Loopback only, bounded duration.
#
#   bash benches/run_h2.sh
#   DURATION=10 CONNS=16 STREAMS=16 bash benches/run_h2.sh
#
# 1. GET /hello through Python (benches/apps/h2_app.py) vs Granian RSGI (raw app, --http 2).
# 2. A 1 KiB static file (native mount) vs nginx with HTTP/2 (benches/nginx-h2.conf.template).
# A test CA and certificate are made with openssl in a temp dir. h2load: -t1 -cCONNS -mSTREAMS,
# WARMUP s warm-up, DURATION s measured.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-16}
OUT=${OUT:-benches/results/h2.md}
BASE=${BASE_PORT:-18380}

need() {  # need CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need h2load nghttp2-client
need nginx nginx
need openssl openssl
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x .venv/bin/python ] || bash scripts/setup.sh
if [ ! -x .bench-venv/bin/granian ]; then
  [ -x .bench-venv/bin/python ] || python3 -m venv .bench-venv
  .bench-venv/bin/python -m pip install -q --disable-pip-version-check granian >/dev/null
fi

TMP=$(mktemp -d /tmp/viperhttp-h2-bench.XXXXXX)
chmod 755 "$TMP"
ROOT=$TMP/www
mkdir -p "$ROOT" "$TMP/nginx"
head -c 1024 /dev/urandom >"$ROOT/1k.bin"
chmod -R a+rX "$ROOT"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
chmod a+r "$TMP"/*.pem

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
start() {  # start NAME PORT CMD...
  local name=$1 port=$2; shift 2
  "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" || { echo "$name failed to start"; cat "$TMP/$name.log"; exit 1; }
}

# run_h2load URL -> "req/s"; fails loudly on any non-2xx or failed request
run_h2load() {
  local url=$1 out
  h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$WARMUP" "$url" >/dev/null 2>&1 || true
  out=$(h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$DURATION" "$url")
  grep -q "Application protocol: h2" <<<"$out" || { echo "not h2: $url" >&2; echo "$out" >&2; exit 1; }
  local failed non2xx
  failed=$(awk '/^requests:/ {for (i=1;i<=NF;i++) if ($(i+1)=="failed,") print $i}' <<<"$out")
  non2xx=$(awk '/^status codes:/ {print $5}' <<<"$out")
  if [ "${failed:-0}" != "0" ] || { [ -n "$non2xx" ] && [ "$non2xx" != "0" ]; }; then
    echo "warning: $url: $(grep -E '^(requests|status codes):' <<<"$out" | tr -s ' ')" >&2
  fi
  awk '/^finished in/ {print $4}' <<<"$out"
}

VP=$BASE GP=$((BASE + 1)) NP=$((BASE + 2))
start viperhttp "$VP" .venv/bin/python benches/apps/h2_app.py "$VP" "$ROOT" "$TMP/cert.pem" "$TMP/key.pem"
start granian "$GP" .bench-venv/bin/granian --interface rsgi --http 2 --workers 1 --port "$GP" \
  --ssl-certificate "$TMP/cert.pem" --ssl-keyfile "$TMP/key.pem" --working-dir benches/peers rsgi_hello:app
sed -e "s|@PORT@|$NP|g" -e "s|@ROOT@|$ROOT|g" -e "s|@TMP@|$TMP/nginx|g" -e "s|@CERT@|$TMP/cert.pem|g" \
  -e "s|@KEY@|$TMP/key.pem|g" benches/nginx-h2.conf.template >"$TMP/nginx/nginx.conf"
start nginx "$NP" "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" -g 'daemon off;'

# Same answers before timing.
for port in "$VP" "$NP"; do
  curl -fsS --http2 -k "https://127.0.0.1:$port/static/1k.bin" -o "$TMP/check"
  cmp -s "$TMP/check" "$ROOT/1k.bin" || { echo "wrong bytes for /static/1k.bin on :$port"; exit 1; }
done
for port in "$VP" "$GP"; do
  [ "$(curl -fsS --http2 -k "https://127.0.0.1:$port/hello")" = '{"message":"Hello, World!"}' ] \
    || { echo "wrong /hello on :$port"; exit 1; }
done

v_hello=$(run_h2load "https://127.0.0.1:$VP/hello")
g_hello=$(run_h2load "https://127.0.0.1:$GP/hello")
v_static=$(run_h2load "https://127.0.0.1:$VP/static/1k.bin")
n_static=$(run_h2load "https://127.0.0.1:$NP/static/1k.bin")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mkdir -p "$(dirname "$OUT")"
{
  echo "## HTTP/2 over TLS, h2load -t1 -c$CONNS -m$STREAMS -D${DURATION}s"
  echo
  echo "Run $(date -u +%F\ %H:%M) UTC on $(nproc) cores, commit $(git rev-parse --short HEAD)."
  echo
  echo "| test | viperhttp req/s | peer | peer req/s | ratio |"
  echo "|---|---:|---|---:|---:|"
  echo "| GET /hello (Python route) | $v_hello | Granian RSGI raw (--http 2) | $g_hello | $(ratio "$v_hello" "$g_hello") |"
  echo "| static 1 KiB | $v_static | nginx (http2) | $n_static | $(ratio "$v_static" "$n_static") |"
} | tee "$OUT"
