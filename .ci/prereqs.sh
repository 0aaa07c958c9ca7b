# Sourced by the README's two commands (dataplane/demo.sh, tests/run.sh): installs
# what a fresh Debian/Ubuntu machine lacks before building Rampart. Expects a
# `log` function from the caller.
ensure_prereqs() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # rustup installs put cargo here without touching non-login shells' PATH.
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "no Rust toolchain found: install one with"
        log "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y"
        log "then re-run this script."
        exit 1
    fi

    local missing=()
    command -v cc >/dev/null 2>&1 || missing+=(build-essential)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    # The matcher links Hyperscan from Debian (hs.h + libhs.so via pkg-config).
    if ! pkg-config --exists libhs 2>/dev/null && [ ! -f /usr/include/hs/hs.h ]; then
        missing+=(libhyperscan-dev)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! command -v apt-get >/dev/null 2>&1; then
            log "missing ${missing[*]} and no apt-get: install them and re-run."
            exit 1
        fi
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        log "installing ${missing[*]} with apt-get"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

# rustfmt/clippy are rustup components that minimal profiles leave out; only the
# test command needs them.
ensure_lint_tools() {
    if command -v rustup >/dev/null 2>&1; then
        local comps=()
        cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
        cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
        if [ "${#comps[@]}" -gt 0 ]; then
            log "adding rustup components: ${comps[*]}"
            rustup component add "${comps[@]}"
        fi
    fi
}


# The TLS tests drive real clients: curl and openssl s_client (Debian packages);
# the RS256 tests (dataplane behaviour tests) make their RSA keys and
# signatures with openssl too.
ensure_test_tools() {
    local missing=()
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # the operator console's end-to-end test drives headless Chromium
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! command -v apt-get >/dev/null 2>&1; then
            log "missing ${missing[*]} and no apt-get: install them and re-run."
            exit 1
        fi
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        log "installing ${missing[*]} with apt-get"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" ca-certificates
    fi
}
