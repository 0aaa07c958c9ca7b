#!/usr/bin/env bash
# Runs the Rampart demo: the gateway on 127.0.0.1:8080 in front of the built-in
# demo API, printing curl lines to try. Installs what a fresh Debian/Ubuntu
# lacks first (a C toolchain and pkg-config via apt, only if missing); a Rust
# toolchain (rustup) must already be installed. Extra arguments go to
# `rampart demo`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[demo.sh] %s\n' "$*" >&2; }

# shellcheck source=.ci/prereqs.sh
. .ci/prereqs.sh
ensure_prereqs
exec cargo run --release -p rampart-dataplane --bin rampart -- demo "$@"
