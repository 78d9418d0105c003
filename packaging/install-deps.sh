#!/usr/bin/env bash
# Installs every Debian package keel needs (build, tests, all plugins, headless
# rendering), so no later step has to touch the system. Idempotent: it calls
# apt only when something is missing, and works as root or through sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git file binutils
  libvulkan-dev mesa-vulkan-drivers vulkan-tools vulkan-validationlayers glslc
  libepoxy-dev libegl-dev libgl-dev libegl-mesa0 libgl1-mesa-dri libglfw3-dev
  liblua5.4-dev duktape-dev
  libcunit1-dev libinih-dev libpng-dev libcglm-dev libjansson-dev
  libx11-dev xdotool xvfb xauth
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "keel: all ${#PACKAGES[@]} Debian packages keel needs are installed"
  exit 0
fi

echo "keel: installing missing packages: ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "keel: need root or sudo to install: ${missing[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
