#!/usr/bin/env bash
# Set up (if needed) and run an example app; default examples/hello.py on port 8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python "${1:-examples/hello.py}" "${@:2}"
