#!/usr/bin/env bash
# CI for the Prometheus alert rules and the Grafana dashboard
# (dashboards/): promtool checks the rules and runs their unit tests, then a
# real `zkr serve` on a temporary data directory and a loopback port is
# scraped, and every metric name that the rules and the dashboard use must
# be in that scrape (so a renamed metric cannot leave a silent alert).
# Usage: .ci/alerts.sh [path/to/zkr]   (builds target/debug/zkr if not given)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
echo; echo "=== alert rules: promtool check and test, metric names against a scrape"

if [ "$(id -u)" = 0 ] && ! command -v promtool >/dev/null; then
  # Debian ships promtool in the prometheus package, whose maintainer script
  # would start a Prometheus server where no policy forbids it: forbid it for
  # this install.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 prometheus curl >/dev/null
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

promtool check rules dashboards/zkr-alerts.yml
promtool test rules dashboards/zkr-alerts.test.yml

ZKR_BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/zkr}
[ -x "$ZKR_BIN" ] || cargo build -p zkr --bin zkr
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the kernel picks a free loopback port, which zkr prints. A clean
# environment: CI's HSM and database variables are not this check's.
env -i PATH="$PATH" HOME="$work" ZKR_DATA_DIR="$work/data" ZKR_LISTEN=127.0.0.1:0 \
  ZKR_SETUP_MISSING_KEYS=false ZKR_PROOF_WORKERS=1 ZKR_LOG=warn \
  "$ZKR_BIN" serve > "$work/serve.log" 2>&1 &
server=$!
base=""
for _ in $(seq 1 300); do
  base=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$work/serve.log")
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.2
done
[ -n "$base" ] || { echo "zkr serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

# A few requests, so that the labelled request and error series exist.
token=$(cat "$work/data/admin-token")
curl -fsS "$base/readyz" >/dev/null
curl -fsS "$base/healthz" >/dev/null
curl -fsS -H "Authorization: Bearer $token" "$base/v1/workers" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/workers")" = 401 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/no-such-page")" = 404 ]
curl -fsS "$base/metrics" > "$work/scrape.txt"
kill -TERM "$server"
wait "$server" || { echo "zkr serve did not stop cleanly" >&2; cat "$work/serve.log" >&2; exit 1; }
server=""

# Every sample name in the scrape (histograms' _bucket, _sum and _count
# included as they appear), against every zkr_* name the rules and the
# dashboard use; `up` is Prometheus's own.
grep -v '^#' "$work/scrape.txt" | sed 's/[{ ].*//' | sort -u > "$work/scraped.txt"
grep -ohE '\bzkr_[a-zA-Z0-9_]+' dashboards/zkr-alerts.yml dashboards/zkr.json \
  | sort -u > "$work/used.txt"
[ -s "$work/used.txt" ] || { echo "no metric names found in dashboards/" >&2; exit 1; }
missing=$(comm -23 "$work/used.txt" "$work/scraped.txt")
if [ -n "$missing" ]; then
  echo "metric names used in dashboards/ but not exported by zkr serve:" >&2
  echo "$missing" >&2
  exit 1
fi
echo "$(wc -l < "$work/used.txt") metric names used by the rules and the dashboard, all in the scrape"
echo "alerts CI: $(( $(date +%s) - t0 ))s"
