#!/usr/bin/env bash
# The load scenarios of issues 3, 4 and 7 against a rapsheet each starts itself: attack mix,
# million-address spray, tarpit holding (2,000 and 10,000 held), reload storm. Each prints a
# JSON summary and exits non-zero when one of its checks fails.
# Usage: loadtest/scripts/scenarios.sh [attack|spray|tarpit|reload ...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(attack spray tarpit reload)
status=0
for name in "${scenarios[@]}"; do
  case "$name" in
    attack) args=(--duration 30s attack) ;;
    spray) args=(--connections 8 --duration 10s spray --addresses 1000000 --max-clients 100000 \
             --spray-connections 32 --limit 12m) ;;
    tarpit) args=(--duration 10s tarpit --held 2000,10000) ;;
    reload) args=(--duration 40s reload --reloads 50) ;;
    *) echo "unknown scenario $name" >&2; exit 2 ;;
  esac
  {
    machine_note
    "$load" scenario --rapsheet "$rapsheet" "${args[@]}" || status=1
    machine_note
  } | tee "$results/scenario-$name.json.txt"
done
exit $status
