#!/usr/bin/env bash
# Idle keep-alive connections: what IDLE_CONNS (10,000) open, idle HTTP/1.1 connections cost
# ViperHTTP (examples/hello.py), bare hyper (benches/hyper-hello) and nginx (one worker,
# benches/nginx.conf.template), and how fast a fresh request is answered while they are open.
#
#   bash benches/run_idle.sh
#   IDLE_CONNS=5000 SERVERS="viperhttp nginx" bash benches/run_idle.sh
#
# Each client connection sends one `GET /hello`, reads the answer and stays open; the report
# gives (RSS after − RSS before) ÷ connections and the median of FRESH (20) fresh requests
# (new connection, `GET /hello`), before and while the crowd is open. Driver: benches/idle.py;
# report to stdout and OUT (default benches/results/idle.md). Needs nginx (Debian), the .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export IDLE_CONNS=${IDLE_CONNS:-10000} FRESH=${FRESH:-20}
export SERVERS=${SERVERS:-viperhttp hyper nginx}
export OUT=${OUT:-benches/results/idle.md}

need() {  # need CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
}
case " $SERVERS " in *" nginx "*) need nginx nginx; export NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)} ;; esac
[ -x .venv/bin/python ] || bash scripts/setup.sh
case " $SERVERS " in *" hyper "*) cargo build --release -q -p hyper-hello ;; esac

# The client holds IDLE_CONNS sockets and so does each server (they inherit this limit;
# ViperHTTP sizes its default max_connections from it and refuses keep-alive from 90 % of it).
need_fds=$((IDLE_CONNS * 2 + 1024))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need_fds" ]; then
  ulimit -Hn "$need_fds" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((IDLE_CONNS + 256)) ] ||
  { echo "RLIMIT_NOFILE $(ulimit -n) is too low for $IDLE_CONNS connections"; exit 1; }
exec python3 benches/idle.py
