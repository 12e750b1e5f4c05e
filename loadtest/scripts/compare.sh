#!/usr/bin/env bash
# A/B comparison (issue 7), in two parts:
#  1. saturating: rapsheet with the default policy, the same binary with `scoring: false`,
#     nginx proxy_pass and nginx+ModSecurity+CRS, five rounds in rotated order: throughput,
#     CPU per request, peak memory;
#  2. paced at 2,000 requests/s (below every proxy's capacity but ModSecurity's): latency
#     that is each proxy's own rather than queueing, five rounds.
# Server on CPU 1 (one thread / one worker), generator and upstream on CPU 0.
# Usage: loadtest/scripts/compare.sh [extra rapsheet-load compare flags]
set -euo pipefail
source "$(dirname "$0")/common.sh"
{
  machine_note
  "$load" compare --rapsheet "$rapsheet" --rounds 5 --duration 10s --warmup 3s \
    --out "$results/compare.jsonl" "$@"
  machine_note
} | tee "$results/compare.md"
{
  machine_note
  "$load" compare --rapsheet "$rapsheet" --rounds 5 --duration 10s --warmup 3s \
    --rate 2000 --targets rapsheet,rapsheet-off,nginx --out "$results/compare-paced.jsonl" "$@"
  machine_note
} | tee "$results/compare-paced.md"
