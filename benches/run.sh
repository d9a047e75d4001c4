#!/usr/bin/env bash
# benches/run.sh: regenerates BENCHMARKS.md (and benches/results/) in one go.
#
# Builds rtdyld (cargo build --release), the RuntimeDyld driver (against the
# installed LLVM 14, skipped with a message when llvm-config or the LLVM
# headers are missing), the floor program and the rtdyld phase timer; builds
# the object sets (Lua 5.4 and SQLite 3.46 in five flavours each, synthetic objects with 10^3 to
# 10^6 relocations); checks that every contender links them correctly; then
# times rtdyld, RuntimeDyld, `llvm-jitlink -noexec` and the floor,
# alternating them, and writes the tables and the plot.
#
# Everything built goes under target/bench/ (objects, binaries, a Python
# venv with matplotlib). Lua's sources are fetched by cargo from crates.io
# (package lua-src) into the cache shared with tests/real/lua.sh:
#     ${RTDYLD_THIRD_PARTY_DIR:-<repo>/target/third-party}
#
# Also links 2000 small generated modules one at a time, finalizing after
# each (benches/gen_modules.py), with rtdyld and RuntimeDyld.
#
# Knobs: RTDYLD_BENCH_SETS (regex: only sets whose name matches),
# RTDYLD_BENCH_MODULES (how many small modules, default 2000; 0 skips them),
# RTDYLD_BENCH_ROUNDS (default 3), RTDYLD_BENCH_BUDGET_MS (time one
# contender may spend per set per round, default 400), RTDYLD_JOBS (2).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$REPO/target/bench
mkdir -p "$WORK/bin"
JOBS=${RTDYLD_JOBS:-2}
LUA_SRC_VERSION=547.1.0 # lua-src 547.1.0 = Lua 5.4.7, as tests/real/lua.sh
LIBSQLITE3_SYS_VERSION=0.30.1 # SQLite 3.46.0, as tests/real/sqlite.sh
cd "$REPO"

echo "== building rtdyld"
cargo build --release --quiet
RTDYLD=$REPO/target/release/rtdyld

echo "== building the rtdyld phase timer (throwaway cargo project in target/bench/phases)"
mkdir -p "$WORK/phases"
cat >"$WORK/phases/Cargo.toml" <<TOML
[package]
name = "rtdyld-bench-phases"
version = "0.0.0"
edition = "2021"
publish = false

[[bin]]
name = "rtdyld_phases"
path = "$REPO/benches/phases/rtdyld_phases.rs"

[dependencies]
rtdyld = { path = "$REPO" }

[profile.release]
debug = 1

[workspace]
TOML
cp "$REPO/Cargo.lock" "$WORK/phases/Cargo.lock"
# Non-PIE with the static relocation model: see the note in rtdyld_phases.rs.
# `cargo rustc` gives these flags to the binary only.
cargo rustc --release --quiet --bin rtdyld_phases --manifest-path "$WORK/phases/Cargo.toml" -- \
    -C relocation-model=static -C link-arg=-no-pie
PHASES=$WORK/phases/target/release/rtdyld_phases

echo "== building the floor program"
gcc -O2 -o "$WORK/bin/floor" benches/floor.c
FLOOR=$WORK/bin/floor

DRIVER=""
if ! command -v llvm-config >/dev/null 2>&1; then
    echo "RuntimeDyld skipped: llvm-config is not on PATH"
elif [[ ! -f $(llvm-config --includedir)/llvm/ExecutionEngine/RuntimeDyld.h ]]; then
    echo "RuntimeDyld skipped: LLVM headers missing ($(llvm-config --includedir)/llvm/ExecutionEngine/RuntimeDyld.h)"
else
    echo "== building the RuntimeDyld driver against LLVM $(llvm-config --version)"
    if [[ ! -x $WORK/bin/runtimedyld_driver || benches/runtimedyld_driver.cpp -nt $WORK/bin/runtimedyld_driver ]]; then
        # shellcheck disable=SC2046
        g++ -O2 -no-pie -fno-pie $(llvm-config --cxxflags) -fexceptions \
            benches/runtimedyld_driver.cpp -o "$WORK/bin/runtimedyld_driver" \
            $(llvm-config --ldflags --libs) -ldl
    fi
    DRIVER=$WORK/bin/runtimedyld_driver
