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

if [[ $# -ne 1 ]]; then
    echo "usage: $0 RTDYLD_BIN" >&2
    exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEST_DIR="$REPO/tests/real/lua"
RTDYLD=$1
if [[ $RTDYLD != /* ]]; then
    RTDYLD="$PWD/$RTDYLD"
fi
if [[ ! -x $RTDYLD ]]; then
    echo "error: RTDYLD_BIN '$RTDYLD' is not an executable file" >&2
    exit 2
fi
CACHE=${RTDYLD_THIRD_PARTY_DIR:-$REPO/target/third-party}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
JOBS=${RTDYLD_JOBS:-2}
TIMEOUT=${RTDYLD_LUA_TIMEOUT:-120}
FLAVOUR_FILTER=${RTDYLD_LUA_FLAVOURS:-}
SCRIPT_FILTER=${RTDYLD_LUA_SCRIPTS:-}
SCRIPT_ARGS=(alpha 42)

# ---------------------------------------------------------------------------
# 1. Fetch the Lua sources through cargo (crates.io) and unpack the .crate.
# ---------------------------------------------------------------------------
fetch_lua_src() {
    local dest="$CACHE/lua-src-$LUA_SRC_VERSION"
    if [[ -f $dest/.rtdyld-unpacked ]]; then
        echo "$dest"
        return
    fi
    local proj="$CACHE/fetch-lua-src"
    mkdir -p "$proj/src"
    cat >"$proj/Cargo.toml" <<EOF
[package]
name = "rtdyld-fetch-lua-src"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lua-src = "=$LUA_SRC_VERSION"

[workspace]
EOF
    : >"$proj/src/lib.rs"
    echo "fetching lua-src $LUA_SRC_VERSION with cargo fetch" >&2
    cargo fetch --quiet --manifest-path "$proj/Cargo.toml" >&2

    local cargo_home=${CARGO_HOME:-$HOME/.cargo}
    local crate="" f
    for f in "$cargo_home"/registry/cache/*/"lua-src-$LUA_SRC_VERSION.crate"; do
        if [[ -f $f ]]; then
            crate=$f
            break
        fi
    done
    if [[ -z $crate ]]; then
        echo "error: lua-src-$LUA_SRC_VERSION.crate not found under $cargo_home/registry/cache/" >&2
        exit 2
    fi
    local tmp
    tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
    tar -xzf "$crate" -C "$tmp"
    rm -rf "$dest"
    mv "$tmp/lua-src-$LUA_SRC_VERSION" "$dest"
    rmdir "$tmp"
    touch "$dest/.rtdyld-unpacked"
    echo "$dest"
}

CRATE_DIR=$(fetch_lua_src)

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

SCRIPTS=()
while IFS= read -r f; do
    name=${f##*/}
    if [[ -n $SCRIPT_FILTER && ! $name =~ $SCRIPT_FILTER ]]; then
        continue
    fi
    SCRIPTS+=("$name")
done < <(find "$TEST_DIR" -maxdepth 1 -name '*.lua' | sort)
if [[ ${#SCRIPTS[@]} -eq 0 ]]; then
    echo "error: no Lua scripts selected in $TEST_DIR" >&2
    exit 2
fi

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
CLANG=""
for c in clang clang-14; do
    if command -v "$c" >/dev/null 2>&1; then
        CLANG=$c
        break
    fi
done
if [[ -n $CLANG ]]; then
    FLAVOURS+=(
        "clang-O2-fPIC|$CLANG|-O2 -fPIC|"
        "clang-O2-fno-pic|$CLANG|-O2 -fno-pic|-no-pie"
        "clang-O2-fPIC-mcmodel-large|$CLANG|-O2 -fPIC -mcmodel=large|"
    )
else
    echo "clang skipped: neither clang nor clang-14 is on PATH"
fi
CLANGXX=""
for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then
        CLANGXX=$c
        break
    fi
done
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
    if [[ ! -f $dir/stamp ]] || [[ $(cat "$dir/stamp") != "$stamp" ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        printf '%s\n' "$stamp" >"$dir/stamp"
    fi
    OBJS=()
    local todo=() src obj
    for src in "${SOURCES[@]}"; do
        obj="$dir/$(basename "${src%.c}").o"
        OBJS+=("$obj")
        if [[ ! -f $obj || $src -nt $obj ]]; then
            todo+=("$src" "$obj")
        fi
    done
    if [[ ${#todo[@]} -gt 0 ]]; then
        echo "compiling $name: $((${#todo[@]} / 2)) files with $cc $lang $cflags"
        # shellcheck disable=SC2016
        if ! printf '%s\0' "${todo[@]}" |
            FL_CC=$cc FL_CFLAGS="$lang $COMMON_CFLAGS $cflags" xargs -0 -n 2 -P "$JOBS" \
                bash -c '$FL_CC $FL_CFLAGS -c "$1" -o "$2.tmp" && mv "$2.tmp" "$2"' _; then
            echo "compile error in flavour $name" >&2
            return 1
        fi
    fi
    REF="$dir/lua-ref"
    local stale=0
    if [[ ! -x $REF ]]; then
        stale=1
    else
        for obj in "${OBJS[@]}"; do
            if [[ $obj -nt $REF ]]; then
                stale=1
                break
            fi
        done
    fi
    if [[ $stale -eq 1 ]]; then
        # shellcheck disable=SC2086
        if ! "$cc" $cflags $ldflags -o "$REF.tmp" "${OBJS[@]}" -lm -ldl; then
            echo "reference link error in flavour $name" >&2
            return 1
        fi
        mv "$REF.tmp" "$REF"
    fi
}

# ---------------------------------------------------------------------------
# 4. Run every script with the reference and with rtdyld (plain and --remap).
# ---------------------------------------------------------------------------
PASS=0
FAIL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rtdyld-lua.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# run_capture OUTPREFIX CMD...: runs CMD in the test directory with stdin from
# /dev/null; stores stdout, stderr and the exit status.
run_capture() {
    local out=$1
    shift
    local status=0
    (cd "$TEST_DIR" && timeout "$TIMEOUT" "$@") </dev/null >"$out.stdout" 2>"$out.stderr" || status=$?
    echo "$status" >"$out.status"
}

# quote_cmd CMD...: the command as a bash command line; the objects of the
# flavour (consecutive *.o arguments in one directory) are written as one
# brace expansion, DIR/{lapi,lauxlib,...,driver}.o, which bash expands back in
# the same order.
quote_cmd() {
    local s="" a dir="" names=""
    for a in "$@" ""; do
        if [[ $a == *.o && ${a%/*} != "$a" && ( -z $dir || ${a%/*} == "$dir" ) ]]; then
            dir=${a%/*}
            local base=${a##*/}
            names+=",${base%.o}"
            continue
        fi
        if [[ -n $dir ]]; then
            s+=" $(printf '%q' "$dir")/{${names#,}}.o"
            dir=""
            names=""
        fi
        if [[ -n $a ]]; then
            s+=" $(printf '%q' "$a")"
        fi
    done
    echo "${s# }"
}

report_case() { # report_case LABEL REFPREFIX GOTPREFIX CMD...
    local label=$1 ref=$2 got=$3
    shift 3
    local rs gs
    rs=$(cat "$ref.status")
    gs=$(cat "$got.status")
    if [[ $rs == "$gs" ]] && cmp -s "$ref.stdout" "$got.stdout"; then
        echo "ok $label"
        PASS=$((PASS + 1))
        return
    fi
    FAIL=$((FAIL + 1))
    echo "FAIL $label"
    echo "    command: (cd $(printf '%q' "$TEST_DIR") && $(quote_cmd "$@"))"
    if [[ $rs != "$gs" ]]; then
        echo "    exit status: expected $rs, got $gs$([[ $gs == 124 ]] && echo " (timeout after ${TIMEOUT}s)")"
    fi
    if ! cmp -s "$ref.stdout" "$got.stdout"; then
        echo "    stdout differs (--- reference, +++ rtdyld):"
        diff -u --label reference --label rtdyld "$ref.stdout" "$got.stdout" |
            head -n 40 | sed 's/^/    /' || true
    fi
    if [[ -s $got.stderr ]]; then
        echo "    rtdyld stderr:"
        head -n 20 "$got.stderr" | sed 's/^/    | /'
    fi
}

for spec in "${FLAVOURS[@]}"; do
    IFS='|' read -r name cc cflags ldflags rtdyld_args <<<"$spec"
    if [[ -n $FLAVOUR_FILTER && ! $name =~ $FLAVOUR_FILTER ]]; then
        continue
    fi
    if ! build_flavour "$name" "$cc" "$cflags" "$ldflags"; then
        echo "FAIL $name (build with $cc $cflags)"
        FAIL=$((FAIL + 1))
        continue
    fi
    for script in "${SCRIPTS[@]}"; do
        case_dir="$WORK/$name-$script"
        mkdir -p "$case_dir"
        run_capture "$case_dir/ref" "$REF" "$script" "${SCRIPT_ARGS[@]}"
        ref_status=$(cat "$case_dir/ref.status")
        if [[ $ref_status == 124 ]]; then
            echo "FAIL $name $script (reference executable timed out)"
            FAIL=$((FAIL + 1))
            continue
        fi
        for mode in plain remap; do
            cmd=("$RTDYLD" run)
            label="$name $script"
            if [[ $mode == remap ]]; then
                cmd+=(--remap)
                label+=" --remap"
            fi
            # shellcheck disable=SC2206
            cmd+=(-l m -l dl $rtdyld_args "${OBJS[@]}" -- "$script" "${SCRIPT_ARGS[@]}")
            run_capture "$case_dir/$mode" "${cmd[@]}"
            report_case "$label" "$case_dir/ref" "$case_dir/$mode" "${cmd[@]}"
        done
    done
done

echo "$PASS passed, $FAIL failed"
if [[ $FAIL -ne 0 ]]; then
    exit 1
fi
