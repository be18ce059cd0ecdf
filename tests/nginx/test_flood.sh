#!/usr/bin/env bash
# test_flood.sh - what a flood can make fhirpamd hold (issue 26), at a size
# that fits CI: while a trusted gateway on 127.0.0.1 keeps asking (and every
# answer is checked), 300 connections at a time
#   1. from an untrusted address (127.0.0.2), announcing 1 TB bodies and
#      sending 1 MiB each: closed at accept, nothing read, each audited;
#   2. from a trusted one (127.0.0.3), announcing 1 TB bodies to the Envoy
#      endpoint: refused from Content-Length (413) before any of it is read,
#      and no more than --peer-connection-limit at once;
#   3. from the trusted one, chunked bodies that never end: buffers capped
#      at --max-body-bytes and dropped, connections closed by
#      --request-timeout;
# with fhirpamd's VmRSS read from /proc/PID/status (the growth must stay
# under 64 MiB). Then 4. dead connections: with every connection slot held,
# more connections send and hang up while still in the accept queue, then
# every connection closes; the gateway must be answered (libmicrohttpd's
# edge-triggered epoll never saw those hang-ups, and they held every slot
# until the idle or request timeout, here 120 s: fhirpamd polls instead).
#
# Run by meson with FHIRPAMD, FHIRPAM_CLI and FHIRPAM_TEST_MODULES_DIR set.
set -euo pipefail

: "${FHIRPAMD:?}" "${FHIRPAM_CLI:?}" "${FHIRPAM_TEST_MODULES_DIR:?}"
MODULES_DIR=$FHIRPAM_TEST_MODULES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
if ! command -v curl >/dev/null || ! command -v python3 >/dev/null; then
    [ "${CI:-}" = true ] && { echo "curl or python3 not installed (CI)"; exit 1; }
    echo "curl or python3 not installed: skipped"
    exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpamd-flood.XXXXXX")
GATEWAY_PID=
SECOND_PID=
cleanup() {
    local rc=$?
    touch "$WORK/stop"
    [ -n "$GATEWAY_PID" ] && wait "$GATEWAY_PID" 2>/dev/null
    [ -n "$SECOND_PID" ] && kill "$SECOND_PID" 2>/dev/null && wait "$SECOND_PID" 2>/dev/null
    fp_cleanup
    if [ "$rc" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT

RSS_LIMIT_KB=$((64 * 1024))

fp_prepare
fp_config
fp_start_fhirpamd --threads 2 --trusted-peer 127.0.0.3 --connection-limit 1024 \
    --peer-connection-limit 64 --max-body-bytes 65536 --request-timeout 2
F=127.0.0.1:$FHIRPAMD_PORT
T=$(fp_token "$(fp_claims 123 "launch/patient patient/Patient.rs" jti-flood)")
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# The gateway: asks for a permit and a deny in turn, until told to stop;
# one line per answer: "WANT GOT".
gateway() {
    while [ ! -e "$WORK/stop" ]; do
        for want in 200 403; do
            local uri=/fhir/r4/Patient/123
            [ "$want" = 403 ] && uri=/fhir/r4/Patient/456
            got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Original-Method: GET" \
                -H "X-Original-URI: $uri" -H "Authorization: Bearer $T" "http://$F/auth" || true)
            echo "$want $got" >>"$WORK/gateway"
        done
    done
}
: >"$WORK/gateway"
gateway &
GATEWAY_PID=$!

# flood NAME [flood.py args]: runs the flood against fhirpamd, samples its
# VmRSS meanwhile; the result in $WORK/NAME.json, the peak in PEAK_KB.
flood() {
    local name=$1
    shift
    python3 "$HERE/flood.py" --target "$F" "$@" >"$WORK/$name.json" &
    local pid=$!
    PEAK_KB=$(rss_kb "$FHIRPAMD_PID")
    while kill -0 "$pid" 2>/dev/null; do
        local now
        now=$(rss_kb "$FHIRPAMD_PID")
        [ "$now" -gt "$PEAK_KB" ] && PEAK_KB=$now
        sleep 0.1
    done
    wait "$pid"
    echo "$name: $(cat "$WORK/$name.json"), fhirpamd VmRSS peak $PEAK_KB kB"
}
field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, v))' "$WORK/$1.json" "$2"; }
audited() { grep -c "\"reason\":\"$1\"" "$WORK/decisions.jsonl" || true; }

sleep 0.5
BASE_KB=$(rss_kb "$FHIRPAMD_PID")
echo "fhirpamd VmRSS before the floods: $BASE_KB kB"

echo "== 1. 300 untrusted connections announcing 1 TB, sending 1 MiB each"
flood untrusted --source 127.0.0.2 --connections 300 --announce 1000000000000 \
    --send 1048576 --hold 3
check "every untrusted connection refused, none answered, none held" \
    [ "$(field untrusted 'refused == opened and not answers and still_open == 0')" = True ]
