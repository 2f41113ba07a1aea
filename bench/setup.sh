#!/usr/bin/env bash
# Setup for bench/fidelity.py: ffmpeg (Debian's, for the minterpolate baseline). The Python side
# uses the project's own environment (./setup.sh); nothing else is installed.
set -euo pipefail
if command -v ffmpeg >/dev/null 2>&1; then
    echo "ffmpeg: $(command -v ffmpeg)"
    exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y ffmpeg
