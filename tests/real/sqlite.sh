#!/usr/bin/env bash
# tests/real/sqlite.sh RTDYLD_BIN
#
# Real-program test: SQLite (its amalgamation, sqlite3.c: one translation
# unit of about 250,000 lines, with the FTS5, R*Tree and math functions
# built in), compiled to a relocatable object in several compiler/code-model
# flavours, linked with a small driver and run by `rtdyld run` (and again
# with `--remap`); it must print exactly what the same objects print when
# linked into an ordinary executable by the system linker.
#
# SQLite's sources are not part of this repository. They are fetched at test
# time from the crates.io package `libsqlite3-sys` (pinned below; its
# `sqlite3/` directory holds the amalgamation) with cargo, into a cache
# directory:
#     ${RTDYLD_THIRD_PARTY_DIR:-<repo>/target/third-party}
# Compiled objects are cached there per flavour, so a second run only relinks.
#
# tests/real/sqlite/driver.c (ours) provides main(): it runs SQL scripts
# (tests/real/sqlite/*.sql, ours) against an in-memory database and prints
# every result row. Each script is one case.
#
# Environment knobs (all optional):
#     RTDYLD_THIRD_PARTY_DIR     cache directory (see above)
#     RTDYLD_SQLITE_FLAVOURS     extended regex; only flavours whose name matches
#     RTDYLD_SQLITE_SCRIPTS      extended regex; only scripts whose name matches
#     RTDYLD_SQLITE_TIMEOUT      seconds per run (default 120)
#     RTDYLD_JOBS                parallel compiler jobs (default 2)
#
# Output: one line per case, "ok FLAVOUR SCRIPT [--remap]" or "FAIL ..." with
# the command, the differences and the stderr, then "N passed, M failed".
# Exit status is non-zero if anything failed.
set -euo pipefail

LIBSQLITE3_SYS_VERSION=0.30.1 # libsqlite3-sys 0.30.1 = SQLite 3.46.0

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
init_real_test sqlite "$@"
TIMEOUT=${RTDYLD_SQLITE_TIMEOUT:-120}
FLAVOUR_FILTER=${RTDYLD_SQLITE_FLAVOURS:-}
SCRIPT_FILTER=${RTDYLD_SQLITE_SCRIPTS:-}

# ---------------------------------------------------------------------------
# 1. Fetch the SQLite amalgamation through cargo (crates.io).
# ---------------------------------------------------------------------------
CRATE_DIR=$(fetch_crate libsqlite3-sys "$LIBSQLITE3_SYS_VERSION")
SQLITE_DIR="$CRATE_DIR/sqlite3"
if [[ ! -f $SQLITE_DIR/sqlite3.c || ! -f $SQLITE_DIR/sqlite3.h ]]; then
    echo "error: no sqlite3.c and sqlite3.h in $SQLITE_DIR" >&2
    exit 2
fi
echo "SQLite sources: $SQLITE_DIR"

select_scripts '*.sql' "SQL scripts" "$SCRIPT_FILTER"

# ---------------------------------------------------------------------------
# 2. Flavours: NAME|COMPILER|CFLAGS|LDFLAGS
#    LDFLAGS: extra flags for linking the reference executable.
# ---------------------------------------------------------------------------
COMMON_CFLAGS="-I$SQLITE_DIR -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_MATH_FUNCTIONS"
FLAVOURS=(
    "gcc-O2-fPIC|gcc|-O2 -fPIC|"
    "gcc-O0-g|gcc|-O0 -g|"
    "gcc-O2-fno-pic|gcc|-O2 -fno-pic|-no-pie"
    "gcc-Os-mcmodel-large|gcc|-Os -mcmodel=large|"
    "gcc-O2-fPIC-sections|gcc|-O2 -fPIC -ffunction-sections -fdata-sections|"
)
CLANG=$(first_on_path clang clang-14)
if [[ -n $CLANG ]]; then
    FLAVOURS+=("clang-O2-fPIC|$CLANG|-O2 -fPIC|")
else
    echo "clang skipped: neither clang nor clang-14 is on PATH"
fi
SELECTED=()
for spec in "${FLAVOURS[@]}"; do
    name=${spec%%|*}
    if [[ -z $FLAVOUR_FILTER || $name =~ $FLAVOUR_FILTER ]]; then
        SELECTED+=("$spec")
    fi
done

# ---------------------------------------------------------------------------
# 3. Compile (cached per flavour) and link the reference executables. The
#    amalgamation is one file, so the flavours, not the files, are compiled
#    $JOBS at a time.
# ---------------------------------------------------------------------------
# flavour_units NAME CC CFLAGS: sets DIR and UNITS for the flavour and
# empties DIR when it was built another way.
flavour_units() {
    local name=$1 cc=$2 cflags=$3
    DIR="$CACHE/sqlite-objs/$name"
    local stamp
    stamp=$(
        printf '%s\n' "libsqlite3-sys $LIBSQLITE3_SYS_VERSION" "$cc $COMMON_CFLAGS $cflags"
        "$cc" --version 2>/dev/null | head -n 1
        cat "$TEST_DIR/driver.c"
    )
    prepare_object_dir "$DIR" "$stamp"
    UNITS=("$SQLITE_DIR/sqlite3.c|sqlite3|" "$TEST_DIR/driver.c|driver|")
    HEADERS=("$SQLITE_DIR/sqlite3.h")
}

export -f compile_units flavour_units prepare_object_dir
export CACHE SQLITE_DIR TEST_DIR COMMON_CFLAGS LIBSQLITE3_SYS_VERSION
# shellcheck disable=SC2016
if ! printf '%s\0' "${SELECTED[@]}" | xargs -0 -n 1 -P "$JOBS" bash -c '
    IFS="|" read -r name cc cflags ldflags <<<"$1"
    flavour_units "$name" "$cc" "$cflags"
    JOBS=1 compile_units "$name" "$DIR" "$cc" "$cflags" "$COMMON_CFLAGS $cflags" >&2
' _; then
    echo "warning: some flavours failed to compile (reported below)" >&2
fi

# ---------------------------------------------------------------------------
# 4. Run every script with the reference and with rtdyld (plain and --remap).
# ---------------------------------------------------------------------------
start_cases sqlite "$TEST_DIR"

for spec in "${SELECTED[@]}"; do
    IFS='|' read -r name cc cflags ldflags <<<"$spec"
    flavour_units "$name" "$cc" "$cflags"
    # Compiled above; this only checks that both objects are there.
    if ! compile_units "$name" "$DIR" "$cc" "$cflags" "$COMMON_CFLAGS $cflags"; then
        fail_case "$name (build with $cc $cflags)"
        continue
    fi
    REF="$DIR/sqlite-ref"
    if ! link_reference "$REF" "$cc" "$cflags $ldflags" -lm -ldl -lpthread; then
        fail_case "$name (reference link with $cc $cflags $ldflags)"
        continue
    fi
    for script in "${SCRIPTS[@]}"; do
        run_case "$name $script" -l m -l dl -l pthread "${OBJS[@]}" -- "$script"
    done
done

finish_cases
