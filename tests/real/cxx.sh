#!/usr/bin/env bash
# tests/real/cxx.sh RTDYLD_BIN
#
# Real-program test for C++: programs compiled to relocatable objects in
# several compiler/optimisation/code-model flavours, linked and run by
# `rtdyld run -l stdc++ -l m -l pthread` (and again with `--remap`), must print
# exactly what the same objects print, and exit with the same status, when
# linked into an ordinary executable by the system linker.
#
# Programs:
#   own        tests/real/cxx/{main,statics,shapes,text,errors,tlsdata,tls}.cpp
#              (ours): STL containers and strings, iostream and printf output,
#              exceptions thrown in one object and caught in another, also
#              through libstdc++ frames (ostream/getline calling back our
#              streambuf, std::sort with a throwing comparator, std::call_once
#              through pthread_once), static constructors and destructors with
#              priorities, function-local statics, virtual functions,
#              templates, inline functions, vtables and typeinfo shared across
#              objects (COMDAT), thread_local variables (with non-trivial
#              constructors and destructors, defined in one object and used in
#              another) in the main thread and in std::threads created before
#              and after the main thread used them.
#   own-notls  the same without tls.o, tlsdata.o (main.cpp built with
#              -DCXX_NO_TLS), so that a thread-local storage failure does not
#              hide the rest.
#   snappy     Google's snappy compression library (C++), driven by our
#              tests/real/cxx/snappy_driver.cpp.
#   jsonnet    Google's C++ Jsonnet 0.17 (lexer, parser, static analysis,
#              evaluator, formatter; errors are C++ exceptions thrown deep in
#              the evaluator and caught at its C API), driven by our
#              tests/real/cxx/jsonnet_driver.cpp (an import callback and a
#              native function of ours are called back from it).
#
# The sources of snappy and Jsonnet are not part of this repository. They are
# fetched at test time from the crates.io packages `snappy_src` and
# `jsonnet-sys` (pinned below) with cargo, into a cache directory:
#     ${RTDYLD_THIRD_PARTY_DIR:-<repo>/target/third-party}
# Each crate has one generated header, made here as its build script does.
# Compiled objects are cached there per program and flavour, so a second run
# only relinks (a cold run compiles for about four minutes on 2 cores). Flavours use g++ and, when clang++ or clang++-14 is on PATH,
# clang++ (otherwise a "skip" line is printed).
#
# Environment knobs (all optional):
#     RTDYLD_THIRD_PARTY_DIR  cache directory (see above)
#     RTDYLD_CXX_FLAVOURS     extended regex; only cases whose "PROGRAM FLAVOUR"
#                             matches, e.g. 'own .*-fPIC' or '^(snappy|jsonnet)'
#     RTDYLD_CXX_TIMEOUT      seconds per run (default 120)
#     RTDYLD_JOBS             parallel compiler jobs (default 2)
#
# Output: one line per case, "ok PROGRAM FLAVOUR [--remap]" or "FAIL ..."
# with the command, the differences and the stderr, then "N passed, M failed".
# Exit status is non-zero if anything failed.
set -euo pipefail

SNAPPY_SRC_VERSION=0.2.7+snappy.1.3.1 # snappy_src 0.2.7 = snappy 1.3.1
JSONNET_SYS_VERSION=0.17.0            # jsonnet-sys 0.17.0 = Jsonnet 0.17.0 (C++)

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
init_real_test cxx "$@"
TIMEOUT=${RTDYLD_CXX_TIMEOUT:-120}
FILTER=${RTDYLD_CXX_FLAVOURS:-}
RTDYLD_LIBS=(-l stdc++ -l m -l pthread)

if ! command -v g++ >/dev/null 2>&1; then
    echo "error: g++ is not on PATH" >&2
    exit 2
fi

# ---------------------------------------------------------------------------
# 1. Fetch the third-party sources through cargo (crates.io) and unpack the
#    .crate files.
# ---------------------------------------------------------------------------
SNAPPY_DIR="$(fetch_crate snappy_src "$SNAPPY_SRC_VERSION")/snappy"
if [[ ! -f $SNAPPY_DIR/snappy.cc || ! -f $SNAPPY_DIR/snappy-stubs-public.h.in ]]; then
    echo "error: no snappy sources (snappy.cc, snappy-stubs-public.h.in) in $SNAPPY_DIR" >&2
    exit 2
