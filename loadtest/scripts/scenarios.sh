#!/usr/bin/env bash
# The load scenarios of issues 3, 4, 7 and 8 against a rapsheet each starts itself: attack mix,
# million-address spray, tarpit holding (2,000 and 10,000 held), reload storm, zero-downtime
# upgrade. Each prints a JSON summary and exits non-zero when one of its checks fails.
# Usage: loadtest/scripts/scenarios.sh [attack|spray|tarpit|reload|upgrade ...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(attack spray tarpit reload upgrade)
status=0
for name in "${scenarios[@]}"; do
  case "$name" in
    attack) args=(--duration 30s attack) ;;
    spray) args=(--connections 8 --duration 10s spray --addresses 1000000 --max-clients 100000 \
             --spray-connections 32 --limit 12m) ;;
    tarpit) args=(--duration 10s tarpit --held 2000,10000) ;;
    reload) args=(--duration 40s reload --reloads 50) ;;
    # About a minute: the new process catches up with the old one's last flush 30 s after
    # its start, and the load runs on past that.
    upgrade) args=(--duration 45s upgrade --banned 50 --late-banned 20 --handover-after 5s) ;;
    *) echo "unknown scenario $name" >&2; exit 2 ;;
  esac
  # A subshell of the pipeline: its exit status, not a variable set inside it, carries the
  # scenario's outcome out.
  (
    outcome=0
    machine_note
    "$load" scenario --rapsheet "$rapsheet" "${args[@]}" || outcome=1
    machine_note
    exit $outcome
  ) | tee "$results/scenario-$name.json.txt" || status=1
done
exit $status
