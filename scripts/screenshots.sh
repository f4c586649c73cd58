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
# The shared model pack unless another is named.
if [ -z "${LIKENESS_MODELS:-}" ] && [ -d "$shared/models/buffalo_sc" ]; then
  export LIKENESS_MODELS="$(cd "$shared/models" && pwd)"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/likeness/target}"
cargo build --profile dev --workspace --bins
bin="$CARGO_TARGET_DIR/debug/likeness"

work="$(mktemp -d)"
# wgpu (the window, and the import's GPU probe) wants a private runtime dir.
export XDG_RUNTIME_DIR="$work/xdg"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
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
# Name the people the way a user would (one person per identity folder, its
# faces assigned), through the command line, so People and Person have content.
"$bin" --library "$lib" export --json > "$work/export.json"
python3 - "$work/export.json" "$work/photos/people" > "$work/naming.txt" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
root = sys.argv[2]
path_of = {p["id"]: p["paths"][0] for p in d["photos"] if p["paths"]}
by_folder = {}
for f in d["faces"]:
    path = path_of.get(f["photo"], "")
    if path.startswith(root + "/"):
        folder = path[len(root) + 1:].split("/")[0]
        by_folder.setdefault(folder, []).append(f["id"])
for folder, faces in sorted(by_folder.items()):
    print(folder.replace("_", " ") + "\t" + " ".join(map(str, faces)))
PY
while IFS=$'\t' read -r name face_ids; do
  id=$("$bin" --library "$lib" persons create "$name")
  for f in $face_ids; do "$bin" --library "$lib" persons assign "$f" "$id"; done
done < "$work/naming.txt"
"$bin" --library "$lib" people

display=":$((90 + RANDOM % 100))"
# The window opens at 1180×740: the screen is that size, so shots are the window.
Xvfb "$display" -screen 0 1180x740x24 -nolisten tcp &
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
# Import progress: a fresh library importing every identity folder (a few
# hundred photos), caught mid-way.
shot "import:$(cd "$faces/people" && pwd)" "$work/fresh.redb" import 20
