#!/bin/bash
# Runs the three fuzz targets one after another, each for SECONDS_PER_TARGET
# (default 1800) seconds in total, one libFuzzer process at a time. If a run
# stops early (a crash, timeout or OOM, saved under fuzz/artifacts/<target>/),
# it is restarted for the remaining time, so every target gets its full
# budget. Logs go to fuzz/artifacts/<target>.log.
#
# usage: RUSTC_BOOTSTRAP=1 fuzz/run-all.sh [targets...]
set -uo pipefail
cd "$(dirname "$0")"
budget=${SECONDS_PER_TARGET:-1800}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(load_bytes mutate_elf remap_refinalize)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null 2>&1 || { echo "cargo fuzz build failed" >&2; exit 1; }
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t" "corpus/$t"
  log="artifacts/$t.log"
  : > "$log"
  start=$(date +%s)
  while :; do
    left=$(( budget - ($(date +%s) - start) ))
    [ "$left" -gt 5 ] || break
    echo "== $(date -u +%FT%TZ) cargo fuzz run $t for ${left}s" >> "$log"
    cargo fuzz run -O "$t" "corpus/$t" -- -jobs=1 -workers=1 -max_total_time="$left" \
      -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 -artifact_prefix="artifacts/$t/" >> "$log" 2>&1
    rc=$?
    # -jobs=1 runs the fuzzer as one child process whose output goes to fuzz-0.log.
    if [ -f fuzz-0.log ]; then cat fuzz-0.log >> "$log"; rm -f fuzz-0.log; fi
    echo "== exit $rc" >> "$log"
  done
  echo "== $(date -u +%FT%TZ) done $t after $(( $(date +%s) - start ))s" >> "$log"
done
