#!/usr/bin/env bash
# Bounded fuzzing run (docs/internals/fuzzing.md): every cargo-fuzz target in fuzz/ and the atheris
# harness for the Python parsers, each for FUZZ_SECONDS (default 10). Exits non-zero if any
# target crashes, panics, times out or fails to build; crash inputs land in fuzz/artifacts/.
#
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh              # longer run
#   FUZZ_TARGETS="ipc_ring cors" bash scripts/fuzz.sh  # a subset (names from `cargo fuzz list`,
#                                                      # plus "python" for the atheris harness)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
LOGS=fuzz/target/fuzz-logs
mkdir -p "$LOGS" fuzz/artifacts/python fuzz/corpus/python

if ! rustup toolchain list | grep -q "^${TOOLCHAIN}"; then
  echo "fuzz: the ${TOOLCHAIN} toolchain is not installed (rustup toolchain list)" >&2
  exit 1
fi
if ! cargo "+${TOOLCHAIN}" fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
if [ ! -x .venv/bin/python ]; then
  bash scripts/setup.sh
fi
if ! .venv/bin/python -c "import atheris" 2>/dev/null; then
  echo "== installing atheris"
  .venv/bin/python -m pip install -q --disable-pip-version-check atheris
fi

# Every target cargo-fuzz knows (a target added later, e.g. head_guard, is picked up as is).
ALL_TARGETS=$(cd fuzz && cargo "+${TOOLCHAIN}" fuzz list)
SELECTED=${FUZZ_TARGETS:-$ALL_TARGETS python}

echo "== cargo fuzz build (nightly, ASan, debug assertions)"
(cd fuzz && cargo "+${TOOLCHAIN}" fuzz build) >"$LOGS/build.log" 2>&1 || {
  tail -n 40 "$LOGS/build.log" >&2
  echo "fuzz: build failed" >&2
  exit 1
}

failed=()
passed=0
report() { # name log rc
  local runs
  runs=$(grep -Eo '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)' "$2" | grep -Eo '[0-9]+' | tail -n 1 || true)
  if [ "$3" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'fuzz %-14s ok      %10s runs in %ss\n' "$1" "${runs:-?}" "$FUZZ_SECONDS"
  else
    failed+=("$1")
    printf 'fuzz %-14s FAILED  (exit %s, log %s)\n' "$1" "$3" "$2"
    grep -E -A 20 'panicked at|Uncaught Python exception|ERROR: (AddressSanitizer|libFuzzer)' "$2" \
      | grep -v -E 'Test unit written to|^Base64:' | head -n 24 || true
    grep -E 'Test unit written to|^Base64:' "$2" | sort -u || true
  fi
}

for target in $SELECTED; do
  log="$LOGS/$target.log"
  rc=0
  if [ "$target" = python ]; then
    # No -timeout here: atheris is killed by its SIGALRM while reporting a crash.
    .venv/bin/python fuzz/python/fuzz_parsers.py -max_total_time="$FUZZ_SECONDS" \
      -artifact_prefix=fuzz/artifacts/python/ fuzz/corpus/python >"$log" 2>&1 || rc=$?
  else
    (cd fuzz && cargo "+${TOOLCHAIN}" fuzz run "$target" -- \
      -max_total_time="$FUZZ_SECONDS" -timeout=10) >"$log" 2>&1 || rc=$?
  fi
  report "$target" "$log" "$rc"
done

echo "fuzz: ${passed} passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]} (inputs under fuzz/artifacts/<target>/)" >&2
  exit 1
fi
