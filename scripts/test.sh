#!/usr/bin/env bash
# The whole test suite: set-up, Rust tests (unit, property, stress, integration), then pytest
# end to end over real sockets. This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "== stubtest (python/viperhttp/_native.pyi against the built extension)"
.venv/bin/python -m mypy.stubtest viperhttp._native
echo "== lint (clippy -D warnings, rustfmt)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The fuzz crate is outside the workspace (its own lockfile, nightly for `cargo fuzz`); lint it
# on stable too, so a changed runtime type breaks here and not only in the fuzz build.
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --quiet -- -D warnings
cargo fmt --all --check
echo "== cargo test"
cargo test --workspace --release --quiet 2>&1 | tail -n 40
echo "== user guide (mkdocs build --strict; its samples run in tests/test_guide.py)"
.venv/bin/mkdocs build --strict --quiet
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
echo "== fuzz (bounded: FUZZ_SECONDS per target, docs/internals/fuzzing.md)"
FUZZ_SECONDS=${FUZZ_SECONDS:-8} bash scripts/fuzz.sh
