#!/usr/bin/env bash
# Both paths of the CPU MSM (G1 and G2), called by .ci/run after the main
# test step (a few minutes: both crates are already built by then).
#
# - zkr-gpu's lane tests: with ZKR_REQUIRE_IFMA=1 on a CPU that has AVX-512
#   IFMA (the lane tests must run there, not skip); on a CPU without it,
#   with the intrinsics emulated (feature ifma-emulated), so that the lane
#   arithmetic and bucket code are still tested (slowly). The scalar path's
#   own tests run in the same invocation.
# - the prover's proof-equality tests with ZKR_CPU_MSM=scalar: the main test
#   step proved on the IFMA path where the CPU has it, this checks that the
#   portable path still gives ark-groth16's proofs.
set -euo pipefail
cd "$(dirname "$0")/.."

if grep -qw avx512ifma /proc/cpuinfo; then
  echo "== zkr-gpu tests, IFMA required"
  ZKR_REQUIRE_IFMA=1 cargo test -p zkr-gpu
else
  echo "== zkr-gpu tests, IFMA emulated (this CPU has no AVX-512 IFMA)"
  cargo test -p zkr-gpu --features ifma-emulated
fi

echo "== prover equality tests on the scalar path"
ZKR_CPU_MSM=scalar cargo test -p zkr-prover ark_groth16
