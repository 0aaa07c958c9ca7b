# Shared by perf/peers.sh and perf/instr.sh (sourced, not run): locates the
# peers kit, makes sure its setup has run, and builds the release `rampart`.
# shellcheck shell=bash

ROOT=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
# The kit lives beside the checkout (../shared), not inside it.
PEERS=${PEERS:-$(cd "$ROOT/.." && pwd)/shared/bench/peers}
PEERS_WORK=${PEERS_WORK:-/tmp/peers/work}
export PEERS_WORK
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RAMPART_BIN=$TARGET_DIR/release/rampart
# Same budget as the peers (1 nginx worker / 1 HAProxy thread) unless told otherwise.
RAMPART_WORKERS=${RAMPART_WORKERS:-1}

log() { printf '[perf %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_peers() {
    [ -f "$PEERS/run.sh" ] || die "peers kit not found at $PEERS (expected ../shared/bench/peers beside the checkout)"
    # The same marker instr.sh checks; /tmp is wiped on reboot, so check every time.
    if [ ! -f "$PEERS_WORK/conf/nginx-a.conf" ]; then
        log "peers not set up yet: running $PEERS/setup.sh (installs from apt, writes configs to $PEERS_WORK)"
        as_root env PEERS_WORK="$PEERS_WORK" bash "$PEERS/setup.sh"
    fi
}

build_rampart() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    log "building rampart (release) into $TARGET_DIR"
    (cd "$ROOT" && cargo build --release -p rampart-dataplane --bin rampart)
    [ -x "$RAMPART_BIN" ] || die "no binary at $RAMPART_BIN"
}

rampart_cmd() {
    # RAMPART_POLICY: "--no-policy" (default: the bare dataplane), "" (the
    # embedded default pack) or "--pack DIR ...".
    echo "$RAMPART_BIN proxy --listen 127.0.0.1:18090 --upstream http://127.0.0.1:18080 --workers $RAMPART_WORKERS --no-admin ${RAMPART_POLICY---no-policy}"
}
