#!/usr/bin/env bash
# Memory per tracked client: a million clients through Engine::on_request/on_response.
set -euo pipefail
source "$(dirname "$0")/common.sh"
{ machine_note; "$load" fill --clients 1000000; } | tee "$results/memory-fill.txt"
