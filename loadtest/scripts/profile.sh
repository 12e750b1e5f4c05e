#!/usr/bin/env bash
# A CPU profile of rapsheet's request path under benign load: perf record (software clock,
# DWARF call graphs) for 15 s, reported as text into loadtest/results/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
data="${TMPDIR:-/tmp}/rapsheet-perf.data"
machine_note > "$results/profile-benign.txt"
"$load" scenario --rapsheet "$rapsheet" --duration 15s benign --perf-out "$data" \
  | tee -a "$results/profile-benign.txt"
perf report -i "$data" --no-children --percent-limit 0.7 --stdio -g none --sort symbol \
  2>/dev/null | grep -v '^$' >> "$results/profile-benign.txt"
perf report -i "$data" --children --percent-limit 4 --stdio -g caller,0.5,callee --sort symbol \
  2>/dev/null | grep -v '^$' | head -400 > "$results/profile-benign-callers.txt"
echo "wrote $results/profile-benign.txt and profile-benign-callers.txt"
