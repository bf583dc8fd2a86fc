#!/usr/bin/env bash
# Lists crates that the host-only build (the README's first command) and the
# workspace's test build compile with different features. Each one is compiled
# twice on a fresh machine, and so is everything above it: before the host
# named the workspace's features (crates/host/Cargo.toml, "Feature
# unification"), that was cranelift and wasmtime, minutes of every CI run.
# Prints nothing when both builds agree; exits 1 when they do not.
set -euo pipefail
cd "$(dirname "$0")/.."
features() {
  cargo tree "$@" --prefix none -f '{p}|{f}' | sed 's/ (\*)$//' | sort -u
}
# One after the other: two `cargo tree` at once wait on each other's lock.
alone="$(mktemp)" together="$(mktemp)"
trap 'rm -f "$alone" "$together"' EXIT
features -p edgedesk-host -e normal,build >"$alone"
features --workspace -e normal,build,dev >"$together"
python3 - "$alone" "$together" <<'PY'
import sys

# A crate can be built twice in one build, for the target and for the build
# side (proc macros, build scripts), with features of its own each time. The
# host alone is reused when each of its crate builds is one the workspace makes
# too (the workspace may add builds of its own).
def load(path):
    crates = {}
    for line in open(path):
        name, _, feats = line.strip().partition("|")
        crates.setdefault(name, set()).add(feats or "(none)")
    return crates

host, workspace = load(sys.argv[1]), load(sys.argv[2])
drift = [name for name in sorted(host) if name in workspace and host[name] - workspace[name]]
for name in drift:
    print(f"{name}: built with [{'; '.join(sorted(host[name]))}] alone, "
          f"[{'; '.join(sorted(workspace[name]))}] in the workspace")
sys.exit(1 if drift else 0)
PY
