#!/usr/bin/env bash
# examples/demo.sh [EXPRESSION...]
#
# Builds the demo calculator in examples/demo/ into relocatable objects with
# gcc (-O2 -fPIC) and runs it with `rtdyld run`: rtdyld loads the three .o
# files into memory, resolves their calls into libc and libm (-l m), applies
# the relocations and calls main(). Nothing is linked by the system linker.
#
# Builds target/release/rtdyld with `cargo build --release` first when it is
# missing or older than the sources. Needs gcc and cargo. To run another
# rtdyld binary instead (and build nothing), set RTDYLD_BIN=/path/to/rtdyld.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${RTDYLD_BIN:-$REPO/target/release/rtdyld}
DEMO_SRC="$REPO/examples/demo"
OUT="$REPO/target/demo"

needs_build() {
    [[ -x $BIN ]] || return 0
    local inputs=() p
    for p in "$REPO/src" "$REPO/Cargo.toml" "$REPO/Cargo.lock" "$REPO/build.rs" "$REPO/include"; do
        [[ -e $p ]] && inputs+=("$p")
    done
    [[ -n $(find "${inputs[@]}" -newer "$BIN" -print -quit) ]]
}

if [[ -z ${RTDYLD_BIN:-} ]] && needs_build; then
    echo "building rtdyld: cargo build --release" >&2
    cargo build --release --manifest-path "$REPO/Cargo.toml" --target-dir "$REPO/target"
fi

mkdir -p "$OUT"
OBJS=()
for src in "$DEMO_SRC"/main.c "$DEMO_SRC"/eval.c "$DEMO_SRC"/funcs.c; do
    obj="$OUT/$(basename "${src%.c}").o"
    if [[ ! -f $obj || $src -nt $obj || $DEMO_SRC/calc.h -nt $obj ]]; then
        gcc -O2 -fPIC -Wall -c "$src" -o "$obj"
    fi
    OBJS+=("$obj")
done

if [[ $# -gt 0 ]]; then
    echo "\$ rtdyld run -l m ${OBJS[*]#"$REPO/"} -- $(printf '%q ' "$@")"
else
    echo "\$ rtdyld run -l m ${OBJS[*]#"$REPO/"}    # no arguments: the built-in session"
fi
exec "$BIN" run -l m "${OBJS[@]}" -- "$@"
