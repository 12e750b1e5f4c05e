#!/usr/bin/env bash
# Opens a rap sheet in headless Chromium, the way an operator would, and checks that the
# score and the signal table are there: in the DOM Chromium built, and in a screenshot.
#
# It starts rapsheet with the demo configuration on free loopback ports, plays a scanner
# with curl from 127.0.0.77 (danger paths, a redirect probe, then a cross-site scripting
# payload that gets it banned), and opens http://ADMIN/clients/127.0.0.77.
#
# Usage: tests/browser/screenshot.sh [OUTPUT_DIR]   (default: target/browser)
# Needs curl and chromium (Debian's `chromium` package); builds rapsheet if needed.
# Exits non-zero when something is missing from the page.
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:-target/browser}"
mkdir -p "$out"
work="$(mktemp -d)"
rapsheet_pid=""
cleanup() {
  if [ -n "$rapsheet_pid" ]; then
    kill "$rapsheet_pid" 2>/dev/null || true
    wait "$rapsheet_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in curl chromium; do
  command -v "$tool" >/dev/null || { echo "screenshot.sh: $tool is not installed" >&2; exit 2; }
done

# A loopback port nothing listens on now.
free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

wait_for() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "screenshot.sh: nothing listens on port $1" >&2
  exit 1
}

cargo build --quiet --bin rapsheet
proxy_port=$(free_port); metrics_port=$(free_port); admin_port=$(free_port)
cat > "$work/rapsheet.yaml" <<YAML
listen: 127.0.0.1:$proxy_port
upstreams: demo
policy: $PWD/conf/policy.yaml
metrics: { listen: "127.0.0.1:$metrics_port" }
admin: { listen: "127.0.0.1:$admin_port" }
YAML
target/debug/rapsheet serve -c "$work/rapsheet.yaml" >"$work/stdout.log" 2>"$work/stderr.log" &
rapsheet_pid=$!
wait_for "$proxy_port"
wait_for "$admin_port"

# The scanner. Each request is bounded in time: from the fourth on it is tarpitted, and
# the last one is refused and bans it.
scanner="127.0.0.77"
scan() {
  curl -s -o /dev/null --max-time 2 --interface "$scanner" -A "$1" \
    -e "${3:-}" "http://127.0.0.1:$proxy_port$2" || true
}
for path in /.env /.git/config /wp-login.php /phpmyadmin/ /admin /admin/ /backup.zip; do
  scan "Mozilla/5.0 (X11; Linux x86_64) Scanner" "$path" "http://seo-offers.example.net/"
done
scan "<b>Mozilla</b>/5.0 'quoted'" "/search?q=%3Cscript%3Ealert(1)%3C/script%3E"

url="http://127.0.0.1:$admin_port/clients/$scanner"
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-background-networking
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$work/profile"
  --window-size=1200,1600)
timeout 90 "${chrome[@]}" --dump-dom "$url" >"$out/rapsheet.html" 2>"$work/chromium.log"
timeout 90 "${chrome[@]}" --screenshot="$out/rapsheet.png" "$url" >>"$work/chromium.log" 2>&1

failed=0
check() {
  if ! grep -q -- "$1" "$out/rapsheet.html"; then
    echo "screenshot.sh: the page lacks $2" >&2
    failed=1
  fi
}
check '<div class="big">[0-9][0-9]*/100</div>' "the score"
check '<table id="signals">' "the signal table"
check '<td class="mono">danger_hits</td>' "the danger_hits row"
check '<td class="mono">xss</td>' "the xss row"
check '&lt;b&gt;Mozilla&lt;/b&gt;' "the escaped User-Agent"
if grep -q '<b>Mozilla' "$out/rapsheet.html"; then
  echo "screenshot.sh: a User-Agent reached the page unescaped" >&2
  failed=1
fi
size=$(stat -c %s "$out/rapsheet.png" 2>/dev/null || echo 0)
if [ "$size" -lt 20000 ]; then
  echo "screenshot.sh: the screenshot is missing or blank ($size bytes)" >&2
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  sed -n '1,20p' "$work/stderr.log" >&2
  exit 1
fi
echo "screenshot.sh: ok: $out/rapsheet.png ($size bytes), $out/rapsheet.html"
