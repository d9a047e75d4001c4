#!/bin/bash
# Prints, per target, the figures fuzz/RESULTS.md records, from the logs
# run-all.sh wrote (fuzz/artifacts/<target>.log): seconds fuzzed, runs
# (libFuzzer restarts after a failure, so the executions of every run are
# added up, each taken from its final stats line), corpus size now, and the
# failures libFuzzer saved.
#
# usage: fuzz/summarize.sh [targets...]
set -uo pipefail
cd "$(dirname "$0")"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(load_bytes mutate_elf remap_refinalize)
printf '%-18s %8s %6s %14s %8s %s\n' target seconds runs execs corpus failures
for t in "${targets[@]}"; do
  log="artifacts/$t.log"
  [ -f "$log" ] || { echo "$t: no log"; continue; }
  secs=$(sed -n "s/^== .* done $t after \([0-9]*\)s$/\1/p" "$log" | tail -1)
  runs=$(grep -c "^== .*cargo fuzz run $t" "$log")
  # With -jobs=1 each run's final stats appear twice in a row in the log
  # (the job's output and its fuzz-0.log): uniq keeps one.
  execs=$(grep "^stat::number_of_executed_units" "$log" | uniq | awk '{s += $2} END {print s + 0}')
  corpus=$(find "corpus/$t" -type f 2>/dev/null | wc -l)
  failures=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) 2>/dev/null | wc -l)
  printf '%-18s %8s %6s %14s %8s %s\n' "$t" "${secs:-?}" "$runs" "$execs" "$corpus" "$failures"
done
