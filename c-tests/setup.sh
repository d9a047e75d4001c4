#!/bin/bash
# Installs, with apt-get, the system packages the tests use when they are
# missing: cmake, pkg-config, valgrind and gdb (C tests), and LLVM's
# libunwind (a test runs C++ exceptions with it as the unwinder). Called by
# the README's test command before anything else, and by c-tests/run.sh.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
command -v gdb >/dev/null || need+=(gdb)
[ -e /usr/lib/llvm-14/lib/libunwind.so.1 ] || need+=(libunwind-14)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update
  $sudo apt-get install -y "${need[@]}"
fi
