# shellcheck shell=bash
# Sourced by .ci/run: an OpenCL device for the OpenCL tests, which are
# built by default (zkr-gpu's `opencl` feature; libOpenCL is loaded at run
# time) and run in the main test step.
#
# Installs POCL, the CPU OpenCL runtime, when clinfo lists no device, and
# exports what the tests read:
#   ZKR_REQUIRE_OPENCL=1 (the OpenCL tests fail instead of skipping),
#   POCL_CACHE_DIR (POCL compiles the kernel once and keeps it there, so
#   later processes skip the LLVM build).
# To run only the OpenCL tests on a machine with a device:
#   ZKR_REQUIRE_OPENCL=1 cargo test --workspace opencl

zkr_opencl_setup() {
    if ! { command -v clinfo >/dev/null 2>&1 && clinfo -l 2>/dev/null | grep -q Device; }; then
        echo "opencl.sh: installing POCL (CPU OpenCL runtime)" >&2
        apt-get update -qq >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
            pocl-opencl-icd clinfo >&2 || return 1
    fi
    clinfo -l || return 1
    export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$HOME/.cache/pocl/kcache}"
    mkdir -p "$POCL_CACHE_DIR"
    export ZKR_REQUIRE_OPENCL=1
}

zkr_opencl_setup
