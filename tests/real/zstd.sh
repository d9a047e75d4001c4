#!/usr/bin/env bash
# tests/real/zstd.sh RTDYLD_BIN
#
# Real-program test: the zstd compression library (about 30 C files and one
# hand-written x86-64 assembly file, huf_decompress_amd64.S, with
# multithreading on), compiled to relocatable objects in several
# compiler/code-model flavours, linked with a small driver and run by
# `rtdyld run` (and again with `--remap`); it must print exactly what the
# same objects print when linked into an ordinary executable by the system
# linker.
#
# zstd's sources are not part of this repository. They are fetched at test
# time from the crates.io package `zstd-sys` (pinned below; its `zstd/lib`
# directory holds the library) with cargo, into a cache directory:
#     ${RTDYLD_THIRD_PARTY_DIR:-<repo>/target/third-party}
# Compiled objects are cached there per flavour, so a second run only relinks.
#
# tests/real/zstd/driver.c (ours) provides main(); each case is one of its
# modes: levels, stream, dict, mt.
#
# Environment knobs (all optional):
#     RTDYLD_THIRD_PARTY_DIR   cache directory (see above)
#     RTDYLD_ZSTD_FLAVOURS     extended regex; only flavours whose name matches
#     RTDYLD_ZSTD_TIMEOUT      seconds per run (default 120)
#     RTDYLD_JOBS              parallel compiler jobs (default 2)
#
# Output: one line per case, "ok FLAVOUR MODE [--remap]" or "FAIL ..." with
# the command, the differences and the stderr, then "N passed, M failed".
# Exit status is non-zero if anything failed.
set -euo pipefail

ZSTD_SYS_VERSION=2.0.13+zstd.1.5.6 # zstd-sys 2.0.13 = zstd 1.5.6

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
init_real_test zstd "$@"
TIMEOUT=${RTDYLD_ZSTD_TIMEOUT:-120}
FLAVOUR_FILTER=${RTDYLD_ZSTD_FLAVOURS:-}

CRATE_DIR=$(fetch_crate zstd-sys "$ZSTD_SYS_VERSION")
ZSTD_DIR="$CRATE_DIR/zstd/lib"
if [[ ! -f $ZSTD_DIR/zstd.h || ! -f $ZSTD_DIR/decompress/huf_decompress_amd64.S ]]; then
    echo "error: no zstd.h and huf_decompress_amd64.S in $ZSTD_DIR" >&2
    exit 2
fi
echo "zstd sources: $ZSTD_DIR"

# Flavours: NAME|COMPILER|CFLAGS|LDFLAGS (LDFLAGS: for the reference executable).
COMMON_CFLAGS="-I$ZSTD_DIR -I$ZSTD_DIR/common -DZSTD_MULTITHREAD"
FLAVOURS=(
    "gcc-O2-fPIC|gcc|-O2 -fPIC|"
    "gcc-O3-fno-pic|gcc|-O3 -fno-pic|-no-pie"
    "gcc-O1-fPIC-mcmodel-large|gcc|-O1 -fPIC -mcmodel=large|"
    "gcc-O2-fPIC-sections|gcc|-O2 -fPIC -ffunction-sections -fdata-sections|"
)
CLANG=$(first_on_path clang clang-14)
if [[ -n $CLANG ]]; then
    FLAVOURS+=("clang-O2-fPIC|$CLANG|-O2 -fPIC|")
else
    echo "clang skipped: neither clang nor clang-14 is on PATH"
fi
MODES=(levels stream dict mt)

# The library's units in link order, then the driver.
UNITS=()
HEADERS=("$ZSTD_DIR/zstd.h" "$ZSTD_DIR/zdict.h")
for src in "$ZSTD_DIR"/common/*.c "$ZSTD_DIR"/compress/*.c "$ZSTD_DIR"/decompress/*.c \
    "$ZSTD_DIR"/decompress/*.S "$ZSTD_DIR"/dictBuilder/*.c; do
    base=${src##*/}
    UNITS+=("$src|${base%.*}-${base##*.}|")
done
UNITS+=("$TEST_DIR/driver.c|driver|")

start_cases zstd "$TEST_DIR"

for spec in "${FLAVOURS[@]}"; do
    IFS='|' read -r name cc cflags ldflags <<<"$spec"
    if [[ -n $FLAVOUR_FILTER && ! $name =~ $FLAVOUR_FILTER ]]; then
        continue
    fi
    DIR="$CACHE/zstd-objs/$name"
    stamp=$(
        printf '%s\n' "zstd-sys $ZSTD_SYS_VERSION" "$cc $COMMON_CFLAGS $cflags"
        "$cc" --version 2>/dev/null | head -n 1
    )
    prepare_object_dir "$DIR" "$stamp"
    if ! compile_units "$name" "$DIR" "$cc" "$cflags" "$COMMON_CFLAGS $cflags"; then
        fail_case "$name (build with $cc $cflags)"
        continue
    fi
    REF="$DIR/zstd-ref"
    if ! link_reference "$REF" "$cc" "$cflags $ldflags" -lpthread; then
        fail_case "$name (reference link with $cc $cflags $ldflags)"
        continue
    fi
    for mode in "${MODES[@]}"; do
        run_case "$name $mode" -l pthread "${OBJS[@]}" -- "$mode"
    done
done

finish_cases
