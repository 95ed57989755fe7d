#!/usr/bin/env bash
# Build everything a fresh machine needs: .venv with the test/runtime packages and the
# viperhttp extension built by maturin (release profile) and installed into it.
# `--test` (scripts/test.sh) also installs the system packages only the test suite uses.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "--test" ]; then
  # Only for the suite: `make run` needs neither, and as a user without root `apt-get` would
  # stop it before anything was built (docs/internals/coverage.md, the tenth user trial).
  # The session tests start their own redis-server (Debian's package) on a free port.
  command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
  # The API-docs tests load /docs and /redoc in headless Chromium (Debian's package).
  command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi
if [ ! -x .venv/bin/python ]; then
  # The first run is silent for minutes otherwise: say what is happening.
  echo "setup: creating .venv and building the native extension (release); the first time takes a few minutes"
  "$PY" -m venv .venv
fi
# Quiet, idempotent installs; pip caches wheels between runs.
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check "maturin>=1.7,<2" "pytest>=8" "httpx[http2]>=0.27" "pytest-timeout>=2.3" "uvloop>=0.19" "redis>=5,<9" "jinja2>=3.1" "pydantic>=2.5,<3" "openapi-spec-validator>=0.7" "websocket-client>=1.6" "websockets>=15" "h2>=4.1" "trustme>=1.1" "watchfiles>=0.21" "mypy>=1.10" "mkdocs>=1.6,<2"
# maturin develop installs the extension and the pure-Python packages of python/ into .venv.
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" .venv/bin/maturin develop --release -q 2>&1 | grep -v -E '^(📦|🔗|🐍|💻|🛠|✏️|📖|⚠️  Warning: pip raised a warning|Ignoring [^ ]+: markers |Requirement already satisfied: )' || true
# `maturin develop` does not install the wheel's data files; the device-module finder hook
# (viperhttp_compat.pth, docs/guide/device-apps.md) is copied in by hand, as the wheel installs it.
cp python/wheel-data/purelib/viperhttp_compat.pth \
  "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"
.venv/bin/python -c "import viperhttp, viperhttp_bridge" 
