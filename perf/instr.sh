#!/usr/bin/env bash
# User-space instructions per request of Rampart next to HAProxy (B), counted
# with callgrind by ../shared/bench/peers/instr.sh (no hardware PMU on these
# VMs). Rampart is started under valgrind by the kit, so it runs as one
# process that exits on SIGTERM.
#
# Knobs (env), passed through to instr.sh: TARGETS (default "B") LOADS ISHORT
# ILONG WARM ICONNS; RAMPART_WORKERS (default 1); RESULTS (default
# /tmp/peers/results/rampart-instr-<timestamp>).
set -euo pipefail
# shellcheck source=perf/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_peers
if ! command -v valgrind >/dev/null 2>&1; then
    log "installing valgrind"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind
fi
build_rampart

export TARGETS=${TARGETS:-B}
export RESULTS=${RESULTS:-/tmp/peers/results/rampart-instr-$(date +%Y%m%d-%H%M%S)}
export EXTRA="name=rampart port=18090"
EXTRA_CMD=$(rampart_cmd)
export EXTRA_CMD
log "EXTRA_CMD=$EXTRA_CMD TARGETS=$TARGETS"

rc=0
bash "$PEERS/instr.sh" || rc=$?
log "results: $RESULTS (instr.md, cg/, *.wrk.txt)"
exit "$rc"
