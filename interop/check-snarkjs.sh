#!/usr/bin/env bash
# snarkjs must accept fresh proofs of all four circuits made by zkr, and
# reject each of them with one public input changed.
# Usage: interop/check-snarkjs.sh path/to/zkr
set -euo pipefail
ZKR=${1:?usage: check-snarkjs.sh path/to/zkr}
HERE=$(cd "$(dirname "$0")" && pwd)
SNARKJS="$HERE/node_modules/.bin/snarkjs"
[ -x "$SNARKJS" ] || { echo "snarkjs not installed: run 'npm ci' in interop/" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DEPTH=8
passed=0; failed=0

h() { "$ZKR" hash poseidon "$@"; }
S1=11; S2=22; S3=33
ID1=$(h $S1); ID2=$(h $S2); ID3=$(h $S3)
CLIENT=$(h 44)

cat > "$WORK/range.json" <<JSON
{"value":"123456789","blind":"987654321","min":"1000","max":"1000000000"}
JSON
cat > "$WORK/membership.json" <<JSON
{"secret":"$S2","scope":"2026","members":["$ID1","$ID2","$ID3"]}
JSON
RECEIPT=$(cat <<JSON
{"job_id":"77","client_id":"$CLIENT","miner_id":"$ID3","units":"3600000","unit_price":"25","amount":"90000000","fee":"900000","timestamp":"1764000000","salt":"5555"}
JSON
)
cat > "$WORK/receipt.json" <<JSON
{"receipt":$RECEIPT,"amount_min":"50000000","amount_max":"100000000","miners":["$ID1","$ID2","$ID3"]}
JSON
cat > "$WORK/disclosure.json" <<JSON
{"receipt":$RECEIPT,"disclose":["amount","miner_id","timestamp"]}
JSON

for c in range membership receipt disclosure; do
  "$ZKR" setup --circuit "$c" --depth $DEPTH --out "$WORK/$c-keys" >/dev/null 2>&1
  "$ZKR" prove --keys "$WORK/$c-keys" --input "$WORK/$c.json" --out "$WORK/$c-proof" >/dev/null
  if "$SNARKJS" groth16 verify "$WORK/$c-keys/verification_key.json" "$WORK/$c-proof/public.json" "$WORK/$c-proof/proof.json" >/dev/null; then
    echo "ok: snarkjs accepts the $c proof"; passed=$((passed+1))
  else
    echo "FAIL: snarkjs rejects the $c proof"; failed=$((failed+1))
  fi
  # change the last public input by one
  node -e '
    const fs=require("fs"); const p=JSON.parse(fs.readFileSync(process.argv[1]));
    p[p.length-1]=(BigInt(p[p.length-1])+1n).toString(); fs.writeFileSync(process.argv[2], JSON.stringify(p));
  ' "$WORK/$c-proof/public.json" "$WORK/$c-proof/tampered.json"
  if "$SNARKJS" groth16 verify "$WORK/$c-keys/verification_key.json" "$WORK/$c-proof/tampered.json" "$WORK/$c-proof/proof.json" >/dev/null 2>&1; then
    echo "FAIL: snarkjs accepts a tampered $c public input"; failed=$((failed+1))
  else
    echo "ok: snarkjs rejects a tampered $c public input"; passed=$((passed+1))
  fi
done
echo "snarkjs interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
