#!/usr/bin/env bash
# Runs the Rampart demo: the gateway on 127.0.0.1:8080 in front of the built-in
# demo API, printing curl lines to try. Installs what a fresh Debian/Ubuntu
# lacks first (a C toolchain and pkg-config via apt, only if missing); a Rust
# toolchain (rustup) must already be installed. Extra arguments go to
# `rampart demo`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[demo.sh] %s\n' "$*" >&2; }

# --- prerequisites (same logic as tests/run.sh) -------------------------------
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

ensure_prereqs
exec cargo run --release -p rampart-dataplane --bin rampart -- demo "$@"
