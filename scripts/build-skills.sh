#!/usr/bin/env bash
# Builds every skill of the repository from source into $CHITIN_SKILLS_DIR. Called by
# `make skills`.
#
# Rust: every crate of the example-skills workspace (example-skills/Cargo.toml, which
# also holds tests/skills/probe), built together for wasm32-wasip2 in release mode (one
# build of std for all), then each skill's manifest embedded:
#
#   $CHITIN_SKILLS_DIR/raw/<name>.wasm   the component as the compiler produced it
#   $CHITIN_SKILLS_DIR/<name>.wasm       the same with its skill.toml embedded
#                                        (`chitin skill pack`)
#
# JavaScript, Python and C: every other folder with a skill.toml under example-skills/
# and tests/skills/, built with `chitin skill build <dir> -o $CHITIN_SKILLS_DIR/<name>.wasm`
# (componentize-js, componentize-py, or wit-bindgen + clang + wasm-tools).
#
# <name> is the `[skill] name` of the skill.toml.
#
# Toolchain: a rustup toolchain with the wasm32-wasip2 target when there is one;
# otherwise the offline recipe of TOOLCHAIN.md (Debian's rustc/cargo 1.96 from
# /usr/bin, std rebuilt from rust-web-src with -Zbuild-std, wasm-component-ld from
# ~/.cargo/bin, Debian's wasi-libc). scripts/setup.sh installs all of it.
#
# Environment:
#   CHITIN_SKILLS_TARGET  cargo target dir of the skills (default
#                         ~/.cache/chitin/skills-target; outside the clone, so repeated
#                         CI runs reuse the std build)
#   CHITIN_SKILLS_DIR     where the components go (default target/skills of the clone;
#                         the Makefile sets it, and the tests and demo read it)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workspace="$root/example-skills"
target_dir="${CHITIN_SKILLS_TARGET:-$HOME/.cache/chitin/skills-target}"
out_dir="${CHITIN_SKILLS_DIR:-$root/target/skills}"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
wasm_target=wasm32-wasip2
# Initial linear memory of the Rust skills: the 1 MiB stack, the data and room for the
# heap of a typical call, so that a call needs no memory.grow and a reused pool slot
# no mprotect (see RUST_INITIAL_MEMORY in host/src/cli/author.rs, kept in step).
initial_memory=$((2 << 20))

die() {
  printf 'build-skills: error: %s\n' "$*" >&2
  exit 1
}
missing() {
  die "$1 is missing ($2); run scripts/setup.sh to install the skill toolchain"
}

# --- pick the toolchain -----------------------------------------------------------
if command -v rustup >/dev/null 2>&1 &&
  rustup target list --installed 2>/dev/null | grep -qx "$wasm_target"; then
  toolchain="rustup ($(rustc --version))"
  skills_cargo=(cargo)
  build_args=(--config "target.$wasm_target.rustflags=[\"-C\", \"link-arg=--initial-memory=$initial_memory\"]")
else
  # Offline fallback: Debian's Rust, which ships the std sources.
  [ -x /usr/bin/cargo ] || missing /usr/bin/cargo "Debian package cargo-web"
  [ -x /usr/bin/rustc ] || missing /usr/bin/rustc "Debian package rustc-web"
  sysroot="$(/usr/bin/rustc --print sysroot)"
  [ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] ||
    missing "the std sources under $sysroot/lib/rustlib/src" "Debian package rust-web-src"
  [ -f /usr/lib/wasm32-wasi/libc.a ] || missing /usr/lib/wasm32-wasi/libc.a "Debian package wasi-libc"
  command -v lld-22 >/dev/null 2>&1 || [ -x /usr/bin/lld-22 ] ||
    missing lld-22 "Debian package lld-22, which Debian's rust-lld needs"
  linker="$cargo_bin/wasm-component-ld"
  [ -x "$linker" ] || missing "$linker" "cargo install wasm-component-ld"
  toolchain="Debian $(/usr/bin/rustc --version) with -Zbuild-std"
  # /usr/bin first so that cargo's own calls to rustc also get Debian's.
  skills_cargo=(env PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 /usr/bin/cargo)
  build_args=(
    -Zbuild-std=std,panic_abort
    --config "target.$wasm_target.linker=\"$linker\""
    --config "target.$wasm_target.rustflags=[\"-L\", \"/usr/lib/wasm32-wasi\", \"-C\", \"link-arg=--initial-memory=$initial_memory\"]"
  )
fi

# --- build ------------------------------------------------------------------------
echo "build-skills: $toolchain, target dir $target_dir"
start=$(date +%s)
"${skills_cargo[@]}" build --release --target "$wasm_target" \
  --manifest-path "$workspace/Cargo.toml" --target-dir "$target_dir" \
  ${build_args[@]+"${build_args[@]}"}