fi
JITLINK=""
if command -v llvm-config >/dev/null 2>&1 && [[ -x $(llvm-config --bindir)/llvm-jitlink ]]; then
    JITLINK=$(llvm-config --bindir)/llvm-jitlink
else
    echo "JITLink skipped: no llvm-jitlink in \$(llvm-config --bindir)"
fi

# ---------------------------------------------------------------------------
echo "== Lua sources (crates.io package lua-src $LUA_SRC_VERSION, through cargo)"
CACHE=${RTDYLD_THIRD_PARTY_DIR:-$REPO/target/third-party}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
# fetch_crate and the cache layout are the real-program tests' (the cache is shared).
# shellcheck source=../tests/real/lib.sh
source "$REPO/tests/real/lib.sh"
CRATE_DIR=$(fetch_crate lua-src "$LUA_SRC_VERSION")
LUA_DIR=$(find "$CRATE_DIR" -mindepth 1 -maxdepth 1 -type d -name 'lua-5.4*' | sort -V | tail -n 1)
[[ -f $LUA_DIR/lapi.c ]] || { echo "error: no Lua 5.4 sources in $CRATE_DIR" >&2; exit 2; }
SOURCES=()
while IFS= read -r f; do
    case ${f##*/} in lua.c | luac.c | onelua.c) ;; *) SOURCES+=("$f") ;; esac
done < <(find "$LUA_DIR" -maxdepth 1 -name '*.c' | sort)
SOURCES+=("$REPO/tests/real/lua/driver.c")

# NAME|CFLAGS|LDFLAGS of the reference executable. -U__ELF__ turns Lua's
# LUAI_FUNC visibility("internal") off: llvm-jitlink 14 rejects internal
# visibility ("Unrecognized symbol visibility 1"), and all contenders must
# link the same objects.
FLAVOURS=(
    "lua-O2-fPIC|-O2 -fPIC|"
    "lua-O2-fno-pic|-O2 -fno-pic|-no-pie"
    "lua-O2-mcmodel-large|-O2 -mcmodel=large|"
    "lua-O2-fPIC-function-sections|-O2 -fPIC -ffunction-sections -fdata-sections|"
    "lua-O0-g|-O0 -g|"
)
SETS=$WORK/sets.txt
: >"$SETS"
for spec in "${FLAVOURS[@]}"; do
    IFS='|' read -r name cflags ldflags <<<"$spec"
    dir=$WORK/lua/$name
    stamp="lua-src $LUA_SRC_VERSION | gcc $cflags -U__ELF__ | $(gcc --version | head -n 1) | $(md5sum <"$REPO/tests/real/lua/driver.c")"
    if [[ ! -f $dir/stamp || $(cat "$dir/stamp") != "$stamp" ]]; then
        echo "compiling $name: gcc $cflags"
        rm -rf "$dir"
        mkdir -p "$dir"
        # shellcheck disable=SC2016
        printf '%s\0' "${SOURCES[@]}" | FL_DIR=$dir FL_CFLAGS="-std=gnu99 -DLUA_USE_LINUX -U__ELF__ -I$LUA_DIR $cflags" \
            xargs -0 -n 1 -P "$JOBS" bash -c 'b=${1##*/}; gcc $FL_CFLAGS -c "$1" -o "$FL_DIR/${b%.c}.o"' _
        # shellcheck disable=SC2086
        gcc $cflags $ldflags -o "$dir/lua-ref" "$dir"/*.o -lm -ldl
        echo "$stamp" >"$dir/stamp"
    fi
    echo "$name|lua|$(cd "$dir" && ls ./*.o | sed "s|^\./|$dir/|" | tr '\n' ' ')" >>"$SETS"
done

echo "== SQLite sources (crates.io package libsqlite3-sys $LIBSQLITE3_SYS_VERSION, through cargo)"
SQLITE_DIR="$(fetch_crate libsqlite3-sys "$LIBSQLITE3_SYS_VERSION")/sqlite3"
[[ -f $SQLITE_DIR/sqlite3.c ]] || { echo "error: no sqlite3.c in $SQLITE_DIR" >&2; exit 2; }
SQLITE_CFLAGS="-I$SQLITE_DIR -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_MATH_FUNCTIONS"
# The flavours of Lua's, compiled two at a time (the amalgamation is one file).
todo=()
for spec in "${FLAVOURS[@]}"; do
    IFS='|' read -r name cflags ldflags <<<"$spec"
    name=sqlite-${name#lua-}
    dir=$WORK/sqlite/$name
    stamp="libsqlite3-sys $LIBSQLITE3_SYS_VERSION | gcc $cflags | $(gcc --version | head -n 1) | $(md5sum <"$REPO/tests/real/sqlite/driver.c")"
    if [[ ! -f $dir/stamp || $(cat "$dir/stamp") != "$stamp" ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        todo+=("$dir|$cflags|$ldflags|$stamp")
    fi
    echo "$name|sqlite|$dir/driver.o $dir/sqlite3.o" >>"$SETS"
done
if ((${#todo[@]} > 0)); then
    echo "compiling sqlite3.c in ${#todo[@]} flavours"
    # shellcheck disable=SC2016
    printf '%s\0' "${todo[@]}" | FL_CFLAGS=$SQLITE_CFLAGS FL_SRC=$SQLITE_DIR/sqlite3.c \
        FL_DRIVER=$REPO/tests/real/sqlite/driver.c xargs -0 -n 1 -P "$JOBS" bash -c '
            IFS="|" read -r dir cflags ldflags stamp <<<"$1"
            gcc $FL_CFLAGS $cflags -c "$FL_DRIVER" -o "$dir/driver.o" &&
                gcc $FL_CFLAGS $cflags -c "$FL_SRC" -o "$dir/sqlite3.o" &&
                gcc $cflags $ldflags -o "$dir/sqlite-ref" "$dir/driver.o" "$dir/sqlite3.o" -lm -ldl -lpthread &&
                echo "$stamp" >"$dir/stamp"' _
fi

echo "== synthetic objects"
for n in 1000 10000 100000 1000000; do
    dir=$WORK/synth
    mkdir -p "$dir"
    obj=$dir/synth-$n.o
    stamp="$(md5sum <"$REPO/benches/gen_synth.py") $(as --version | head -n 1)"
    if [[ ! -f $obj || ! -f $obj.stamp || $(cat "$obj.stamp") != "$stamp" ]]; then
        python3 benches/gen_synth.py "$n" "$dir/synth-$n.s"
        as -o "$obj" "$dir/synth-$n.s"
        rm -f "$dir/synth-$n.s"
        echo "$stamp" >"$obj.stamp"
    fi
    echo "synth-$n|synth|$obj" >>"$SETS"
done
printf 'int main(void) { return 0; }\n' | gcc -O2 -fPIC -x c -c - -o "$WORK/trivial.o"

echo "== small modules, linked one at a time"
MODULES=${RTDYLD_BENCH_MODULES:-2000}
dir=$WORK/modules-$MODULES
stamp="$(md5sum <"$REPO/benches/gen_modules.py") $(gcc --version | head -n 1)"
if ((MODULES > 0)) && [[ ! -f $dir/stamp || $(cat "$dir/stamp") != "$stamp" ]]; then
    echo "compiling $MODULES modules: gcc -O2 -fPIC -fno-builtin"
    rm -rf "$dir"
    python3 benches/gen_modules.py "$MODULES" "$dir"
    # shellcheck disable=SC2016
    find "$dir" -name 'm*.c' -print0 | xargs -0 -n 50 -P "$JOBS" bash -c 'for c; do gcc -O2 -fPIC -fno-builtin -c "$c" -o "${c%.c}.o"; done' _
    echo "$stamp" >"$dir/stamp"
fi
MODULE_LIST=$WORK/modules.txt
seq 0 $((MODULES - 1)) | sed "s|^|$dir/m|; s|$|.o|" >"$MODULE_LIST"

echo "== plotting environment"
VENV=$WORK/venv
if ! python3 -c 'import matplotlib' 2>/dev/null; then
    if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet matplotlib
    fi
    PY=$VENV/bin/python
else
    PY=python3
fi

echo "== running"
"$PY" benches/bench.py \
    --repo "$REPO" --sets "$SETS" --rtdyld "$RTDYLD" --phases "$PHASES" --floor "$FLOOR" \
    --driver "$DRIVER" --jitlink "$JITLINK" --trivial "$WORK/trivial.o" --modules "$MODULE_LIST" \
    --lua-script-dir "$REPO/tests/real/lua" \
    --rounds "${RTDYLD_BENCH_ROUNDS:-3}" --budget-ms "${RTDYLD_BENCH_BUDGET_MS:-400}" \
    --out "$REPO/BENCHMARKS.md" --results "$REPO/benches/results"