fi
# The one generated header, as the crate's build script (and snappy's CMake)
# makes it: version numbers from the crate version, <sys/uio.h> available.
SNAPPY_GEN="$CACHE/snappy-generated-$SNAPPY_SRC_VERSION"
if [[ ! -f $SNAPPY_GEN/snappy-stubs-public.h ]]; then
    ver=${SNAPPY_SRC_VERSION#*+snappy.}
    IFS=. read -r smaj smin spat <<<"$ver"
    mkdir -p "$SNAPPY_GEN"
    # shellcheck disable=SC2016
    sed -e 's/\${HAVE_SYS_UIO_H_01}/1/g' -e "s/\${PROJECT_VERSION_MAJOR}/$smaj/g" \
        -e "s/\${PROJECT_VERSION_MINOR}/$smin/g" -e "s/\${PROJECT_VERSION_PATCH}/$spat/g" \
        "$SNAPPY_DIR/snappy-stubs-public.h.in" >"$SNAPPY_GEN/snappy-stubs-public.h.tmp"
    mv "$SNAPPY_GEN/snappy-stubs-public.h.tmp" "$SNAPPY_GEN/snappy-stubs-public.h"
fi
echo "snappy sources: $SNAPPY_DIR"

JSONNET_DIR="$(fetch_crate jsonnet-sys "$JSONNET_SYS_VERSION")/jsonnet"
if [[ ! -f $JSONNET_DIR/core/vm.cpp || ! -f $JSONNET_DIR/stdlib/std.jsonnet ]]; then
    echo "error: no Jsonnet sources (core/vm.cpp, stdlib/std.jsonnet) in $JSONNET_DIR" >&2
    exit 2
fi
# The one generated header, as the crate's build script makes it: the bytes
# of the standard library std.jsonnet as a C initializer list ending in 0.
JSONNET_GEN="$CACHE/jsonnet-generated-$JSONNET_SYS_VERSION"
if [[ ! -f $JSONNET_GEN/std.jsonnet.h ]]; then
    mkdir -p "$JSONNET_GEN"
    {
        od -An -v -tu1 "$JSONNET_DIR/stdlib/std.jsonnet" | tr -s ' ' '\n' | sed '/^$/d' | tr '\n' ','
        echo 0
    } >"$JSONNET_GEN/std.jsonnet.h.tmp"
    mv "$JSONNET_GEN/std.jsonnet.h.tmp" "$JSONNET_GEN/std.jsonnet.h"
fi
echo "Jsonnet sources: $JSONNET_DIR"

# ---------------------------------------------------------------------------
# 2. Programs and flavours.
#    Program: sources (in link order), language flags, run arguments.
#    Flavour: NAME|COMPILER|CXXFLAGS|LDFLAGS (LDFLAGS: for the reference
#    executable only).
# ---------------------------------------------------------------------------
OWN_SOURCES=(main statics shapes text errors tlsdata tls)
OWN_NOTLS_SOURCES=(main statics shapes text errors)
SNAPPY_SOURCES=(snappy snappy-c snappy-sinksource snappy-stubs-internal)
# The crate's build script's list: the library without the command-line tools.
JSONNET_SOURCES=(core/desugarer core/formatter core/lexer core/libjsonnet core/parser core/pass
    core/static_analysis core/string_utils core/vm third_party/md5/md5)

CLANGXX=$(first_on_path clang++ clang++-14)

OWN_FLAVOURS=()
SNAPPY_FLAVOURS=()
for cxx in g++ $CLANGXX; do
    tag=${cxx%-[0-9]*} # clang++-14 -> clang++
    OWN_FLAVOURS+=(
        "$tag-O0-fPIC|$cxx|-O0 -fPIC|"
        "$tag-O2-fPIC|$cxx|-O2 -fPIC|"
        "$tag-O0-fno-pic|$cxx|-O0 -fno-pic|-no-pie"
        "$tag-O2-fno-pic|$cxx|-O2 -fno-pic|-no-pie"
    )
    SNAPPY_FLAVOURS+=(
        "$tag-O2-fPIC|$cxx|-O2 -fPIC|"
        "$tag-O2-fno-pic|$cxx|-O2 -fno-pic|-no-pie"
    )
done
# Beyond the required matrix: PLT-less calls, the large code model, PIE.
EXTRA_FLAVOURS=(
    "g++-O2-fPIC-fno-plt|g++|-O2 -fPIC -fno-plt|"
    "g++-O2-fPIC-mcmodel-large|g++|-O2 -fPIC -mcmodel=large|"
)
OWN_FLAVOURS+=("${EXTRA_FLAVOURS[@]}")
# Thread-locals through TLS descriptors (the own program's tls.cpp).
OWN_FLAVOURS+=("g++-O2-fPIC-tlsdesc|g++|-O2 -fPIC -mtls-dialect=gnu2|")
SNAPPY_FLAVOURS+=("${EXTRA_FLAVOURS[@]}" "g++-O0-fPIC|g++|-O0 -fPIC|" "g++-O3-fPIE|g++|-O3 -fPIE|-pie")
# Jsonnet takes about a minute per flavour to compile at -O2 on 2 cores.
JSONNET_FLAVOURS=("g++-O2-fPIC|g++|-O2 -fPIC|" "g++-O2-fno-pic|g++|-O2 -fno-pic|-no-pie" "g++-O0-fPIC|g++|-O0 -fPIC|")
if [[ -n $CLANGXX ]]; then
    JSONNET_FLAVOURS+=("clang++-O2-fPIC|$CLANGXX|-O2 -fPIC|")
fi
if [[ -z $CLANGXX ]]; then
    echo "skip clang++ flavours: neither clang++ nor clang++-14 is on PATH"
fi

# ---------------------------------------------------------------------------
# 3. Compile (cached per program and flavour) and link the reference.
# ---------------------------------------------------------------------------
# build PROGRAM FLAVOUR CXX CXXFLAGS LDFLAGS: fills OBJS and REF; returns
# non-zero on a compile or link error (reported by the caller as a failure).
build() {
    local prog=$1 name=$2 cxx=$3 cxxflags=$4 ldflags=$5
    # own and own-notls share one object directory (and all objects but main).
    local group=${prog%-notls}
    local dir="$CACHE/cxx-objs/$group/$name"
    local lang n
    # UNITS: SOURCE|OBJECT-NAME|EXTRA-FLAGS, in link order
    UNITS=()
    HEADERS=()
    case $prog in
    own | own-notls)
        lang="-std=c++17"
        HEADERS=("$TEST_DIR/common.h" "$TEST_DIR/tls.h")
        if [[ $prog == own ]]; then
            UNITS=("$TEST_DIR/main.cpp|main|")
            for n in "${OWN_SOURCES[@]:1}"; do UNITS+=("$TEST_DIR/$n.cpp|$n|"); done
        else
            UNITS=("$TEST_DIR/main.cpp|main-notls|-DCXX_NO_TLS")
            for n in "${OWN_NOTLS_SOURCES[@]:1}"; do UNITS+=("$TEST_DIR/$n.cpp|$n|"); done
        fi
        ;;
    jsonnet)
        lang="-std=c++11 -I$JSONNET_GEN -I$JSONNET_DIR/include -I$JSONNET_DIR/third_party/md5 -I$JSONNET_DIR/third_party/json"
        HEADERS=("$JSONNET_GEN/std.jsonnet.h")
        UNITS=("$TEST_DIR/jsonnet_driver.cpp|jsonnet_driver|")
        for n in "${JSONNET_SOURCES[@]}"; do UNITS+=("$JSONNET_DIR/$n.cpp|${n##*/}|"); done
        ;;
    snappy)
        lang="-std=c++14 -I$SNAPPY_DIR -I$SNAPPY_GEN"
        HEADERS=("$SNAPPY_GEN/snappy-stubs-public.h")
        UNITS=("$TEST_DIR/snappy_driver.cpp|snappy_driver|")
        for n in "${SNAPPY_SOURCES[@]}"; do UNITS+=("$SNAPPY_DIR/$n.cc|$n|"); done
        ;;
    esac
    local stamp
    stamp=$(
        printf '%s\n' "$group" "snappy_src $SNAPPY_SRC_VERSION" "jsonnet-sys $JSONNET_SYS_VERSION" "$cxx $lang $cxxflags" "ld $ldflags"
        "$cxx" --version 2>/dev/null | head -n 1
    ) || return 1
    prepare_object_dir "$dir" "$stamp"
    if ! compile_units "$prog $name" "$dir" "$cxx" "$lang $cxxflags" "$lang $cxxflags"; then
        echo "compile error in $prog $name" >&2
        return 1
    fi
    REF="$dir/$prog-ref"
    if ! link_reference "$REF" "$cxx" "$cxxflags $ldflags" -lm -lpthread; then
        echo "reference link error in $prog $name" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------
