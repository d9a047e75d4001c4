#!/bin/bash
# Build and run the C side of rtdyld from scratch: configure into build/,
# build (this runs cargo build --release), and run every ctest test.
# Installs cmake (and pkg-config) with apt-get if they are missing.
#
# usage: c-tests/run.sh [extra cmake configure arguments...]
#   e.g. c-tests/run.sh -DRTDYLD_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update
  $sudo apt-get install -y "${need[@]}"
fi

echo "== configure"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
echo "== build"
cmake --build build -j2
echo "== test"
ctest --test-dir build --output-on-failure -j2
