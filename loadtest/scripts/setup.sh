#!/usr/bin/env bash
# Installs what the load tests need when it is missing (Debian packages: nginx, the
# ModSecurity module, the OWASP CRS, perf) and builds rapsheet and the load generator in
# release mode. Run from anywhere; needs root (or sudo) only when something is missing.
# Debian's nginx package tries to start a server on port 80; policy-rc.d on this machine
# refuses, and nothing here ever starts it: the load tests run their own nginx on loopback.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"

need=()
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || need+=(libnginx-mod-http-modsecurity)
[ -d /usr/share/modsecurity-crs/rules ] || need+=(modsecurity-crs)
command -v perf >/dev/null || need+=(linux-perf)
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

cd "$repo"
cargo build --release -j 2
cargo build --release -j 2 --manifest-path loadtest/Cargo.toml
echo "ready: target/release/rapsheet and loadtest/target/release/rapsheet-load"
