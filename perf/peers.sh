#!/usr/bin/env bash
# Throughput/latency of Rampart next to its peers (nginx, HAProxy, ModSecurity
# setups) with ../shared/bench/peers/run.sh: Rampart listens on 127.0.0.1:18090
# in front of the kit's nginx backend (18080) and is started, pinned and
# stopped by run.sh like every peer.
#
# Knobs (env), passed through to run.sh: ROUNDS DURATION VARIANTS LOADS TARGETS
# CONNS THREADS WARMUP ... (see the kit's README); RAMPART_WORKERS (default 1);
# RESULTS (default /tmp/peers/results/rampart-<timestamp>).
set -euo pipefail
# shellcheck source=perf/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_peers
build_rampart

export RESULTS=${RESULTS:-/tmp/peers/results/rampart-$(date +%Y%m%d-%H%M%S)}
export EXTRA="name=rampart port=18090"
EXTRA_CMD=$(rampart_cmd)
export EXTRA_CMD
log "EXTRA_CMD=$EXTRA_CMD"
log "knobs: ROUNDS=${ROUNDS:-default} DURATION=${DURATION:-default} VARIANTS=${VARIANTS:-default} LOADS=${LOADS:-default}"

rc=0
bash "$PEERS/run.sh" || rc=$?
log "results: $RESULTS (summary.md, runs.csv, raw/, waf.md, versions.txt)"
exit "$rc"
