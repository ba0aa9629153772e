#!/usr/bin/env bash
# CI for the circom formats (about 2-3 minutes on 2 cores): the pinned circom
# compiler and snarkjs from interop/circom's lock file, the round trips of
# interop/circom/check-circom.sh, and a short run of every fuzz target.
# Usage: .ci/circom.sh [path/to/zkr]   (builds target/debug/zkr if not given)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
echo; echo "=== circom: round trips, ceremony import, prove-zkey, short fuzz runs"

(cd interop/circom && npm ci --no-audit --no-fund --loglevel=error)

ZKR_BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/zkr}
[ -x "$ZKR_BIN" ] || cargo build -p zkr --bin zkr
interop/circom/check-circom.sh "$ZKR_BIN"
echo "circom round trips: $(( $(date +%s) - t0 ))s"

# Fuzzing: the same target bodies (fuzz/bodies.rs) two ways. The stable
# harness always runs (mutations of real snarkjs/circom files, 5 s per
# target). Coverage-guided cargo-fuzz runs too when a nightly toolchain and
# cargo-fuzz are already installed; installing them is left to longer runs
# (fuzz/README.md) because building the sanitized targets alone exceeds this
# step's time budget on a fresh 2-core machine.
# --workspace resolves features as the test step did, so its build is reused.
ZKR_FUZZ_SECONDS=${ZKR_FUZZ_SECONDS:-5} cargo test --workspace --test fuzz_smoke -- --nocapture
if cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1; then
  for t in $(cd fuzz && cargo +nightly fuzz list); do
    (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time=10 -rss_limit_mb=2048)
  done
else
  echo "cargo-fuzz run skipped: no nightly toolchain with cargo-fuzz (the stable harness above ran every target)"
fi
echo "circom CI: $(( $(date +%s) - t0 ))s"
