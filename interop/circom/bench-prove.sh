#!/usr/bin/env bash
# `zkr prove-zkey` beside `snarkjs groth16 prove` on the same .zkey and .wtns,
# alternating, in one run: wall time of each whole command (reading the
# files included), the median of RUNS runs each, and the ratio snarkjs / zkr.
# Both proofs are checked with snarkjs. zkr's first run on a .zkey checks
# every point and leaves the checked key beside it (NAME.zkey.checked);
# that run is timed and shown on its own, and the cache is removed first so
# that it is a real first run.
# With RAPIDSNARK=path/to/rapidsnark/prover set, rapidsnark's prover (same
# command shape) runs in the same alternation and its proof is checked too.
# Usage: [RAPIDSNARK=prover] bench-prove.sh path/to/zkr circuit.zkey witness.wtns [RUNS=5]
set -euo pipefail
ZKR=$1; ZKEY=$2; WTNS=$3; RUNS=${4:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
SNARKJS="$HERE/node_modules/.bin/snarkjs"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$SNARKJS" zkey export verificationkey "$ZKEY" "$W/vk.json" >/dev/null
now() { date +%s.%N; }
rm -f "$ZKEY.checked"
a=$(now); "$ZKR" prove-zkey "$ZKEY" "$WTNS" "$W/zp.json" "$W/zpub.json" --backend cpu; b=$(now)
first=$(awk -v a="$a" -v b="$b" 'BEGIN{print b-a}')
echo "zkr first run (full check of the .zkey, cache written): $first s"
zt=(); st=(); rt=()
for i in $(seq "$RUNS"); do
  a=$(now); "$ZKR" prove-zkey "$ZKEY" "$WTNS" "$W/zp.json" "$W/zpub.json" --backend cpu; b=$(now)
  zt+=("$(awk -v a="$a" -v b="$b" 'BEGIN{print b-a}')")
  a=$(now); "$SNARKJS" groth16 prove "$ZKEY" "$WTNS" "$W/sp.json" "$W/spub.json"; b=$(now)
  st+=("$(awk -v a="$a" -v b="$b" 'BEGIN{print b-a}')")
  line="run $i: zkr ${zt[-1]} s, snarkjs ${st[-1]} s"
  if [ -n "${RAPIDSNARK:-}" ]; then
    a=$(now); "$RAPIDSNARK" "$ZKEY" "$WTNS" "$W/rp.json" "$W/rpub.json"; b=$(now)
    rt+=("$(awk -v a="$a" -v b="$b" 'BEGIN{print b-a}')")
    line="$line, rapidsnark ${rt[-1]} s"
  fi
  echo "$line"
done
"$SNARKJS" groth16 verify "$W/vk.json" "$W/zpub.json" "$W/zp.json" >/dev/null
"$SNARKJS" groth16 verify "$W/vk.json" "$W/spub.json" "$W/sp.json" >/dev/null
[ -z "${RAPIDSNARK:-}" ] || "$SNARKJS" groth16 verify "$W/vk.json" "$W/rpub.json" "$W/rp.json" >/dev/null
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mz=$(median "${zt[@]}"); ms=$(median "${st[@]}")
printf 'median over %d runs: zkr prove-zkey %.3f s, snarkjs groth16 prove %.3f s, ratio %.2fx (both proofs verified by snarkjs)\n' \
  "$RUNS" "$mz" "$ms" "$(awk -v s="$ms" -v z="$mz" 'BEGIN{print s/z}')"
if [ -n "${RAPIDSNARK:-}" ]; then
  mr=$(median "${rt[@]}")
  printf 'rapidsnark prover %.3f s (median), ratio rapidsnark / zkr %.2fx (its proof verified by snarkjs)\n' \
    "$mr" "$(awk -v r="$mr" -v z="$mz" 'BEGIN{print r/z}')"
fi