check "fhirpamd's VmRSS grew by $((PEAK_KB - BASE_KB)) kB (limit $RSS_LIMIT_KB)" \
    [ $((PEAK_KB - BASE_KB)) -lt "$RSS_LIMIT_KB" ]
n=$(audited untrusted_peer)
check "each refused connection audited ($n untrusted_peer records for $(field untrusted opened))" \
    [ "$n" -ge "$(field untrusted opened)" ]

echo "== 2. 300 trusted connections announcing 1 TB to the Envoy endpoint"
flood announce --source 127.0.0.3 --connections 300 --announce 1000000000000 --send 1048576 \
    --hold 3
check "answered 413 from Content-Length, nothing else: $(field announce answers)" \
    [ "$(field announce 'set(answers) == {"413"} and still_open == 0')" = True ]
check "fhirpamd's VmRSS grew by $((PEAK_KB - BASE_KB)) kB (limit $RSS_LIMIT_KB)" \
    [ $((PEAK_KB - BASE_KB)) -lt "$RSS_LIMIT_KB" ]
check "body_too_large audited" [ "$(audited body_too_large)" -ge "$(field announce 'answers["413"]')" ]

echo "== 3. 300 trusted connections with chunked bodies that never end"
flood chunked --source 127.0.0.3 --connections 300 --chunked --send 1048576 --hold 4
check "closed by --request-timeout, none held: $(cat "$WORK/chunked.json")" \
    [ "$(field chunked 'still_open == 0 and not answers')" = True ]
check "fhirpamd's VmRSS grew by $((PEAK_KB - BASE_KB)) kB (limit $RSS_LIMIT_KB)" \
    [ $((PEAK_KB - BASE_KB)) -lt "$RSS_LIMIT_KB" ]
check "request_timeout audited" [ "$(audited request_timeout)" -ge 1 ]

touch "$WORK/stop"
wait "$GATEWAY_PID"
GATEWAY_PID=
asked=$(wc -l <"$WORK/gateway")
wrong=$(awk '$1 != $2' "$WORK/gateway" | wc -l)
check "the gateway's $asked requests during the floods all answered right ($wrong wrong: $(awk '$1 != $2' "$WORK/gateway" | sort | uniq -c | tr '\n' ' '))" \
    test "$asked" -ge 10 -a "$wrong" = 0
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Original-Method: GET" \
    -H "X-Original-URI: /fhir/r4/Patient/123" -H "Authorization: Bearer $T" "http://$F/auth" || true)
check "after the floods, the gateway's permit: $got" [ "$got" = 200 ]

echo "== 4. dead connections hold no slot"
rm -f "$WORK/second.port"
"$FHIRPAMD" -c "$WORK/fhirpam.conf" --modules-dir "$MODULES_DIR" --listen 127.0.0.1:0 \
    --ready-file "$WORK/second.port" --base /fhir/r4 --route =fhir --threads 1 \
    --trusted-peer 127.0.0.1 --trusted-peer 127.0.0.3 --connection-limit 4 \
    --peer-connection-limit 4 --timeout 120 --request-timeout 120 2>>"$WORK/second.log" &
SECOND_PID=$!
for i in $(seq 1 200); do [ -s "$WORK/second.port" ] && break; sleep 0.05; done
S=127.0.0.1:$(cat "$WORK/second.port")
fds_before=$(ls "/proc/$SECOND_PID/fd" | wc -l)
python3 "$HERE/flood.py" --target "$S" --source 127.0.0.3 --connections 4 --announce 100000 \
    --send 1000 --late 8 --hold 1 >"$WORK/dead.json"
echo "dead: $(cat "$WORK/dead.json")"
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H "X-Original-Method: GET" \
    -H "X-Original-URI: /fhir/r4/Patient/123" -H "Authorization: Bearer $T" "http://$S/auth" || true)
check "every slot held, 8 more hung up in the accept queue, then all closed: the gateway is answered ($got)" \
    [ "$got" = 200 ]
check "and fhirpamd holds none of them ($(ls "/proc/$SECOND_PID/fd" | wc -l) fds, $fds_before before)" \
    [ "$(ls "/proc/$SECOND_PID/fd" | wc -l)" -le "$fds_before" ]

CHECKS=$((CHECKS + 1))
if grep -E "Sanitizer|runtime error" "$WORK/fhirpamd.log" "$WORK/second.log"; then fail "sanitizer errors"; else ok "no sanitizer errors"; fi
fp_stop "$FHIRPAMD_PID" TERM
FHIRPAMD_PID=
check "fhirpamd exits 0 on SIGTERM" [ "$STOP_RC" = 0 ]

echo "$((100 * (CHECKS - FAILED) / CHECKS))%: Checks: $CHECKS, Failures: $FAILED, Errors: 0"
[ "$FAILED" = 0 ]
