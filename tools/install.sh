#!/usr/bin/env bash
# Install everything Vocalis, its recipes and its tests need on a fresh Debian machine:
# the TTS programs and human recordings the digits corpus is made from, the CPU build of
# torch, then Vocalis itself (editable) with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="espeak-ng flite sox asterisk-core-sounds-en-wav"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

python -m pip install -q --disable-pip-version-check torch==2.13.0
python -m pip install -q --disable-pip-version-check -e ".[dev]"
