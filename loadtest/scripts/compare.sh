#!/usr/bin/env bash
# A/B comparison (issue 7): rapsheet with the default policy, the same binary with
# `scoring: false`, nginx proxy_pass and nginx+ModSecurity+CRS, five rounds in rotated order,
# server on CPU 1 (one thread / one worker), generator and upstream on CPU 0.
# Usage: loadtest/scripts/compare.sh [extra rapsheet-load compare flags]
set -euo pipefail
source "$(dirname "$0")/common.sh"
out="$results/compare.md"
{
  machine_note
  "$load" compare --rapsheet "$rapsheet" --rounds 5 --duration 10s --warmup 3s \
    --out "$results/compare.jsonl" "$@"
  machine_note
} | tee "$out"
