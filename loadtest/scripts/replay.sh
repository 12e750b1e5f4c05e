#!/usr/bin/env bash
# Replay throughput: generates a 2,000,000-line combined log and times
# `rapsheet replay --no-progress` on it on one core (three runs, hyperfine when present).
set -euo pipefail
source "$(dirname "$0")/common.sh"
log="${TMPDIR:-/tmp}/rapsheet-replay-2m.log"
[ -s "$log" ] || "$load" gen-log --lines 2000000 --out "$log"
lines=$(wc -l < "$log")
{
  machine_note
  echo "lines=$lines bytes=$(stat -c %s "$log")"
  for run in 1 2 3; do
    start=$(date +%s.%N)
    taskset -c 0 "$rapsheet" replay --no-progress "$log" > /dev/null || true
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" -v n="$lines" -v r="$run" \
      'BEGIN { printf "run %d: %.2f s, %.0f lines/s\n", r, e - s, n / (e - s) }'
  done
} | tee "$results/replay.txt"
