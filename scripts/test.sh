#!/usr/bin/env bash
# Runs every check and test of the workspace. CI runs exactly this through
# .ci/run. Builds go to a target dir outside the clone, reused across clones.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)
scripts/system-deps.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/likeness/target}
# wgpu (GPU tests on lavapipe) wants a private runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/likeness-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
# Tests use the shared model pack when present, else the fetched one.
if [ -z "${LIKENESS_MODELS:-}" ] && [ -d "$here/../shared/models/buffalo_sc" ]; then
  export LIKENESS_MODELS="$here/../shared/models"
else
  scripts/fetch-models.sh
fi
cargo fmt --all -- --check
# Clippy's check build keeps its own target dir: its artifacts never mix
# with the test build's.
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-clippy" cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
echo "test.sh: all checks passed in $(( $(date +%s) - start )) s"
