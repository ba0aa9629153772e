#!/usr/bin/env bash
# The circom/snarkjs round trips, both ways:
#  1. a circom circuit (a Poseidon chain), set up and proved by snarkjs,
#     verifies with `zkr verify` (also in rapidsnark's shape, without the
#     `curve` tag), and a tampered public input does not;
#  2. `zkr prove-zkey` proves from snarkjs's .zkey and circom's .wtns and
#     snarkjs verifies the proof;
#  3. `zkr export r1cs` of our circuits runs a snarkjs phase 2 (two
#     contributions, a beacon, `zkey verify`) on a powers of tau made here;
#     `zkr import-zkey` turns the final key into a key directory, refuses it
#     for another circuit, `zkr prove` proves with it and snarkjs verifies.
# Usage: interop/circom/check-circom.sh path/to/zkr
set -euo pipefail
ZKR=$(cd "$(dirname "${1:?usage: check-circom.sh path/to/zkr}")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$HERE/node_modules/.bin"
[ -x "$BIN/snarkjs" ] && [ -x "$BIN/circom2" ] || { echo "circom2/snarkjs not installed: run 'npm ci' in interop/circom" >&2; exit 1; }
SNARKJS="$BIN/snarkjs"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
passed=0; failed=0
ok() { echo "ok: $*"; passed=$((passed+1)); }
fail() { echo "FAIL: $*"; failed=$((failed+1)); }
expect() { # expect CODE DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  local got=0; "$@" >"$W/out" 2>&1 || got=$?
  if [ "$got" = "$want" ]; then ok "$what"; else fail "$what (exit $got, expected $want)"; cat "$W/out"; fi
}

echo "--- powers of tau (2^12), one contribution, phase 2 prepared"
"$SNARKJS" powersoftau new bn128 12 pot0.ptau >/dev/null
"$SNARKJS" powersoftau contribute pot0.ptau pot1.ptau --name=ci -e="ci $RANDOM" >/dev/null
"$SNARKJS" powersoftau prepare phase2 pot1.ptau pot.ptau >/dev/null

echo "--- a circom circuit: 8 Poseidon(2) in a chain"
(cd "$HERE" && "$BIN/circom2" circuits/chain8.circom --r1cs --wasm --O2 -o "$W" >/dev/null)
mv chain8.r1cs chain.r1cs
echo '{"seed":"12345","k":"678"}' > in.json
node chain8_js/generate_witness.js chain8_js/chain8.wasm in.json chain.wtns
"$SNARKJS" groth16 setup chain.r1cs pot.ptau chain0.zkey >/dev/null
"$SNARKJS" zkey contribute chain0.zkey chain.zkey --name=ci -e="ci $RANDOM" >/dev/null
"$SNARKJS" zkey export verificationkey chain.zkey chain_vk.json >/dev/null
"$SNARKJS" groth16 prove chain.zkey chain.wtns proof.json public.json

expect 0 "zkr verify accepts snarkjs's proof of a circom circuit" -- \
  "$ZKR" verify --vk chain_vk.json --proof proof.json --public public.json
node -e 'const f=require("fs");const p=JSON.parse(f.readFileSync("proof.json"));delete p.curve;f.writeFileSync("rapid.json",JSON.stringify(p))'
expect 0 "zkr verify accepts a proof without the curve tag (rapidsnark's shape)" -- \
  "$ZKR" verify --vk chain_vk.json --proof rapid.json --public public.json
node -e 'const f=require("fs");const p=JSON.parse(f.readFileSync("public.json"));p[0]=(BigInt(p[0])+1n).toString();f.writeFileSync("tampered.json",JSON.stringify(p))'
expect 1 "zkr verify rejects the proof with a tampered public signal" -- \
  "$ZKR" verify --vk chain_vk.json --proof proof.json --public tampered.json

expect 0 "zkr prove-zkey proves from snarkjs's .zkey and circom's .wtns" -- \
  "$ZKR" prove-zkey chain.zkey chain.wtns zproof.json zpublic.json --backend cpu
expect 0 "snarkjs verifies zkr prove-zkey's proof" -- \
  "$SNARKJS" groth16 verify chain_vk.json zpublic.json zproof.json
if node -e 'const f=require("fs");const a=JSON.parse(f.readFileSync("public.json")),b=JSON.parse(f.readFileSync("zpublic.json"));process.exit(JSON.stringify(a)===JSON.stringify(b)?0:1)'; then
  ok "prove-zkey's public.json equals snarkjs's"; else fail "prove-zkey's public.json differs from snarkjs's"; fi
expect 1 "snarkjs rejects it with a tampered public signal" -- \
  "$SNARKJS" groth16 verify chain_vk.json tampered.json zproof.json
head -c 1000 chain.zkey > truncated.zkey
expect 2 "zkr prove-zkey refuses a truncated .zkey (exit 2)" -- \
  "$ZKR" prove-zkey truncated.zkey chain.wtns x.json y.json

echo "--- ceremony keys for our circuits"
S1=11; S2=22; S3=33
ID1=$("$ZKR" hash poseidon $S1); ID2=$("$ZKR" hash poseidon $S2); ID3=$("$ZKR" hash poseidon $S3)
echo '{"value":"123456789","blind":"987654321","min":"1000","max":"1000000000"}' > range.json
echo "{\"secret\":\"$S2\",\"scope\":\"2026\",\"members\":[\"$ID1\",\"$ID2\",\"$ID3\"]}" > membership.json
for spec in range membership:4; do
  c=${spec%%:*}; depth=${spec#*:}; [ "$depth" = "$spec" ] && depth=1
  "$ZKR" export r1cs --circuit "$c" --depth "$depth" --out "$c.r1cs"
  "$SNARKJS" groth16 setup "$c.r1cs" pot.ptau "${c}_0.zkey" >/dev/null
  "$SNARKJS" zkey contribute "${c}_0.zkey" "${c}_1.zkey" --name=alice -e="alice $RANDOM" >/dev/null
  "$SNARKJS" zkey contribute "${c}_1.zkey" "${c}_2.zkey" --name=bob -e="bob $RANDOM" >/dev/null
  "$SNARKJS" zkey beacon "${c}_2.zkey" "$c.zkey" 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 10 -n=final >/dev/null
  expect 0 "snarkjs zkey verify accepts the $c ceremony on zkr's .r1cs" -- \
    "$SNARKJS" zkey verify "$c.r1cs" pot.ptau "$c.zkey"
  "$SNARKJS" zkey export verificationkey "$c.zkey" "${c}_vk.json" >/dev/null
  expect 0 "zkr import-zkey takes the $c ceremony key" -- \
    "$ZKR" import-zkey "$c.zkey" --circuit "$c" --depth "$depth" --out "$c-keys"
  expect 0 "zkr prove proves $c with the imported key" -- \
    "$ZKR" prove --keys "$c-keys" --input "$c.json" --out "$c-proof" --backend cpu
  expect 0 "snarkjs verifies that $c proof with the ceremony's verification key" -- \
    "$SNARKJS" groth16 verify "${c}_vk.json" "$c-proof/public.json" "$c-proof/proof.json"
done
expect 1 "zkr import-zkey refuses the range key for membership" -- \
  "$ZKR" import-zkey range.zkey --circuit membership --depth 4 --out wrong1
expect 1 "zkr import-zkey refuses the membership(4) key at depth 3" -- \
  "$ZKR" import-zkey membership.zkey --circuit membership --depth 3 --out wrong2
expect 1 "zkr import-zkey refuses a circom circuit's key for range" -- \
  "$ZKR" import-zkey chain.zkey --circuit range --out wrong3
[ ! -e wrong1 ] && [ ! -e wrong2 ] && [ ! -e wrong3 ] && ok "no key directory written for a refused key" || fail "a refused key left a directory"

echo "circom interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
