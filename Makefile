# chitin — `make demo` shows it working, `make test` runs every test.
# Both install what they need first (scripts/setup.sh, idempotent).

SHELL := /bin/bash
# Build output lives outside the clone so repeated runs (and CI) stay fast.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/chitin/target
export CHITIN_SKILLS_DIR ?= $(CARGO_TARGET_DIR)/skills
export CHITIN_SKILLS_TARGET ?= $(HOME)/.cache/chitin/skills-target

.PHONY: setup skills build test demo bench fuzz lint clean

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --workspace

skills: build
	@bash scripts/build-skills.sh

test: skills
	cargo test --workspace
	cargo test --manifest-path example-skills/Cargo.toml --workspace
	@# The native tests of the example skills in Python and C.
	cd example-skills/python/csv-stats && PYTHONPATH=../../../skills-sdk/python PYTHONDONTWRITEBYTECODE=1 python3 -m unittest -q
	cc -std=c11 -D_GNU_SOURCE -Wall -Iskills-sdk/c -o $(CARGO_TARGET_DIR)/test_wordcount \
	  example-skills/c/wordcount/test_wordcount.c example-skills/c/wordcount/wordcount.c skills-sdk/c/chitin.c
	$(CARGO_TARGET_DIR)/test_wordcount

demo: skills
	@bash scripts/demo.sh

bench: skills
	env -u RUST_BACKTRACE cargo bench -p chitin-host --bench invoke
	env -u RUST_BACKTRACE cargo bench -p chitin-tests --bench install
	env -u RUST_BACKTRACE cargo bench -p chitin-tests --bench agent
	@# The MCP bench runs the release `chitin` binary as a server.
	cargo build --release -p chitin-host --bin chitin
	env -u RUST_BACKTRACE cargo bench -p chitin-tests --bench mcp

# Every fuzz target for FUZZ_SECONDS each (scripts/fuzz.sh); not part of `make test`.
FUZZ_SECONDS ?= 30
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf $(CHITIN_SKILLS_DIR)
