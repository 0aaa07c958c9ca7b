#!/usr/bin/env bash
# Builds Rampart and runs every check CI runs: rustfmt, clippy (warnings are
# errors), the binaries and the whole test suite. Installs what a fresh
# Debian/Ubuntu lacks first (a C toolchain and pkg-config via apt, only if
# missing); a Rust toolchain (rustup) must already be installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[tests/run.sh] %s\n' "$*" >&2; }

# --- prerequisites (same logic as dataplane/demo.sh) -------------------------
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

    # rustfmt/clippy are rustup components that minimal profiles leave out.
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

ensure_prereqs
log "cargo: $(cargo --version); target dir: ${CARGO_TARGET_DIR:-target}"

# Cheapest check first so a formatting slip fails in seconds.
log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "cargo build --workspace --bins"
cargo build --workspace --bins

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test --workspace"
cargo test --workspace

log "all checks passed"
