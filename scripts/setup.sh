#!/usr/bin/env bash
# Installs everything chitin's build, demo and tests need on a fresh Debian 12 machine
# of the kind described in ../shared/TOOLCHAIN.md. Idempotent: every step checks first.
#
#   Rust skills        Debian's rustc-web/cargo-web/rust-web-src/lld-22/wasi-libc (std for
#                      wasm32-wasip2 built offline), wasm-component-ld, wasm-tools
#   C skills           clang-19, lld-19, libclang-rt-19-dev-wasm32, wasi-libc,
#                      wit-bindgen-cli (the generator matching the Rust SDK's wit-bindgen)
#   JavaScript skills  node, and componentize-js + jco from skills-sdk/js/package-lock.json
#                      installed with `npm ci` into $CHITIN_JS_TOOLCHAIN (~/.cache/chitin/js)
#   Python skills      componentize-py (skills-sdk/python/requirements.txt) in a venv at
#                      $CHITIN_PY_TOOLCHAIN (~/.cache/chitin/py)
set -euo pipefail

log() { printf '==> %s\n' "$*"; }

need_apt=()
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
debs=(rustc-web cargo-web rust-web-src lld-22 wasi-libc docker-registry
  clang-19 lld-19 libclang-rt-19-dev-wasm32 curl git)
command -v node >/dev/null 2>&1 || debs+=(nodejs npm)
command -v npm >/dev/null 2>&1 || debs+=(npm)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || debs+=(python3-venv)
for pkg in "${debs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
install_crate() { # name version binary
  if ! "$cargo_bin/$3" --version 2>/dev/null | grep -q "$2"; then
    log "cargo install $1@$2"
    cargo install --locked --quiet "$1@$2"
  fi
}
install_crate wasm-component-ld 0.5.17 wasm-component-ld
install_crate wasm-tools 1.240.0 wasm-tools
install_crate wit-bindgen-cli 0.46.0 wit-bindgen

# JavaScript: the exact packages of the committed lock file, outside the clone.
js_dir="${CHITIN_JS_TOOLCHAIN:-$HOME/.cache/chitin/js}"
if ! cmp -s "$root/skills-sdk/js/package-lock.json" "$js_dir/package-lock.json" ||
  [ ! -f "$js_dir/node_modules/@bytecodealliance/componentize-js/package.json" ]; then
  log "npm ci in $js_dir (componentize-js, jco)"
  mkdir -p "$js_dir"
  cp "$root/skills-sdk/js/package.json" "$root/skills-sdk/js/package-lock.json" "$js_dir/"
  (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Python: componentize-py in its own venv, outside the clone.
py_dir="${CHITIN_PY_TOOLCHAIN:-$HOME/.cache/chitin/py}"
if ! cmp -s "$root/skills-sdk/python/requirements.txt" "$py_dir/requirements.txt" ||
  [ ! -x "$py_dir/bin/componentize-py" ]; then
  log "componentize-py in a venv at $py_dir"
  python3 -m venv "$py_dir"
  "$py_dir/bin/pip" install --quiet --disable-pip-version-check -r "$root/skills-sdk/python/requirements.txt"
  cp "$root/skills-sdk/python/requirements.txt" "$py_dir/requirements.txt"
fi
# wasm-pkg-tools, for the interop tests (chitin pushes, wkg pulls, and back).
install_crate wkg 0.16.1 wkg
# cargo-fuzz, for `make fuzz` (scripts/fuzz.sh); built with RUSTC_BOOTSTRAP=1 on stable.
install_crate cargo-fuzz 0.13.2 cargo-fuzz
log "toolchain ready"
