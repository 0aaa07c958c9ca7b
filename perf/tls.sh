#!/usr/bin/env bash
# Issue 7's HTTPS benchmark: HAProxy terminating TLS (OpenSSL) against Rampart
# terminating TLS (rustls handshake, in-place records), both in front of the
# peers kit's nginx backend (port 18080), with the same ECDSA P-256
# certificate and the same client (wrk over OpenSSL, so the same TLS 1.3
# cipher suite is negotiated with both: printed below).
#
#   keepalive  wrk over 64 keep-alive HTTPS connections, a GET with the kit's
#              headers (perf/wrk/tls-get.lua; Host bench.test, SNI localhost)
#   handshake  wrk with `Connection: close`: a new TCP connection and a full
#              TLS handshake for every request (wrk does not resume sessions)
#
# Targets: H = HAProxy (port 18443), R0 = Rampart without policy (18444),
# RP = Rampart with the embedded default pack (18445). Pinned like the peers
# kit's `pinned` variant: servers on CPU $SRV_CPUS, wrk on CPU $WRK_CPUS.
# Rounds are interleaved; the table shows medians and ratios to HAProxy.
#
# Knobs (env): ROUNDS=3 DURATION=10s CONNS=64 HS_CONNS=16 SRV_CPUS=0 WRK_CPUS=1
#   RAMPART_WORKERS=1 (HAProxy gets the same number of threads)
set -euo pipefail
# shellcheck source=perf/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
HS_CONNS=${HS_CONNS:-16}
SRV_CPUS=${SRV_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
OUT=${RESULTS:-/tmp/peers/results/rampart-tls-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

ensure_peers
build_rampart
command -v haproxy >/dev/null || die "haproxy missing (the peers kit installs it)"
command -v wrk >/dev/null || die "wrk missing (the peers kit installs it)"

W=$OUT/work
mkdir -p "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
cat "$W/cert.pem" "$W/key.pem" > "$W/haproxy.pem"
cat > "$W/haproxy.cfg" <<EOF
global
  nbthread $RAMPART_WORKERS
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 65s
  timeout server 65s
  timeout http-keep-alive 65s
  option http-keep-alive
  http-reuse safe
frontend fe_tls
  bind 127.0.0.1:18443 ssl crt $W/haproxy.pem alpn http/1.1
  default_backend be_a
backend be_a
  server a 127.0.0.1:18080
EOF

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# taskset execs its command, so `$!` is the server itself (a shell function
# in the background would be a subshell, and the kill would miss the server).
pin() { taskset -c "$1" "${@:2}"; }
taskset -c "$SRV_CPUS" nginx -p "$PEERS_WORK" -e "$W/nginx.error.log" -c "$PEERS_WORK/conf/nginx-a.conf" \
    -g 'daemon off;' >"$W/nginx.out" 2>&1 &
PIDS+=($!)
taskset -c "$SRV_CPUS" haproxy -f "$W/haproxy.cfg" >"$W/haproxy.out" 2>&1 &
PIDS+=($!)
common=(--upstream http://127.0.0.1:18080 --workers "$RAMPART_WORKERS" --no-admin
    --cert "$W/cert.pem" --key "$W/key.pem")
taskset -c "$SRV_CPUS" "$RAMPART_BIN" proxy --listen 127.0.0.1:18190 --tls-listen 127.0.0.1:18444 \
    "${common[@]}" --no-policy >"$W/r0.out" 2>&1 &
PIDS+=($!)
taskset -c "$SRV_CPUS" "$RAMPART_BIN" proxy --listen 127.0.0.1:18191 --tls-listen 127.0.0.1:18445 \
    "${common[@]}" --overlay "$ROOT/perf/overlays/single-client-load.toml" --events /dev/null \
    >"$W/rp.out" 2>&1 &
PIDS+=($!)

declare -A PORT=([H]=18443 [R0]=18444 [RP]=18445)
for id in H R0 RP; do
    for _ in $(seq 100); do
        curl -sk -o /dev/null "https://127.0.0.1:${PORT[$id]}/" && break
        sleep 0.1
    done
    neg=$(echo | openssl s_client -connect "127.0.0.1:${PORT[$id]}" -servername bench.test 2>/dev/null |
        grep -m1 -E '^New, ' || true)
    log "$id (port ${PORT[$id]}): $neg"
done

pid_of_port() { ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -un | head -1; }
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
HZ=$(getconf CLK_TCK)

CSV=$OUT/runs.csv
echo "round,id,load,rps,p50_us,p99_us,non2xx,errors,cpu_us_per_req" > "$CSV"
run() { # round id load
    local round=$1 id=$2 load=$3 port=${PORT[$2]} out args pid t0 t1
    out="$OUT/raw/${id}_${load}_r${round}.txt"
    mkdir -p "${out%/*}"
    if [ "$load" = keepalive ]; then
        args=(-c"$CONNS")
    else
        args=(-c"$HS_CONNS" -H "Connection: close")
    fi
    pid=$(pid_of_port "$port")
    t0=$(ticks "$pid")
    pin "$WRK_CPUS" wrk -t1 "${args[@]}" -d"$DURATION" --latency -s "$ROOT/perf/wrk/tls-get.lua" \
        "https://localhost:$port/" >"$out" 2>&1 || true
    t1=$(ticks "$pid")
    awk -v round="$round" -v id="$id" -v load="$load" -v t=$((t1 - t0)) -v hz="$HZ" '
        function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = us($2) }
        /^ +99%/ { p99 = us($2) }
        /requests in/ { req = $1 }
        /Non-2xx/ { non = $5 }
        /Socket errors/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
        END { printf "%s,%s,%s,%.0f,%.0f,%.0f,%d,%d,%.2f\n", round, id, load, rps, p50, p99, non, err,
              req ? t * 1e6 / hz / req : 0 }' "$out" >>"$CSV"
}

for load in keepalive handshake; do
    for id in H R0 RP; do run warm "$id" "$load" >/dev/null 2>&1 || true; done
    sed -i '/^warm,/d' "$CSV"
    for r in $(seq "$ROUNDS"); do
        for id in H R0 RP; do
            log "round $r: $id $load"
            run "$r" "$id" "$load"
        done
    done
done

{
    echo "# HTTPS: Rampart vs HAProxy ($ROUNDS rounds, medians; pinned: servers CPU $SRV_CPUS, wrk CPU $WRK_CPUS)"
    echo
    echo "| load | target | req/s | vs HAProxy | p50 µs | p99 µs | server CPU µs/req | non-2xx | socket errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for load in keepalive handshake; do
        h=$(awk -F, -v l="$load" '$2=="H" && $3==l {print $4}' "$CSV" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        for id in H R0 RP; do
            awk -F, -v l="$load" -v id="$id" -v h="$h" '
                $2==id && $3==l { n++; rps[n]=$4; p50[n]=$5; p99[n]=$6; cpu[n]=$9; non+=$7; err+=$8 }
                function med(a,   i, j, t, m) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; m = int((n + 1) / 2); return a[m] }
                END { name = (id == "H") ? "HAProxy" : (id == "R0") ? "Rampart, no policy" : "Rampart, default pack";
                      r = med(rps); printf "| %s | %s | %.0f | %.2fx | %.0f | %.0f | %.1f | %d | %d |\n", l, name, r, h ? r / h : 0, med(p50), med(p99), med(cpu), non, err }' "$CSV"
        done
    done
} | tee "$OUT/summary.md"
log "results: $OUT (summary.md, runs.csv, raw/)"
