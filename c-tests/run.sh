#!/bin/bash
# Build and run the C side of rtdyld from scratch: configure into build/,
# build (this runs cargo build --release), and run every ctest test. Then
# the C test programs again, twice: built with AddressSanitizer and
# UndefinedBehaviorSanitizer (build/asan, RTDYLD_SANITIZE=ON), and under
# valgrind memcheck (build/valgrind); both must report nothing. The cargo
# build is shared, so those two only rebuild the C side.
# Installs what it needs with apt-get when missing (c-tests/setup.sh).
# RTDYLD_SKIP_MEMCHECK=1 skips the sanitizer and valgrind runs.
#
# usage: c-tests/run.sh [extra cmake configure arguments...]
#   e.g. c-tests/run.sh -DRTDYLD_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."

bash c-tests/setup.sh

echo "== configure"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
echo "== build"
cmake --build build -j2
echo "== test"
ctest --test-dir build --output-on-failure -j2

[ "${RTDYLD_SKIP_MEMCHECK:-0}" = 1 ] && exit 0

# Tests labelled "external" (find_package, real_program_*) build and run
# programs of their own, which are not instrumented.
echo "== AddressSanitizer + UndefinedBehaviorSanitizer (build/asan)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTDYLD_SANITIZE=ON "$@"
cmake --build build/asan -j2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j2 -LE external

# Every C test program (label c_program) under memcheck: any error, or a
# definitely or indirectly lost block, makes valgrind exit with 99.
# --smc-check: the tests rewrite code they already ran (re-finalize). Tests
# labelled no_valgrind rewrite it through a second mapping, which valgrind
# cannot track; they run under the sanitizers above.
echo "== valgrind memcheck (build/valgrind)"
valgrind_cmd="valgrind;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite,indirect"
valgrind_cmd+=";--show-leak-kinds=definite,indirect;--smc-check=all;--track-fds=no;--quiet"
cmake -S . -B build/valgrind -DCMAKE_BUILD_TYPE=Release "-DRTDYLD_TEST_LAUNCHER=$valgrind_cmd" "$@"
cmake --build build/valgrind -j2
ctest --test-dir build/valgrind --output-on-failure -j2 -L c_program -LE no_valgrind
