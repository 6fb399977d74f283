#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 30) and ends with
# `N passed, N failed`; exits non-zero when a target found a crash, a failed property
# or a hang. Needs no nightly: cargo-fuzz's flags are allowed with RUSTC_BOOTSTRAP=1.
#
#   scripts/fuzz.sh [SECONDS]
#
# Build output goes to $CARGO_TARGET_DIR/fuzz (default ~/.cache/chitin/target/fuzz),
# the corpus grown by the runs and the logs to $CHITIN_FUZZ_DIR (~/.cache/chitin/fuzz),
# all outside the clone; the committed seeds in fuzz/corpus/<target> are read only.
# A crashing input is written to fuzz/artifacts/<target>/; reproduce it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>` in fuzz/.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo_fuzz_version=0.13.2

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! "$cargo_bin/cargo-fuzz" --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  echo "==> cargo install cargo-fuzz@$cargo_fuzz_version"
  cargo install --locked --quiet "cargo-fuzz@$cargo_fuzz_version"
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chitin/target}/fuzz"
work="${CHITIN_FUZZ_DIR:-$HOME/.cache/chitin/fuzz}"

cd "$root/fuzz"
echo "==> cargo fuzz build"
cargo fuzz build

passed=0
failed=0
for target in $(cargo fuzz list); do
  mkdir -p "$work/corpus/$target" "$work/logs"
  log="$work/logs/$target.log"
  # New inputs go to the first corpus folder (the cache), the seeds are only read.
  if cargo fuzz run "$target" "$work/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    passed=$((passed + 1))
    result=ok
  else
    failed=$((failed + 1))
    result=FAILED
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf '%-16s %s, %s runs in %ss\n' "$target" "$result" "${execs:-?}" "$seconds"
  if [ "$result" = FAILED ]; then
    grep -E '^(thread .* panicked|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)|panicked at' "$log" | head -20 || true
    echo "    (the whole output: $log)"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
