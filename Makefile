# One entry point: the README's two commands are `make run` and `make test`.
.PHONY: run test build-dev lint bench soak

run:            ## build everything and run examples/hello.py on :8080
	bash scripts/run-example.sh examples/hello.py

test:           ## build everything and run the whole test suite
	bash scripts/test.sh

build-dev:      ## (re)build the extension into .venv
	bash scripts/setup.sh

lint:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
	cargo fmt --all --check

bench:          ## request-path benchmark against the peers, ~7 min (docs/internals/benchmarks.md)
	bash benches/run.sh

soak:           ## mixed traffic for DURATION s (600), leaks and drift (docs/internals/benchmarks.md "Soak")
	bash benches/run_soak.sh
