#!/usr/bin/env bash
# The exported Solidity verifier on a real EVM: the pinned solc and
# @ethereumjs/vm from interop/evm's lock file (snarkjs from interop/'s, for
# the gas and calldata comparison), then the test that compiles, deploys and
# calls the verifiers of our four circuits. About a minute once the
# workspace's test dependencies are built.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd interop/evm && npm ci --no-audit --no-fund --loglevel=error)
[ -d interop/node_modules/snarkjs ] || (cd interop && npm ci --no-audit --no-fund --loglevel=error)
# `test = false` keeps this target out of --all-targets: lint it here.
# --workspace (only zkr-verifier has the target) resolves features as the
# other CI steps do, so their builds are reused.
cargo clippy --workspace --test evm -- -D warnings
ZKR_REQUIRE_EVM=1 cargo test --workspace --test evm -- --nocapture
