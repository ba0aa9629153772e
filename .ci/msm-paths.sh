#!/usr/bin/env bash
# Both G1 paths of the CPU MSM, called by .ci/run after the main test step
# (about a minute: both crates are already built by then).
#
# - zkr-gpu's tests with ZKR_REQUIRE_IFMA=1: CI machines have AVX-512 IFMA,
#   so the lane tests must run there, not skip (the scalar path's own tests
#   run in the same invocation);
# - the prover's proof-equality tests with ZKR_CPU_MSM=scalar: the main test
#   step proved on the IFMA path (the default where the CPU has it), this
#   checks that the portable path still gives ark-groth16's proofs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== zkr-gpu tests, IFMA required"
ZKR_REQUIRE_IFMA=1 cargo test -p zkr-gpu

echo "== prover equality tests on the scalar G1 path"
ZKR_CPU_MSM=scalar cargo test -p zkr-prover ark_groth16
