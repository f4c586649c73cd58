#!/usr/bin/env bash
# Builds and runs Likeness, fetching what it needs first (system packages,
# the model pack). Arguments go to `likeness`, e.g. `scripts/run.sh people`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
command -v cargo >/dev/null || { echo "run: Rust is needed: see https://rustup.rs" >&2; exit 1; }
scripts/system-deps.sh
scripts/fetch-models.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/likeness/target}
# The dev profile builds dependencies optimised (see Cargo.toml), so tests
# and the app share one build.
exec cargo run --quiet --locked -p likeness -- "$@"
