#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Likeness needs that are missing, when
# run as root (or with sudo available); otherwise says what to install.
set -euo pipefail
packages=(pkg-config python3 python3-pip)
# libjpeg-turbo (decoding bit-exact with the reference pipeline) builds with these.
packages+=(cmake nasm)
# A wgpu adapter without a GPU (Mesa lavapipe), so the GPU path is tested.
packages+=(mesa-vulkan-drivers libvulkan1)
# GUI: rfd's GTK file dialog (libgtk-3-dev), GL/EGL and X11 client libraries
# for winit, and Xvfb + ImageMagick for scripts/screenshots.sh.
packages+=(libgtk-3-dev libgl1-mesa-dri libegl1 libgl1
  libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 xvfb xauth imagemagick)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-deps: please install: ${missing[*]}" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
