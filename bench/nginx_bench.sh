#!/usr/bin/env bash
# nginx_bench.sh BUILD_DIR - the `./dev bench` rows for fhirpamd (issue 9):
# wrk for 10 s with 64 connections on loopback against nginx serving one
# FHIR resource, (1) alone and (2) behind auth_request to fhirpamd with a
# cached, permitted token; requests/s and p99 latency for each.
#
# Under the second load it also checks what must hold, and fails otherwise:
#  - no denied data is served: a client with another patient's token loops
#    during the whole run, and every one of its answers must be a 403
#    without the resource;
#  - fhirpamd's memory is flat after warm-up: VmRSS sampled every second
#    after the first 2 s may not grow by more than RSS_SLACK_KB (default
#    4096: allocator arenas of the worker threads settle in the first
#    seconds; a leak of even 100 bytes a request grows it by tens of MiB).
#
# Uses tests/nginx/lib.sh: a private nginx on random loopback ports, its own
# prefix and config. SECONDS_PER_RUN and CONNECTIONS override 10 and 64.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
FHIRPAMD=$BUILD/tools/fhirpamd/fhirpamd
FHIRPAM_CLI=$BUILD/tools/fhirpam
MODULES_DIR=$BUILD/modules
DURATION=${SECONDS_PER_RUN:-10}
CONNS=${CONNECTIONS:-64}
RSS_SLACK_KB=${RSS_SLACK_KB:-4096}
. tests/nginx/lib.sh
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "nginx bench: $tool not installed" >&2; exit 1; }
done
fp_have_tools || { echo "nginx bench: nginx not installed" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpamd-bench.XXXXXX")
trap 'fp_cleanup; rm -rf "$WORK"' EXIT
fp_prepare
fp_config
THREADS=$(nproc)
fp_start_fhirpamd --threads "$THREADS"
# The same file, same nginx, without auth_request.
fp_start_nginx '    server {
        listen 127.0.0.1:@PORT2@;
        root @WORK@/data;
        access_log off;
        default_type application/fhir+json;
        location = /_nginx_health { return 200 "ok\n"; }
        location /fhir/r4/ { }
        location / { return 404; }
    }'
# The bench measures decisions, not the access log's disk writes.
sed -i "s|access_log $WORK/nginx/access.log;|access_log off;|" "$WORK/nginx/nginx.conf"
kill -HUP "$NGINX_PID"
sleep 0.5

ALL="launch/patient patient/Patient.rs patient/Observation.rs"
TOKEN=$(fp_token "$(fp_claims 123 "$ALL" bench-1 3000)")
OTHER=$(fp_token "$(fp_claims 456 "$ALL" bench-2 3000)")
PROTECTED=http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/123
PLAIN=http://127.0.0.1:$NGINX_PORT2/fhir/r4/Patient/123
SIZE=$(stat -c %s "$WORK/data/fhir/r4/Patient/123")
SIZE_456=$(stat -c %s "$WORK/data/fhir/r4/Patient/456")

# The request must work before it is measured.
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$PROTECTED")" = 200 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OTHER" "$PROTECTED")" = 403 ]

# wrk_row NAME NOTE URL [wrk args]: prints one table row; the raw output in
# $WORK/wrk.out. wrk reports non-2xx answers; a row with any is an error.
wrk_row() {
    local name=$1 note=$2 url=$3
    shift 3
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$WORK/wrk.out"
    local rps p99 non2xx
    rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$WORK/wrk.out")
    printf '| %-64s | %10s | %11s | %s |\n' "$name" "$rps" "$p99" "$note"
    if [ -n "$non2xx" ]; then
        echo "nginx bench: $non2xx answers were not 2xx:" >&2
        cat "$WORK/wrk.out" >&2
        return 1
    fi
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$FHIRPAMD_PID/status"; }

echo
printf '| %-64s | %10s | %11s | %s |\n' "nginx + fhirpamd (wrk ${DURATION} s, $CONNS connections, loopback)" \
    "requests/s" "p99 latency" "note"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 66))" "------------" "-------------" "------"
wrk_row "nginx alone: GET Patient/123, static file" "no auth_request" "$PLAIN"

# Warm-up: fill the token cache and the allocator's arenas.
wrk -t2 -c"$CONNS" -d2s -H "Authorization: Bearer $TOKEN" "$PROTECTED" >/dev/null

# During the measured run: a client with another patient's token, and RSS.
: >"$WORK/denied"
(
    urls=()
    for i in $(seq 1 50); do urls+=(-o /dev/null "$PROTECTED"); done
    while [ ! -e "$WORK/stop" ]; do
        curl -s --max-time 30 -H "Authorization: Bearer $OTHER" \
            -w '%{http_code} %{size_download}\n' "${urls[@]}" >>"$WORK/denied" ||
            echo "curl-failed 0" >>"$WORK/denied"
    done
) &
DENY_PID=$!
(
    while [ ! -e "$WORK/stop" ]; do
        rss_kb >>"$WORK/rss"
        sleep 1
    done
) &
RSS_PID=$!
rss_start=$(rss_kb)
wrk_row "nginx + auth_request -> fhirpamd: same file, cached ES256 token" \
    "$THREADS fhirpamd threads; stack fhir: expiry, revocation, scope_check, patient_link; + a denied client" \
    "$PROTECTED" -H "Authorization: Bearer $TOKEN"
touch "$WORK/stop"
wait "$DENY_PID" "$RSS_PID"
rss_end=$(rss_kb)

status=0
denied=$(wc -l <"$WORK/denied")
wrong=$(awk -v s="$SIZE_456" '$1 != 403 || $2 == s' "$WORK/denied" | wc -l)
served=$(awk '$1 == 200' "$WORK/denied" | wc -l)
if [ "$wrong" = 0 ] && [ "$denied" -gt 0 ]; then
    echo "denied under load: $denied requests with another patient's token, all 403, no data served"
else
    echo "nginx bench: FAILED: $wrong of $denied denied-client answers were not a clean 403 ($served were 200)" >&2
    sort "$WORK/denied" | uniq -c >&2
    status=1
fi
rss_max=$(sort -n "$WORK/rss" | tail -1)
rss_min=$(sort -n "$WORK/rss" | head -1)
growth=$((rss_max - rss_min))
echo "fhirpamd VmRSS (kB): after warm-up $rss_start, each second of the run: $(tr '\n' ' ' <"$WORK/rss")(min $rss_min, max $rss_max), after $rss_end"
if [ "$growth" -gt "$RSS_SLACK_KB" ] || [ $((rss_end - rss_start)) -gt "$RSS_SLACK_KB" ]; then
    echo "nginx bench: FAILED: fhirpamd RSS grew by more than $RSS_SLACK_KB kB after warm-up" >&2
    status=1
else
    echo "fhirpamd memory flat after warm-up (within $RSS_SLACK_KB kB)"
fi
decisions=$(curl -s "http://127.0.0.1:$FHIRPAMD_PORT/metrics" | awk '$1 == "fhirpamd_decision_seconds_count" { print $2 }')
hits=$(curl -s "http://127.0.0.1:$FHIRPAMD_PORT/metrics" | awk '$1 == "fhirpamd_token_cache_hits_total" { print $2 }')
echo "fhirpamd: $decisions decisions, $hits token cache hits"
exit $status
