#!/usr/bin/env bash
# OpenCL checks on the CPU OpenCL runtime (POCL), called by .ci/run.
#
# - installs POCL and the ICD loader if clinfo does not list a device;
# - clippy -D warnings for the `opencl` feature of zkr-gpu, zkr-prover and
#   zkr-benches (the default features are linted by .ci/run);
# - the OpenCL tests with ZKR_REQUIRE_OPENCL=1, so that "no device" fails
#   instead of skipping.
#
# POCL compiles the kernel once per process and keeps the result in its
# kernel cache (POCL_CACHE_DIR, default ~/.cache/pocl/kcache), so repeated
# runs on one machine skip the LLVM build. Set CARGO_TARGET_DIR as for the
# other CI steps.
set -euo pipefail
cd "$(dirname "$0")/.."

have_device() {
    command -v clinfo >/dev/null 2>&1 && clinfo -l 2>/dev/null | grep -q 'Device'
}

if ! have_device; then
    echo "== installing POCL (CPU OpenCL runtime)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 pocl-opencl-icd ocl-icd-opencl-dev clinfo >/dev/null
fi
clinfo -l

export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$HOME/.cache/pocl/kcache}"
mkdir -p "$POCL_CACHE_DIR"

features=(--features zkr-gpu/opencl,zkr-prover/opencl,zkr-benches/opencl)
packages=(-p zkr-gpu -p zkr-prover -p zkr-benches)
# The binary's `opencl` feature is linted too, so that `zkr --backend
# opencl` builds.
lint_features=(--features zkr-gpu/opencl,zkr-prover/opencl,zkr-benches/opencl,zkr/opencl,zkr/bench)
lint_packages=("${packages[@]}" -p zkr)

echo "== clippy (opencl)"
cargo clippy "${lint_packages[@]}" --all-targets "${lint_features[@]}" -- -D warnings

echo "== tests (opencl, device required)"
ZKR_REQUIRE_OPENCL=1 cargo test "${packages[@]}" "${features[@]}"
