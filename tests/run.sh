#!/usr/bin/env bash
# Builds Rampart and runs every check CI runs: rustfmt, clippy (warnings are
# errors), the binaries and the whole test suite. Installs what a fresh
# Debian/Ubuntu lacks first (a C toolchain and pkg-config via apt, only if
# missing); a Rust toolchain (rustup) must already be installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[tests/run.sh] %s\n' "$*" >&2; }

# shellcheck source=.ci/prereqs.sh
. .ci/prereqs.sh
ensure_prereqs
ensure_lint_tools
ensure_test_tools
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
