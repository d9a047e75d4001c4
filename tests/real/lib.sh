# shellcheck shell=bash
# tests/real/lib.sh: shared by the real-program tests (lua.sh, sqlite.sh, zstd.sh, cxx.sh).
# Sourced, not run. The tests use it in this order:
#
#   init_real_test NAME "$@"     command line, REPO, TEST_DIR, RTDYLD, CACHE, JOBS
#   fetch_crate NAME VERSION     third-party sources from crates.io, via cargo
#   select_scripts PATTERN ...   the test's scripts (SCRIPTS)
#   prepare_object_dir, compile_units, link_reference
#                                cached parallel compilation, reference executable
#   start_cases TAG [RUN_DIR]    PASS/FAIL counters, scratch directory WORK
#   run_case / fail_case         one case each: reference vs rtdyld run (--remap)
#   finish_cases                 "N passed, M failed"; exit 1 if anything failed
#
# The caller sets TIMEOUT (seconds per run) before running cases, and may set
# REPORT_SIGNALS=1 to have a failing exit status named by its signal.

# init_real_test NAME ARGS...: checks the command line (exactly one argument,
# RTDYLD_BIN; otherwise usage and exit 2) and sets REPO, TEST_DIR
# (tests/real/NAME), RTDYLD (absolute path), CACHE (created, absolute) and JOBS.
init_real_test() {
    local test_name=$1
    shift
    if [[ $# -ne 1 ]]; then
        echo "usage: $0 RTDYLD_BIN" >&2
        exit 2
    fi
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    # shellcheck disable=SC2034 # used by the sourcing test
    TEST_DIR="$REPO/tests/real/$test_name"
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
}

# fetch_crate NAME VERSION: fetches the crates.io package NAME =VERSION with
# `cargo fetch` (through a throwaway cargo project in $CACHE/fetch-NAME),
# unpacks the .crate into $CACHE/NAME-VERSION once and prints that directory.
fetch_crate() {
    local name=$1 version=$2
    local dest="$CACHE/$name-$version"
    if [[ -f $dest/.rtdyld-unpacked ]]; then
        echo "$dest"
        return
    fi
    local proj="$CACHE/fetch-$name"
    mkdir -p "$proj/src"
    cat >"$proj/Cargo.toml" <<EOF
[package]
name = "rtdyld-fetch-$name"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$name = "=$version"

[workspace]
EOF
    : >"$proj/src/lib.rs"
    echo "fetching $name $version with cargo fetch" >&2
    cargo fetch --quiet --manifest-path "$proj/Cargo.toml" >&2

    local cargo_home=${CARGO_HOME:-$HOME/.cargo}
    local crate="" f
    for f in "$cargo_home"/registry/cache/*/"$name-$version.crate"; do
        if [[ -f $f ]]; then
            crate=$f
            break
        fi
    done
    if [[ -z $crate ]]; then
        echo "error: $name-$version.crate not found under $cargo_home/registry/cache/" >&2
        exit 2
    fi
    local tmp
    tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
    tar -xzf "$crate" -C "$tmp"
    rm -rf "$dest"
    mv "$tmp/$name-$version" "$dest"
    rmdir "$tmp"
    touch "$dest/.rtdyld-unpacked"
    echo "$dest"
}

# select_scripts PATTERN WHAT FILTER: sets SCRIPTS to the names of the files
# in TEST_DIR matching the glob PATTERN whose name matches the extended regex
# FILTER (all when it is empty), sorted; exits with 2 when none is selected
# (WHAT names them in the message, e.g. "Lua scripts").
select_scripts() {
    local pattern=$1 what=$2 filter=$3 f name
    SCRIPTS=()
    while IFS= read -r f; do
        name=${f##*/}
        if [[ -n $filter && ! $name =~ $filter ]]; then
            continue
        fi
        SCRIPTS+=("$name")
    done < <(find "$TEST_DIR" -maxdepth 1 -name "$pattern" | sort)
    if [[ ${#SCRIPTS[@]} -eq 0 ]]; then
        echo "error: no $what selected in $TEST_DIR" >&2
        exit 2
    fi
}

# first_on_path COMMAND...: prints the first COMMAND found on PATH, or nothing.
first_on_path() {
    local c
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1; then
            echo "$c"
            return
        fi
    done
}

# prepare_object_dir DIR STAMP: empties the object directory DIR unless its
# stamp file holds STAMP (the compiler, flags and sources' versions), so that
# cached objects are reused only when built the same way.
prepare_object_dir() {
    local dir=$1 stamp=$2
    if [[ ! -f $dir/stamp ]] || [[ $(cat "$dir/stamp") != "$stamp" ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        printf '%s\n' "$stamp" >"$dir/stamp"
    fi
}

# compile_units LABEL DIR CC SHOWN_FLAGS FLAGS: compiles the translation units
# in UNITS (each "SOURCE|OBJECT-NAME|EXTRA-FLAGS", in link order) to
# DIR/OBJECT-NAME.o with `CC FLAGS EXTRA-FLAGS`, $JOBS at a time, skipping
# objects newer than their source and than every file in HEADERS. Sets OBJS
# (the objects in link order); prints "compiling LABEL: N files with CC
# SHOWN_FLAGS" when there is anything to do. Returns non-zero on a compile error.
compile_units() {
    local label=$1 dir=$2 cc=$3 shown_flags=$4 flags=$5
    OBJS=()
    local todo=() unit src obj extra h stale
    for unit in "${UNITS[@]}"; do
        IFS='|' read -r src obj extra <<<"$unit"
        obj="$dir/$obj.o"
        OBJS+=("$obj")
        stale=0
        if [[ ! -f $obj || $src -nt $obj ]]; then
            stale=1
        else
            for h in "${HEADERS[@]}"; do
                if [[ $h -nt $obj ]]; then
                    stale=1
                    break
                fi
            done
        fi
        if [[ $stale -eq 1 ]]; then
            todo+=("$src" "$obj" "$extra")
        fi
    done
    if [[ ${#todo[@]} -gt 0 ]]; then
        echo "compiling $label: $((${#todo[@]} / 3)) files with $cc $shown_flags"
        # shellcheck disable=SC2016
        printf '%s\0' "${todo[@]}" |
            FL_CC=$cc FL_FLAGS=$flags xargs -0 -n 3 -P "$JOBS" \
                bash -c '$FL_CC $FL_FLAGS $3 -c "$1" -o "$2.tmp" && mv "$2.tmp" "$2"' _ || return 1
    fi
}

# link_reference REF CC FLAGS LIB...: links OBJS into the ordinary executable
# REF with `CC FLAGS -o REF OBJS... LIB...` (FLAGS split into words) unless REF
# is newer than every object. Returns non-zero on a link error.
link_reference() {
    local ref=$1 cc=$2 flags=$3
    shift 3
    local stale=0 obj
    if [[ ! -x $ref ]]; then
        stale=1
    else
        for obj in "${OBJS[@]}"; do
            if [[ $obj -nt $ref ]]; then
                stale=1
                break
            fi
        done
    fi
    if [[ $stale -eq 1 ]]; then
        # shellcheck disable=SC2086
        "$cc" $flags -o "$ref.tmp" "${OBJS[@]}" "$@" || return 1
        mv "$ref.tmp" "$ref"
    fi
}

# start_cases TAG [RUN_DIR]: zeroes the PASS and FAIL counters and makes the
# scratch directory WORK (removed on exit). Cases run in RUN_DIR, by default
# WORK; a given RUN_DIR is shown in the command line of a failing case.
start_cases() {
    PASS=0
    FAIL=0
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/rtdyld-$1.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    RUN_DIR=${2:-$WORK}
    SHOW_RUN_DIR=$(($# > 1))
}

# run_capture OUTPREFIX CMD...: runs CMD in RUN_DIR with stdin from /dev/null
# and a TIMEOUT; stores stdout, stderr and the exit status in OUTPREFIX.*.
run_capture() {
    local out=$1
    shift
    local status=0
    (cd "$RUN_DIR" && timeout "$TIMEOUT" "$@") </dev/null >"$out.stdout" 2>"$out.stderr" || status=$?
    echo "$status" >"$out.status"
}

# quote_cmd CMD...: the command as a bash command line; consecutive *.o
# arguments in one directory are written as DIR/{a,b,c}.o (DIR/a.o for one),
# which bash expands back in the same order.
quote_cmd() {
    local s="" a dir="" names=""
    for a in "$@" ""; do
        if [[ $a == *.o && ${a%/*} != "$a" && (-z $dir || ${a%/*} == "$dir") ]]; then
            dir=${a%/*}
            local base=${a##*/}
            names+=",${base%.o}"
            continue
        fi
        if [[ -n $dir ]]; then
            if [[ $names == *,*,* ]]; then
                s+=" $(printf '%q' "$dir")/{${names#,}}.o"
            else
                s+=" $(printf '%q' "$dir")/${names#,}.o"
            fi
            dir=""
            names=""
        fi
        if [[ -n $a ]]; then
            s+=" $(printf '%q' "$a")"
        fi
    done
    echo "${s# }"
}

# fail_case TEXT: prints "FAIL TEXT" and counts a failure.
fail_case() {
    echo "FAIL $1"
    FAIL=$((FAIL + 1))
}

# report_case LABEL REFPREFIX GOTPREFIX CMD...: compares the stored exit status
# and stdout of a run of CMD with the reference run's; prints "ok LABEL", or
# "FAIL LABEL" with the command, the differences and CMD's stderr.
report_case() {
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
    fail_case "$label"
    if [[ $SHOW_RUN_DIR -eq 1 ]]; then
        echo "    command: (cd $(printf '%q' "$RUN_DIR") && $(quote_cmd "$@"))"
    else
        echo "    command: $(quote_cmd "$@")"
    fi
    if [[ $rs != "$gs" ]]; then
        local why=""
        if [[ $gs == 124 ]]; then
            why=" (timeout after ${TIMEOUT}s)"
        elif [[ ${REPORT_SIGNALS:-0} -eq 1 && $gs -gt 128 && $gs -lt 160 ]]; then
            why=" (killed by SIG$(kill -l $((gs - 128)) 2>/dev/null || echo $((gs - 128))))"
        fi
        echo "    exit status: expected $rs, got $gs$why"
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

# run_case LABEL RTDYLD_ARG... [-- PROGRAM_ARG...]: runs the reference
# executable REF with the PROGRAM_ARGs, then `rtdyld run RTDYLD_ARG...
# [-- PROGRAM_ARG...]` and the same with --remap, and reports the cases
# "LABEL" and "LABEL --remap" (or one failure if the reference timed out).
run_case() {
    local label=$1
    shift
    local prog_args=() a after=0
    for a in "$@"; do
        if [[ $after -eq 1 ]]; then
            prog_args+=("$a")
        elif [[ $a == -- ]]; then
            after=1
        fi
    done
    local case_dir="$WORK/${label// /-}"
    mkdir -p "$case_dir"
    run_capture "$case_dir/ref" "$REF" "${prog_args[@]}"
    if [[ $(cat "$case_dir/ref.status") == 124 ]]; then
        fail_case "$label (reference executable timed out)"
        return
    fi
    local mode cmd mode_label
    for mode in plain remap; do
        cmd=("$RTDYLD" run)
        mode_label=$label
        if [[ $mode == remap ]]; then
            cmd+=(--remap)
            mode_label+=" --remap"
        fi
        cmd+=("$@")
        run_capture "$case_dir/$mode" "${cmd[@]}"
        report_case "$mode_label" "$case_dir/ref" "$case_dir/$mode" "${cmd[@]}"
    done
}

# finish_cases: prints "N passed, M failed"; exits 1 if anything failed.
finish_cases() {
    echo "$PASS passed, $FAIL failed"
    if [[ $FAIL -ne 0 ]]; then
        exit 1
    fi
}
