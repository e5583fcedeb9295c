#!/bin/sh
# Installs the Debian/Ubuntu packages triad needs, if any are missing.
#   build:  a C compiler, CMake, pkg-config, OpenBLAS (CBLAS), cJSON, zlib
#   tests:  cmocka; MPICH for the multi-process parameter server; python3-torch
#           for the PyTorch cross-checks; wamerican (real English words) for
#           the dual-learning test on monolingual spellings
#   data:   apt (apt-get download) and dpkg-deb, present on every Debian system
# Usage: scripts/deps.sh   (as root, or with sudo available)
set -eu
PACKAGES="build-essential cmake pkg-config libopenblas-dev libcjson-dev zlib1g-dev libcmocka-dev mpich libmpich-dev python3 python3-torch wamerican"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
