# Sourced by the other scripts: where things are, and a note of how busy the machine is, so
# every result file says how quiet it was measured.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
load="${LOAD_BIN:-$repo/loadtest/target/release/rapsheet-load}"
results="$repo/loadtest/results"
# A copy of the binary under test, so a rebuild by someone else mid-run cannot swap it.
bin_dir="${TMPDIR:-/tmp}/rapsheet-load-bin"
mkdir -p "$bin_dir" "$results"
cp "${RAPSHEET_BIN:-$repo/target/release/rapsheet}" "$bin_dir/rapsheet"
rapsheet="$bin_dir/rapsheet"
cd "$repo"

machine_note() {
  echo "# $(date -u +%FT%TZ) commit=${RAPSHEET_COMMIT:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)} nproc=$(nproc)" \
    "cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\"" \
    "kernel=$(uname -r) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
}
