#!/bin/bash
# find_package: install the build tree to a temporary prefix, then build and
# run an outside project against it, once with find_package(rtdyld) and once
# with pkg-config.
#
# usage: find_package.sh <build dir> <source dir> <cmake> <C compiler> <version> <libdir>
# (<libdir> relative to the prefix, normally "lib")
set -euo pipefail
if [ $# -ne 6 ]; then
  echo "usage: $0 <build dir> <source dir> <cmake> <C compiler> <version> <libdir>" >&2
  exit 2
fi
build_dir=$1
source_dir=$2
cmake=$3
cc=$4
version=$5
major=${version%%.*}

tmp=$(mktemp -d "${build_dir}/find_package.XXXXXX")
prefix="$tmp/prefix"

echo "== install to $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix"

# Library, symlink chain, header, package files.
libdir="$prefix/$6"
for f in librtdyld.so "librtdyld.so.$major" "librtdyld.so.$version"; do
  [ -e "$libdir/$f" ] || { echo "FAIL: missing $libdir/$f" >&2; exit 1; }
done
[ "$(readlink "$libdir/librtdyld.so")" = "librtdyld.so.$major" ] \
  || { echo "FAIL: librtdyld.so should link to librtdyld.so.$major" >&2; exit 1; }
[ "$(readlink "$libdir/librtdyld.so.$major")" = "librtdyld.so.$version" ] \
  || { echo "FAIL: librtdyld.so.$major should link to librtdyld.so.$version" >&2; exit 1; }
[ ! -L "$libdir/librtdyld.so.$version" ] || { echo "FAIL: librtdyld.so.$version should be a file" >&2; exit 1; }
for f in "$prefix/include/rtdyld.h" "$libdir/cmake/rtdyld/rtdyldConfig.cmake" \
         "$libdir/cmake/rtdyld/rtdyldConfigVersion.cmake" "$libdir/pkgconfig/rtdyld.pc"; do
  [ -f "$f" ] || { echo "FAIL: missing $f" >&2; exit 1; }
done

echo "== outside project with find_package(rtdyld)"
"$cmake" -S "$source_dir/c-tests/outside_project" -B "$tmp/outside-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release
"$cmake" --build "$tmp/outside-build"
"$tmp/outside-build/outside_shared"
# The executable must use the installed copy (via its RUNPATH).
if command -v ldd >/dev/null; then
  ldd "$tmp/outside-build/outside_shared" | grep -F "$libdir/librtdyld.so.$major" \
    || { echo "FAIL: outside_shared does not load the installed library" >&2; exit 1; }
fi
if [ -x "$tmp/outside-build/outside_static" ]; then
  "$tmp/outside-build/outside_static"
  if ldd "$tmp/outside-build/outside_static" 2>/dev/null | grep -q librtdyld; then
    echo "FAIL: outside_static depends on librtdyld.so" >&2; exit 1
  fi
fi

echo "== outside program with pkg-config"
if command -v pkg-config >/dev/null; then
  export PKG_CONFIG_PATH="$libdir/pkgconfig"
  flags=$(pkg-config --cflags --libs rtdyld)
  pc_libdir=$(pkg-config --variable=libdir rtdyld)
  echo "pkg-config --cflags --libs rtdyld: $flags"
  [ "$(pkg-config --modversion rtdyld)" = "$version" ] || { echo "FAIL: pkg-config version" >&2; exit 1; }
  # shellcheck disable=SC2086 # flags are meant to split
  "$cc" -std=c11 -Wall -Wextra -Werror "$source_dir/c-tests/outside_project/main.c" -o "$tmp/outside_pc" \
    $flags -Wl,-rpath,"$pc_libdir"
  "$tmp/outside_pc"
else
  echo "pkg-config not found: skipping the pkg-config half"
fi

rm -rf "$tmp"
echo "find_package: OK"