echo "build-skills: compiled in $(($(date +%s) - start))s"

# --- collect and pack -------------------------------------------------------------
# Members of the skills workspace, as directories (cargo metadata knows the globs
# and the paths outside example-skills/).
members=$("${skills_cargo[@]}" metadata --no-deps --format-version 1 \
  --manifest-path "$workspace/Cargo.toml" |
  grep -o '"manifest_path":"[^"]*"' | sed 's/^"manifest_path":"//; s/"$//' |
  xargs -n1 dirname | sort)
[ -n "$members" ] || die "no skill crates found in $workspace/Cargo.toml"

# First `name = "..."` of a TOML table.
toml_name() { # file table
  sed -n "/^\[$2\]/,/^\[/{s/^name *= *\"\([^\"]*\)\".*/\1/p}" "$1" | head -n1
}

# The packer is the chitin CLI (the debug build, which `make test` builds anyway).
# `--workspace` matches `make build`, so cargo reuses that build instead of redoing it
# with other features.
(cd "$root" && cargo build -q --workspace) ||
  die "could not build the chitin CLI (needed for \`chitin skill pack\`)"

chitin="${CARGO_TARGET_DIR:-$root/target}/debug/chitin"
mkdir -p "$out_dir/raw"
count=0
while IFS= read -r dir; do
  [ -f "$dir/skill.toml" ] || continue # a library crate, not a skill
  crate="$(toml_name "$dir/Cargo.toml" package)"
  name="$(toml_name "$dir/skill.toml" skill)"
  [ -n "$crate" ] || die "no package name in $dir/Cargo.toml"
  [ -n "$name" ] || die "no [skill] name in $dir/skill.toml"
  built="$target_dir/$wasm_target/release/${crate//-/_}.wasm"
  [ -f "$built" ] || die "$built was not produced (is $dir a cdylib?)"
  raw="$out_dir/raw/$name.wasm"
  cp "$built" "$raw"
  if ! pack_log=$("$chitin" skill pack "$raw" --manifest "$dir/skill.toml" -o "$out_dir/$name.wasm" 2>&1); then
    printf '%s\n' "$pack_log" >&2
    die "chitin skill pack failed for $name ($dir/skill.toml)"
  fi
  size=$(wc -c <"$out_dir/$name.wasm")
  printf '  %-14s %s  %d KiB\n' "$name" "$out_dir/$name.wasm" $(((size + 1023) / 1024))
  count=$((count + 1))
done <<<"$members"
[ "$count" -gt 0 ] || die "no skill.toml next to any crate of $workspace/Cargo.toml"
echo "build-skills: $count Rust skills in $(($(date +%s) - start))s"

# --- JavaScript, Python and C: `chitin skill build` --------------------------------
others=$(find "$root/example-skills" "$root/tests/skills" -name skill.toml \
  -not -path '*/target/*' -not -path '*/node_modules/*' | sort)
declare -A lang_seconds=() lang_count=()
while IFS= read -r manifest; do
  [ -n "$manifest" ] || continue
  dir="$(dirname "$manifest")"
  [ -f "$dir/Cargo.toml" ] && continue # a Rust crate, built above
  name="$(toml_name "$manifest" skill)"
  [ -n "$name" ] || die "no [skill] name in $manifest"
  if [ -f "$dir/skill.js" ]; then lang=js; elif [ -f "$dir/app.py" ]; then lang=python; else lang=c; fi
  t0=$(date +%s%N)
  if ! build_log=$("$chitin" skill build "$dir" -o "$out_dir/$name.wasm" 2>&1); then
    printf '%s\n' "$build_log" >&2
    die "chitin skill build failed for $name ($dir)"
  fi
  ms=$((($(date +%s%N) - t0) / 1000000))
  lang_seconds[$lang]=$((${lang_seconds[$lang]:-0} + ms))
  lang_count[$lang]=$((${lang_count[$lang]:-0} + 1))
  size=$(wc -c <"$out_dir/$name.wasm")
  printf '  %-14s %s  %d KiB  %s %d.%ds\n' "$name" "$out_dir/$name.wasm" $(((size + 1023) / 1024)) \
    "$lang" $((ms / 1000)) $((ms % 1000 / 100))
  count=$((count + 1))
done <<<"$others"
for lang in "${!lang_count[@]}"; do
  ms=${lang_seconds[$lang]}
  echo "build-skills: $lang: ${lang_count[$lang]} skills in $((ms / 1000)).$((ms % 1000 / 100))s"
done
echo "build-skills: $count skills in $(($(date +%s) - start))s"
