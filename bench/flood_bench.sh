#!/usr/bin/env bash
# flood_bench.sh BUILD_DIR - the `./dev bench` rows for fhirpamd under a
# flood of connections (issue 26): the trusted gateway's requests/s and p99
# latency (wrk on 127.0.0.1, straight at fhirpamd's auth_request endpoint,
# cached ES256 token, the four-module `fhir` stack), first alone, then while
# 300 connections at a time
#   - from an untrusted address (127.0.0.2) announce 1 TB bodies and send
#     1 MiB each, every connection fhirpamd closes replaced at once;
#   - from a trusted address (127.0.0.3) announce 1 TB bodies to the Envoy
#     endpoint, the same way;
# with fhirpamd's VmRSS growth (the peak during the flood, sampled every
# 0.1 s from /proc, less the value before) and the time the gateway's next
# request takes once the flood has stopped. Targets: growth under 64 MiB for
# 300 connections, p99 under 10 ms. Measured, not asserted: only a wrong
# answer to the gateway fails the run.
#
# SECONDS_PER_RUN (default 5) and CONNECTIONS (16) set wrk's run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
FHIRPAMD=$BUILD/tools/fhirpamd/fhirpamd
FHIRPAM_CLI=$BUILD/tools/fhirpam
MODULES_DIR=$BUILD/modules
DURATION=${SECONDS_PER_RUN:-5}
CONNS=${CONNECTIONS:-16}
. tests/nginx/lib.sh
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "flood bench: $tool not installed" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpamd-flood-bench.XXXXXX")
trap 'touch "$WORK/stop"; fp_cleanup; rm -rf "$WORK"' EXIT
fp_prepare
fp_config
THREADS=$(nproc)
fp_start_fhirpamd --threads "$THREADS" --trusted-peer 127.0.0.3
URL=http://127.0.0.1:$FHIRPAMD_PORT/auth
TOKEN=$(fp_token "$(fp_claims 123 "launch/patient patient/Patient.rs" bench-flood 3000)")
ASK=(-H "X-Original-Method: GET" -H "X-Original-URI: /fhir/r4/Patient/123"
    -H "Authorization: Bearer $TOKEN")
[ "$(curl -s -o /dev/null -w '%{http_code}' "${ASK[@]}" "$URL")" = 200 ]

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$FHIRPAMD_PID/status"; }

# row NAME NOTE: wrk's run as one table row; wrk counts non-2xx answers, and
# a row with any fails the bench (the gateway was answered wrongly).
row() {
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "${ASK[@]}" "$URL" >"$WORK/wrk.out"
    local rps p99 non2xx
    rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$WORK/wrk.out")
    printf '| %-64s | %10s | %11s | %s |\n' "$1" "$rps" "$p99" "$2"
    if [ -n "$non2xx" ] || grep -q "Socket errors" "$WORK/wrk.out"; then
        echo "flood bench: the gateway was not always answered 200:" >&2
        cat "$WORK/wrk.out" >&2
        return 1
    fi
}

# flooded NAME NOTE [flood.py args]: the row under a flood, then the RSS
# growth and the gateway's first answer after it.
flooded() {
    local name=$1 note=$2
    shift 2
    rm -f "$WORK/stop"
    local before peak now
    before=$(rss_kb)
    python3 tests/nginx/flood.py --target "127.0.0.1:$FHIRPAMD_PORT" --connections 300 \
        --announce 1000000000000 --send 1048576 --reconnect --hold $((DURATION + 30)) \
        --stop-file "$WORK/stop" "$@" >"$WORK/flood.json" &
    local flood_pid=$!
    (
        peak=$before
        while [ ! -e "$WORK/stop" ]; do
            now=$(rss_kb)
            [ "$now" -gt "$peak" ] && peak=$now
            echo "$peak" >"$WORK/peak"
            sleep 0.1
        done
    ) &
    local sampler=$!
    sleep 1
    row "$name" "$note"
    touch "$WORK/stop"
    wait "$flood_pid" "$sampler"
    local after_ms
    after_ms=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "${ASK[@]}" "$URL" |
        awk '$1 == 200 { printf "%.1f", $2 * 1000 } $1 != 200 { print "no answer: " $1 }')
    peak=$(cat "$WORK/peak")
    echo "  fhirpamd VmRSS $before kB before, peak $peak kB: +$(((peak - before) / 1024)) MiB" \
        "(target < 64 MiB); flood: $(cat "$WORK/flood.json"); the gateway's next request" \
        "after the flood: $after_ms ms"
}

echo
printf '| %-64s | %10s | %11s | %s |\n' "fhirpamd under a flood (wrk ${DURATION} s, $CONNS connections)" \
    "requests/s" "p99 latency" "note"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 66))" "------------" "-------------" "------"
row "gateway alone: cached ES256 token, auth_request endpoint" \
    "$THREADS fhirpamd threads; stack fhir: expiry, revocation, scope_check, patient_link"
flooded "gateway + 300 untrusted conns (1 TB announced, reconnecting)" \
    "127.0.0.2, closed at accept, each refusal audited; target p99 < 10 ms" --source 127.0.0.2
flooded "gateway + 300 trusted conns, Envoy endpoint (1 TB announced)" \
    "127.0.0.3, 413 from Content-Length; the flood sends 1 MiB each on the same 2 cores" --source 127.0.0.3 \
    --path /ext_authz/fhir/r4/Observation/_search
refused=$(curl -s "http://127.0.0.1:$FHIRPAMD_PORT/metrics" |
    awk '$1 ~ /^fhirpamd_refusals_total/ && $2 > 0 { printf "%s=%s ", $1, $2 }')
echo "fhirpamd refusals: $refused"
