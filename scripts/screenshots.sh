#!/usr/bin/env bash
# Runs the real Likeness window under Xvfb against a library imported from
# the shared test photos and saves screenshots of its main screens:
#   people.png, person.png, groups.png, photo.png, import.png
#
# Usage: scripts/screenshots.sh [OUT_DIR]   (default: target/screenshots)
# Env:   LIKENESS_SHARED (default ../shared), LIKENESS_MODELS,
#        IDENTITIES (how many people/ folders to import, default 5),
#        SETTLE_S (seconds to let a screen load before the shot, default 6).
# Needs: xvfb, imagemagick (scripts/system-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/screenshots}"
shared="${LIKENESS_SHARED:-../shared}"
faces="$shared/faces"
identities="${IDENTITIES:-5}"
settle="${SETTLE_S:-6}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cargo build --profile dev --workspace --bins
bin="${CARGO_TARGET_DIR:-target}/debug/likeness"

work="$(mktemp -d)"
xvfb_pid=""
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A small library: the first identities of people/ plus the group photos.
mkdir -p "$work/photos/people"
for d in $(ls "$faces/people" | head -n "$identities"); do
  cp -r "$faces/people/$d" "$work/photos/people/"
done
cp -r "$faces/group" "$work/photos/group"
lib="$work/library.redb"
echo "screenshots: importing $(find "$work/photos" -type f | wc -l) photos"
"$bin" --library "$lib" import "$work/photos"

export XDG_RUNTIME_DIR="$work/xdg"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb_pid=$!
export DISPLAY="$display"
sleep 2

shot() { # view file [settle]
  LIKENESS_START_VIEW="$1" "$bin" --library "$2" &
  app_pid=$!
  sleep "${4:-$settle}"
  import -window root "$out/$3.png"
  kill "$app_pid" 2>/dev/null || true
  wait "$app_pid" 2>/dev/null || true
  app_pid=""
  echo "screenshots: $out/$3.png"
}

shot people "$lib" people
shot person "$lib" person
shot groups "$lib" groups
shot photo "$lib" photo
# Import progress: a fresh library importing the identities, caught mid-way.
shot "import:$work/photos/people" "$work/fresh.redb" import 12
