#!/usr/bin/env bash
# Where the cost of scoring goes: the benign scenario twice under perf, with scoring on and
# off, and the difference of CPU samples per request by symbol (perf's software clock counts
# samples at a fixed rate, so samples per request is CPU time per request).
set -euo pipefail
source "$(dirname "$0")/common.sh"
out="$results/profile-scoring-diff.txt"
work="${TMPDIR:-/tmp}/rapsheet-profile-diff"
mkdir -p "$work"
for scoring in true false; do
  "$load" scenario --rapsheet "$rapsheet" --duration 10s benign --scoring "$scoring" \
    --perf-out "$work/perf-$scoring.data" > "$work/run-$scoring.json"
  perf report -i "$work/perf-$scoring.data" --no-children --stdio -g none --sort dso,symbol -n \
    2>/dev/null | grep '%' | grep -v '^#' > "$work/symbols-$scoring.txt"
done
{
  machine_note
  python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]

def requests(scoring):
    text = open(f"{work}/run-{scoring}.json").read()
    return json.loads(text[text.index("{"):])["benign"]["responses"]

def samples(scoring):
    per_symbol = {}
    for line in open(f"{work}/symbols-{scoring}.txt"):
        fields = line.split(None, 2)
        symbol = re.sub(r"\s+-\s+-\s*$", "", fields[2]).strip()
        per_symbol[symbol] = per_symbol.get(symbol, 0) + int(fields[1])
    return per_symbol

on, off = samples("true"), samples("false")
n_on, n_off = requests("true"), requests("false")
total_on, total_off = sum(on.values()) / n_on, sum(off.values()) / n_off
print(f"requests: scoring on {n_on}, off {n_off}")
print(f"samples per request: on {total_on:.4f}, off {total_off:.4f}, ratio {total_on / total_off:.3f}")
print("extra samples per request with scoring on, by symbol (share of the extra):")
extra = total_on - total_off
rows = sorted(((on.get(k, 0) / n_on - off.get(k, 0) / n_off, k) for k in on.keys() | off.keys()), reverse=True)
for delta, symbol in rows[:40]:
    print(f"  {delta:+.5f} {100 * delta / extra:5.1f} %  {symbol[:110]}")
groups = {}
for delta, symbol in rows:
    group = next((g for g, pattern in [
        ("rapsheet", "rapsheet::"), ("moka", "moka::"), ("aho-corasick", "aho_corasick"),
        ("regex", "regex"), ("kernel", "[kernel"), ("libc (malloc, memmove)", "libc"),
    ] if pattern in symbol), "other (Pingora, tokio, http, std)")
    groups[group] = groups.get(group, 0) + delta
print("by group:")
for group, delta in sorted(groups.items(), key=lambda item: -item[1]):
    print(f"  {delta:+.5f} {100 * delta / extra:5.1f} %  {group}")
PY
} | tee "$out"
