#!/usr/bin/env bash
# Installs everything chitin's build, demo and tests need on a fresh Debian 12 machine
# of the kind described in ../shared/TOOLCHAIN.md. Idempotent: every step checks first.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }

need_apt=()
for pkg in rustc-web cargo-web rust-web-src lld-22 wasi-libc docker-registry; do
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
# wasm-pkg-tools, for the interop tests (chitin pushes, wkg pulls, and back).
install_crate wkg 0.16.1 wkg
log "toolchain ready"
