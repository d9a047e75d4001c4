#!/usr/bin/env bash
# tests/real/lua.sh RTDYLD_BIN
#
# Real-program test: the Lua 5.4 interpreter, compiled to relocatable objects
# in several compiler/code-model flavours, linked and run by `rtdyld run`
# (and again with `--remap`), must print exactly what the same objects print
# when linked into an ordinary executable by the system linker.
#
# Lua's sources are not part of this repository. They are fetched at test time
# from the crates.io package `lua-src` (pinned below) with cargo, into a cache
# directory:
#     ${RTDYLD_THIRD_PARTY_DIR:-<repo>/target/third-party}
# Compiled objects are cached there per flavour, so a second run only relinks.
#
# The crate ships Lua's library sources but not lua.c; tests/real/lua/driver.c
# (ours) provides main(). The scripts run are tests/real/lua/*.lua (ours).
#
# Environment knobs (all optional):
#     RTDYLD_THIRD_PARTY_DIR   cache directory (see above)
#     RTDYLD_LUA_FLAVOURS      extended regex; only flavours whose name matches
#     RTDYLD_LUA_SCRIPTS       extended regex; only scripts whose name matches
#     RTDYLD_LUA_EXTRA_FLAVOURS more flavours, ';'-separated, each
#                              NAME|COMPILER|CFLAGS|LDFLAGS|RTDYLD_ARGS
#     RTDYLD_LUA_TIMEOUT       seconds per run (default 120)
#     RTDYLD_JOBS              parallel compiler jobs (default 2)
#
# Output: one line per case, "ok FLAVOUR SCRIPT [--remap]" or "FAIL ..." with
# the command, the differences and the stderr, then "N passed, M failed".
# Exit status is non-zero if anything failed.
set -euo pipefail

LUA_SRC_VERSION=547.1.0 # lua-src 547.1.0 = Lua 5.4.7

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
init_real_test lua "$@"
TIMEOUT=${RTDYLD_LUA_TIMEOUT:-120}
FLAVOUR_FILTER=${RTDYLD_LUA_FLAVOURS:-}
SCRIPT_FILTER=${RTDYLD_LUA_SCRIPTS:-}
SCRIPT_ARGS=(alpha 42)

# ---------------------------------------------------------------------------
# 1. Fetch the Lua sources through cargo (crates.io) and unpack the .crate.
# ---------------------------------------------------------------------------
CRATE_DIR=$(fetch_crate lua-src "$LUA_SRC_VERSION")

# The crate holds one directory per Lua version (lua-5.4.7/ in 547.x; newer
# crates hold several); take the newest 5.4.
LUA_DIR=""
while IFS= read -r d; do
    LUA_DIR=$d
done < <(find "$CRATE_DIR" -mindepth 1 -maxdepth 1 -type d -name 'lua-5.4*' | sort -V)
if [[ -z $LUA_DIR || ! -f $LUA_DIR/lapi.c ]]; then
    echo "error: no Lua 5.4 source directory with lapi.c in $CRATE_DIR" >&2
    exit 2
fi
echo "Lua sources: $LUA_DIR"

# All of Lua's .c files except the stand-alone programs (lua.c, luac.c) and
# the amalgamation (onelua.c), none of which this crate version ships; our
# driver.c provides main().
SOURCES=()
while IFS= read -r f; do
    case ${f##*/} in
    lua.c | luac.c | onelua.c) ;;
    *) SOURCES+=("$f") ;;
    esac
done < <(find "$LUA_DIR" -maxdepth 1 -name '*.c' | sort)
SOURCES+=("$TEST_DIR/driver.c")
echo "${#SOURCES[@]} source files"

select_scripts '*.lua' "Lua scripts" "$SCRIPT_FILTER"

