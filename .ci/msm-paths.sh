#!/usr/bin/env bash
# Both paths of the CPU MSM (G1 and G2), called by .ci/run after the main
# test step.
#
# - On a CPU with AVX-512 IFMA the main test step ran the lane path (it is
#   chosen at run time). Here: zkr-gpu's tests with ZKR_REQUIRE_IFMA=1, so
#   that the lane tests cannot skip, and the prover's proof-equality tests
#   with ZKR_CPU_MSM=scalar, so that the portable path is checked against
#   ark-groth16 too.
# - On a CPU without it the main test step ran the portable path. Here:
#   zkr-gpu's unit tests with the intrinsics emulated (feature
#   ifma-emulated), so that the lane arithmetic and bucket code are still
#   tested (slowly; only zkr-gpu is rebuilt for it).
set -euo pipefail
cd "$(dirname "$0")/.."

if grep -qw avx512ifma /proc/cpuinfo; then
  echo "== zkr-gpu tests, IFMA required"
  ZKR_REQUIRE_IFMA=1 cargo test --workspace --lib -- ifma
  echo "== prover equality tests on the scalar path"
  ZKR_CPU_MSM=scalar cargo test --workspace -- ark_groth16
else
  echo "== zkr-gpu unit tests, IFMA emulated (this CPU has no AVX-512 IFMA)"
  cargo test -p zkr-gpu --features ifma-emulated --lib
fi