# 4. Run each program with the reference and with rtdyld (plain, --remap).
# ---------------------------------------------------------------------------
start_cases cxx
REPORT_SIGNALS=1

run_program() { # run_program PROGRAM FLAVOUR-SPEC ARGS...
    local prog=$1 spec=$2
    shift 2
    local name cxx cxxflags ldflags
    IFS='|' read -r name cxx cxxflags ldflags <<<"$spec"
    if [[ -n $FILTER && ! "$prog $name" =~ $FILTER ]]; then
        return
    fi
    if ! build "$prog" "$name" "$cxx" "$cxxflags" "$ldflags"; then
        fail_case "$prog $name (build with $cxx $cxxflags)"
        return
    fi
    local args=("${RTDYLD_LIBS[@]}" "${OBJS[@]}")
    if [[ $# -gt 0 ]]; then
        args+=(-- "$@")
    fi
    run_case "$prog $name" "${args[@]}"
}

for spec in "${OWN_FLAVOURS[@]}"; do
    run_program own "$spec" alpha 42
    run_program own-notls "$spec" alpha 42
done
for spec in "${SNAPPY_FLAVOURS[@]}"; do
    run_program snappy "$spec"
done
for spec in "${JSONNET_FLAVOURS[@]}"; do
    run_program jsonnet "$spec"
done

finish_cases
