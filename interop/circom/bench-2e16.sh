#!/usr/bin/env bash
# prove-zkey at 2^16 (issue 13's target: >= 10x snarkjs): compiles
# circuits/chain270.circom (270 Poseidon(2), 64,800 constraints, domain
# 2^16) with the pinned circom, makes its witness, writes a .zkey from a
# single-party setup (`zkr-circom`'s dev_zkey example: a 2^16 powers of tau
# takes snarkjs too long to prepare here; snarkjs proves with any valid
# .zkey), then runs bench-prove.sh on it. Several minutes on 2 cores: not
# part of CI.
# Usage: bench-2e16.sh path/to/zkr [RUNS=5]   (npm ci in this folder first)
set -euo pipefail
ZKR=$(cd "$(dirname "${1:?usage: bench-2e16.sh path/to/zkr [RUNS]}")" && pwd)/$(basename "$1")
RUNS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$HERE/node_modules/.bin"
[ -x "$BIN/snarkjs" ] && [ -x "$BIN/circom2" ] || { echo "circom2/snarkjs not installed: run 'npm ci' in interop/circom" >&2; exit 1; }
W=${ZKR_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
if [ ! -f "$W/chain270.zkey" ]; then
  (cd "$HERE" && "$BIN/circom2" circuits/chain270.circom --r1cs --wasm --O2 -o "$W" >/dev/null)
  echo '{"seed":"3","k":"11"}' > "$W/in.json"
  node "$W/chain270_js/generate_witness.js" "$W/chain270_js/chain270.wasm" "$W/in.json" "$W/chain270.wtns"
  (cd "$HERE/../.." && cargo run --release -q -p zkr-circom --example dev_zkey -- "$W/chain270.r1cs" "$W/chain270.zkey")
fi
"$HERE/bench-prove.sh" "$ZKR" "$W/chain270.zkey" "$W/chain270.wtns" "$RUNS"
