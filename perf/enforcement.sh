#!/usr/bin/env bash
# Issue 5's enforcement benchmark, in one run of ../shared/bench/peers/run.sh:
# HAProxy (B), Rampart without policy (port 18090) and Rampart with the
# embedded default pack (port 18091), all in front of the kit's nginx backend,
# under three loads:
#   get     the kit's benign GET            -> req/s vs HAProxy
#   mix10   90% benign GET + 10% attacks    -> CPU per request vs `get`
#   blocked attacks only (answered locally) -> p99 of a block decision
# plus `post` (the kit's 2 KiB JSON POST) unless LOADS says otherwise.
# The wrk scripts live in perf/wrk/ and are copied into the kit's work dir,
# where run.sh looks for `<load>.lua`.
#
# Knobs (env), passed through to run.sh: ROUNDS DURATION VARIANTS CONNS ...;
# LOADS (default "get post mix10 blocked"); RAMPART_WORKERS (default 1);
# RAMPART_EVENTS (extra flags for the pack instance, e.g. "--events /dev/null").
set -euo pipefail
# shellcheck source=perf/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_peers
build_rampart

cp "$ROOT/perf/wrk/mix10.lua" "$ROOT/perf/wrk/blocked.lua" "$PEERS_WORK/wrk/"
export LOADS=${LOADS:-"get post mix10 blocked"}
export TARGETS=${TARGETS:-B}
export CHECK_WAF=${CHECK_WAF:-0}
export RESULTS=${RESULTS:-/tmp/peers/results/rampart-enforcement-$(date +%Y%m%d-%H%M%S)}
export EXTRA="name=rampart-nopolicy port=18090;name=rampart-pack port=18091"
common="--upstream http://127.0.0.1:18080 --workers $RAMPART_WORKERS --no-admin"
# Both gateways live in one process group (run.sh pins and stops it as one);
# the one not under load sleeps in io_uring_enter and costs nothing.
# wrk is one client address: the pack's behaviour policies (a burst from
# one address is exactly what they stop) run in monitor mode, so counters
# are still updated and read and the policies evaluated on every request.
overlay="--overlay $ROOT/perf/overlays/single-client-load.toml"
EXTRA_CMD="$RAMPART_BIN proxy --listen 127.0.0.1:18090 $common --no-policy & \
$RAMPART_BIN proxy --listen 127.0.0.1:18091 $common $overlay ${RAMPART_EVENTS:-} & wait"
export EXTRA_CMD
log "EXTRA_CMD=$EXTRA_CMD LOADS=$LOADS"

rc=0
bash "$PEERS/run.sh" || rc=$?
log "results: $RESULTS (summary.md, runs.csv, raw/)"
exit "$rc"
