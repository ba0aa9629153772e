# shellcheck shell=bash
# Sourced by .ci/run: provides a SoftHSM2 token for the zkr-keys PKCS#11 tests.
#
# Installs softhsm2 when missing, initialises a token in a fresh temporary
# directory (through SOFTHSM2_CONF, so no system state is touched) and
# exports what the tests read:
#   SOFTHSM2_CONF, ZKR_PKCS11_MODULE, ZKR_PKCS11_TOKEN_LABEL, ZKR_PKCS11_PIN,
#   ZKR_REQUIRE_SOFTHSM=1 (the PKCS#11 tests fail instead of skipping).

zkr_softhsm_setup() {
    local module=/usr/lib/softhsm/libsofthsm2.so
    if [ ! -e "$module" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
        echo "softhsm.sh: installing softhsm2" >&2
        apt-get update -qq >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >&2 || return 1
    fi
    if [ ! -e "$module" ]; then
        echo "softhsm.sh: $module not found after installing softhsm2" >&2
        return 1
    fi

    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/zkr-softhsm.XXXXXX") || return 1
    mkdir -p "$dir/tokens"
    cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
    export ZKR_PKCS11_MODULE="$module"
    export ZKR_PKCS11_TOKEN_LABEL="zkr-ci"
    export ZKR_PKCS11_PIN="1234"
    export ZKR_PKCS11_SO_PIN="5678"
    export ZKR_REQUIRE_SOFTHSM=1

    softhsm2-util --init-token --free --label "$ZKR_PKCS11_TOKEN_LABEL" \
        --pin "$ZKR_PKCS11_PIN" --so-pin "$ZKR_PKCS11_SO_PIN" >&2 || return 1
    echo "softhsm.sh: token '$ZKR_PKCS11_TOKEN_LABEL' ready in $dir" >&2
}

zkr_softhsm_setup || { echo "softhsm.sh: setup failed" >&2; return 1 2>/dev/null || exit 1; }
