#!/bin/bash
# Builds the seed corpora of the three fuzz targets from objects compiled
# now, from fuzz/seeds-src/, with gcc (and clang and llvm-mc when present) in
# several flavours. Nothing binary is committed: run this before fuzzing.
#
# usage: fuzz/make-corpus.sh            (writes fuzz/corpus/<target>/)
set -euo pipefail
cd "$(dirname "$0")"
src=seeds-src
objs=$(mktemp -d)
trap 'rm -rf "$objs"' EXIT

compilers=(gcc)
command -v clang >/dev/null && compilers+=(clang)
flavours=(
  "-O0 -fPIC"
  "-O2 -fPIC -ffunction-sections -fdata-sections"
  "-O2 -fno-pic -fcommon"
  "-O1 -fPIE"
  "-O2 -fPIC -mcmodel=medium"
  "-O2 -fPIC -mcmodel=large"
  "-O3 -fno-pic -mcmodel=large -fno-asynchronous-unwind-tables"
  "-Os -fPIC -fno-plt"
  "-O2 -fPIC -mtls-dialect=gnu2"
)
n=0
for cc in "${compilers[@]}"; do
  for c in "$src"/*.c; do
    i=0
    for f in "${flavours[@]}"; do
      # shellcheck disable=SC2086 # the flavour is a list of flags
      if "$cc" -c $f -w -o "$objs/$(basename "$c" .c)-$cc-$i.o" "$c" 2>/dev/null; then n=$((n + 1)); fi
      i=$((i + 1))
    done
  done
done
for s in "$src"/*.s; do
  as -o "$objs/$(basename "$s" .s)-as.o" "$s" && n=$((n + 1))
  if command -v llvm-mc >/dev/null; then
    llvm-mc -triple=x86_64-linux-gnu -filetype=obj -o "$objs/$(basename "$s" .s)-llvm-mc.o" "$s" && n=$((n + 1))
  fi
done
echo "compiled $n seed objects"

mkdir -p corpus/load_bytes corpus/mutate_elf corpus/remap_refinalize
# (a): the objects as they are.
cp "$objs"/*.o corpus/load_bytes/
# (b) and (c): the input layouts of fuzz/src/mutate.rs and fuzz/src/ops.rs,
# with a few deterministic scripts per object.
python3 - "$objs" <<'PY'
import os, random, struct, sys
objs = sorted(os.path.join(sys.argv[1], f) for f in os.listdir(sys.argv[1]))
rng = random.Random(5)
data = {o: open(o, "rb").read() for o in objs}
for o in objs:
    base = os.path.basename(o)[:-2]
    obj = data[o]
    # (b) no mutation, then 1, 3 and 8 random records [what][entry u16][field][mode][value u64].
    for k in (0, 1, 3, 8):
        script = b"".join(struct.pack("<BHBBQ", rng.randrange(4), rng.randrange(65536), rng.randrange(256),
                                      rng.randrange(6), rng.getrandbits(64)) for _ in range(k))
        open(f"corpus/mutate_elf/{base}-{k}", "wb").write(bytes([k]) + script + obj)
    # (c) one or two objects and a script of ops [code][a][b u64].
    for k in (0, 6, 20):
        ops = b"".join(struct.pack("<BBQ", rng.randrange(12), rng.randrange(256), rng.getrandbits(64)) for _ in range(k))
        others = [obj]
        if k:
            others.append(data[rng.choice(objs)])
        tail = b"".join(struct.pack("<I", len(x)) + x for x in others)
        open(f"corpus/remap_refinalize/{base}-{k}", "wb").write(bytes([k]) + ops + tail)
PY
for t in load_bytes mutate_elf remap_refinalize; do
  echo "corpus/$t: $(ls corpus/$t | wc -l) inputs"
done