# ---------------------------------------------------------------------------
# 2. Flavours: NAME|COMPILER|CFLAGS|LDFLAGS|RTDYLD_ARGS
#    LDFLAGS: extra flags for linking the reference executable;
#    RTDYLD_ARGS: extra arguments for `rtdyld run` (beyond -l m -l dl).
#    A compiler whose name contains ++ compiles the sources as C++ (-x c++):
#    Lua then raises errors with C++ throw/catch instead of longjmp, so every
#    Lua error unwinds through the loaded code with the unwind tables
#    (.eh_frame) that rtdyld must register.
# ---------------------------------------------------------------------------
COMMON_CFLAGS="-DLUA_USE_LINUX -I$LUA_DIR"
FLAVOURS=(
    "gcc-O2-fPIC|gcc|-O2 -fPIC|"
    "gcc-O2-fPIE|gcc|-O2 -fPIE|-pie"
    "gcc-O2-fno-pic|gcc|-O2 -fno-pic|-no-pie"
    "gcc-O2-mcmodel-large|gcc|-O2 -mcmodel=large|"
    "gcc-O2-fno-pic-mcmodel-large|gcc|-O2 -fno-pic -mcmodel=large|-no-pie"
    "gcc-O0-fPIC|gcc|-O0 -fPIC|"
    "gcc-O3-fno-pic-mcmodel-medium|gcc|-O3 -fno-pic -mcmodel=medium|-no-pie"
    "gcc-O2-fPIC-fno-plt|gcc|-O2 -fPIC -fno-plt|"
    "gcc-O2-fPIC-g-sections|gcc|-O2 -fPIC -g -ffunction-sections -fdata-sections|"
    "gcc-O2-fPIC-fvisibility-hidden|gcc|-O2 -fPIC -fvisibility=hidden|"
    "gcc-Os-fPIC-cf-protection-ssp|gcc|-Os -fPIC -fcf-protection=full -fstack-protector-all|"
)
if command -v g++ >/dev/null 2>&1; then
    FLAVOURS+=("g++-O2-fPIC-exceptions|g++|-O2 -fPIC||-l stdc++")
else
    echo "g++ skipped: g++ is not on PATH"
fi
CLANG=$(first_on_path clang clang-14)
if [[ -n $CLANG ]]; then
    FLAVOURS+=(
        "clang-O2-fPIC|$CLANG|-O2 -fPIC|"
        "clang-O2-fno-pic|$CLANG|-O2 -fno-pic|-no-pie"
        "clang-O2-fPIC-mcmodel-large|$CLANG|-O2 -fPIC -mcmodel=large|"
    )
else
    echo "clang skipped: neither clang nor clang-14 is on PATH"
fi
CLANGXX=$(first_on_path clang++ clang++-14)
if [[ -n $CLANGXX ]]; then
    FLAVOURS+=("clang++-O2-fPIC-exceptions|$CLANGXX|-O2 -fPIC||-l stdc++")
else
    echo "clang++ skipped: neither clang++ nor clang++-14 is on PATH"
fi

if [[ -n ${RTDYLD_LUA_EXTRA_FLAVOURS:-} ]]; then
    IFS=';' read -r -a extra <<<"$RTDYLD_LUA_EXTRA_FLAVOURS"
    FLAVOURS+=("${extra[@]}")
fi

# ---------------------------------------------------------------------------
# 3. Compile (cached per flavour) and link the reference executable.
# ---------------------------------------------------------------------------
# build_flavour NAME CC CFLAGS LDFLAGS: fills OBJS and REF, returns non-zero on
# a compile or link error (reported by the caller as a failure).
build_flavour() {
    local name=$1 cc=$2 cflags=$3 ldflags=$4
    local dir="$CACHE/lua-objs/$name"
    local lang="-std=gnu99"
    if [[ $cc == *++* ]]; then
        lang="-x c++ -std=gnu++11"
    fi
    local stamp
    stamp=$(
        printf '%s\n' "lua-src $LUA_SRC_VERSION" "$cc $lang $COMMON_CFLAGS $cflags" "ld $ldflags"
        "$cc" --version 2>/dev/null | head -n 1
        cat "$TEST_DIR/driver.c"
    ) || return 1
    prepare_object_dir "$dir" "$stamp"
    UNITS=()
    HEADERS=()
    local src base
    for src in "${SOURCES[@]}"; do
        base=${src##*/}
        UNITS+=("$src|${base%.c}|")
    done
    if ! compile_units "$name" "$dir" "$cc" "$lang $cflags" "$lang $COMMON_CFLAGS $cflags"; then
        echo "compile error in flavour $name" >&2
        return 1
    fi
    REF="$dir/lua-ref"
    if ! link_reference "$REF" "$cc" "$cflags $ldflags" -lm -ldl; then
        echo "reference link error in flavour $name" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------
# 4. Run every script with the reference and with rtdyld (plain and --remap).
# ---------------------------------------------------------------------------
start_cases lua "$TEST_DIR"

for spec in "${FLAVOURS[@]}"; do
    IFS='|' read -r name cc cflags ldflags rtdyld_args <<<"$spec"
    if [[ -n $FLAVOUR_FILTER && ! $name =~ $FLAVOUR_FILTER ]]; then
        continue
    fi
    if ! build_flavour "$name" "$cc" "$cflags" "$ldflags"; then
        fail_case "$name (build with $cc $cflags)"
        continue
    fi
    for script in "${SCRIPTS[@]}"; do
        # shellcheck disable=SC2086
        run_case "$name $script" -l m -l dl $rtdyld_args "${OBJS[@]}" -- "$script" "${SCRIPT_ARGS[@]}"
    done
done

finish_cases
