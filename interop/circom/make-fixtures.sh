#!/usr/bin/env bash
# Regenerates circom/tests/fixtures from circuits/tiny.circom with the pinned
# circom and snarkjs (npm ci first): files made by the reference tools, which
# the readers of zkr-circom are tested against.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/../../circom/tests/fixtures"
BIN="$HERE/node_modules/.bin"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$BIN/circom2" "$HERE/circuits/tiny.circom" --r1cs --wasm -o "$W" >/dev/null
cd "$W"
echo '{"a":"3","b":"11"}' > in.json
node tiny_js/generate_witness.js tiny_js/tiny.wasm in.json tiny.wtns
"$BIN/snarkjs" powersoftau new bn128 4 p0.ptau >/dev/null
"$BIN/snarkjs" powersoftau contribute p0.ptau p1.ptau --name=a -e=fixture >/dev/null
"$BIN/snarkjs" powersoftau prepare phase2 p1.ptau p.ptau >/dev/null
"$BIN/snarkjs" groth16 setup tiny.r1cs p.ptau t0.zkey >/dev/null
"$BIN/snarkjs" zkey contribute t0.zkey tiny.zkey --name=b -e=fixture2 >/dev/null
"$BIN/snarkjs" zkey export verificationkey tiny.zkey tiny_vk.json >/dev/null
"$BIN/snarkjs" groth16 prove tiny.zkey tiny.wtns tiny_proof.json tiny_public.json
cp tiny.r1cs tiny.wtns tiny.zkey tiny_vk.json tiny_proof.json tiny_public.json "$OUT/"
echo "fixtures written to $OUT"
