#!/usr/bin/env bash
# test_caddy.sh - fhirpamd behind a real Caddy (forward_auth), in front of
# tests/nginx_module/fhir_stub.py: permits, denials with fhirpamd's status
# and challenge, clients that send the trusted headers themselves, and
# fhirpamd being down. The Caddyfile is etc/caddy-fhirpam.Caddyfile's
# set-up on loopback ports.
#
# Run by meson with FHIRPAMD, FHIRPAM_CLI, FHIRPAM_TEST_MODULES_DIR. Exit 77
# without caddy, except with CI=true.
set -euo pipefail
: "${FHIRPAMD:?}" "${FHIRPAM_CLI:?}" "${FHIRPAM_TEST_MODULES_DIR:?}"
MODULES_DIR=$FHIRPAM_TEST_MODULES_DIR
NGINX_MODULE=unused
. "$(dirname "$0")/../nginx_module/lib.sh"
if ! command -v caddy >/dev/null || ! command -v curl >/dev/null; then
    [ "${CI:-}" = true ] && { echo "caddy or curl not installed (CI)"; exit 1; }
    echo "caddy not installed: skipped"
    exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpam-caddy.XXXXXX")
CADDY_PID=
cleanup() {
    local rc=$?
    [ -n "$CADDY_PID" ] && { kill "$CADDY_PID" 2>/dev/null || true; wait "$CADDY_PID" 2>/dev/null || true; }
    nm_cleanup
    if [ "$rc" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
CHECKS=0
FAILED=0
req() { # NAME STATUS PATH [curl args]
    local name=$1 want=$2 path=$3 got
    shift 3
    CHECKS=$((CHECKS + 1))
    got=$(curl -s --max-time 10 -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$CADDY_PORT$path") || got=curl-failed
    if [ "$got" = "$want" ]; then echo "ok: $name: $got"; else FAILED=$((FAILED + 1)); echo "FAIL: $name: $got, want $want"; fi
}
check() {
    local name=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then echo "ok: $name"; else FAILED=$((FAILED + 1)); echo "FAIL: $name"; fi
}
never_upstream() { check "  the FHIR server never received $1" bash -c '! grep -qF -- "$1" "$2"' _ "$1" "$WORK/upstream.jsonl"; }

nm_prepare
# A gateway check never sees the response: the stack a gateway can enforce
# (no consent redaction, reads by id unresolved = deny).
CONSENT=off UNRESOLVED=deny nm_config
nm_start_stub
: >"$WORK/upstream.jsonl"
"$FHIRPAMD" -c "$WORK/fhirpam.conf" --listen 127.0.0.1:0 --ready-file "$WORK/fhirpamd.port" \
    --base /fhir/r4 --route =fhir --route metadata=public --trusted-peer 127.0.0.1 \
    --client-cert-header X-Client-Cert 2>>"$WORK/fhirpamd.log" &
FHIRPAMD_PID=$!
for i in $(seq 1 300); do [ -s "$WORK/fhirpamd.port" ] && break; sleep 0.05; done
FHIRPAMD_PORT=$(cat "$WORK/fhirpamd.port")

# The shipped Caddyfile's site block, on loopback ports.
for attempt in $(seq 1 10); do
    CADDY_PORT=$((20000 + RANDOM % 40000))
    {
        printf '{\n\tadmin off\n\tauto_https off\n}\n'
        sed -e "s|^fhir.example.org {|http://127.0.0.1:$CADDY_PORT {|" -e "s|/r4/\\*|/fhir/r4/*|" \
            -e "s|127.0.0.1:9180|127.0.0.1:$FHIRPAMD_PORT|" -e "s|127.0.0.1:8080|127.0.0.1:$STUB_PORT|" \
            "$(dirname "$0")/../../etc/caddy-fhirpam.Caddyfile" | grep -v '^#'
    } >"$WORK/Caddyfile"
    XDG_DATA_HOME=$WORK/xdg XDG_CONFIG_HOME=$WORK/xdg HOME=$WORK \
        caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
    CADDY_PID=$!
    for i in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$CADDY_PORT/" && break 2
        kill -0 "$CADDY_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$CADDY_PID" 2>/dev/null || true
    wait "$CADDY_PID" 2>/dev/null || true
    CADDY_PID=
done
[ -n "$CADDY_PID" ] || { echo "caddy did not start:"; cat "$WORK/caddy.log"; exit 1; }
echo "caddy on $CADDY_PORT, fhirpamd on $FHIRPAMD_PORT, stub on $STUB_PORT"

ALL="launch/patient patient/Patient.rs patient/Observation.rs"
T1=$(fp_token "$(fp_claims 123 "$ALL" jti-c1)")
A1=(-H "Authorization: Bearer $T1")
req "Patient/123, token for 123" 200 /fhir/r4/Patient/123 "${A1[@]}"
check "  body has the patient" grep -q '"id":"123"' "$WORK/body"
req "Patient/456, token for 123" 403 /fhir/r4/Patient/456 "${A1[@]}"
check "  X-Fhirpam-Code from fhirpamd" grep -qi '^x-fhirpam-code: patient_mismatch' "$WORK/headers"
never_upstream /Patient/456
req "no token" 401 /fhir/r4/Patient/123
check "  WWW-Authenticate from fhirpamd" grep -qi '^www-authenticate: Bearer' "$WORK/headers"
req "search for another patient" 403 "/fhir/r4/Observation?subject=Patient/456" "${A1[@]}"
never_upstream 'subject=Patient/456'
req "a client's own X-Original-URI is replaced" 403 /fhir/r4/Patient/456 "${A1[@]}" \
    -H "X-Original-URI: /fhir/r4/Patient/123" -H "X-Original-Method: GET"
req "a client's own X-Client-Cert is removed" 403 /fhir/r4/Patient/456 "${A1[@]}" -H "X-Client-Cert: x"
req "metadata, public stack" 200 /fhir/r4/metadata
req "Observation/o1 by id: cannot be resolved at a gateway" 403 /fhir/r4/Observation/o1 "${A1[@]}"
# forward_auth never passes the body (issue 26): a request whose meaning
# depends on one is refused, also when the client says it has none.
FORM=(-H "Content-Type: application/x-www-form-urlencoded")
req "POST _search, body patient=Patient/456" 403 "/fhir/r4/Observation/_search?patient=Patient/123" \
    "${A1[@]}" "${FORM[@]}" --data 'patient=Patient/456'
req "  the same with a client's own X-Original-Content-Length: 0" 403 \
    "/fhir/r4/Observation/_search?patient=Patient/123" "${A1[@]}" "${FORM[@]}" \
    -H "X-Original-Content-Length: 0" -H "X-Original-Transfer-Encoding;" --data 'patient=Patient/456'
never_upstream 'patient=Patient/456'
req "GET with a body" 403 "/fhir/r4/Observation?patient=Patient/123" "${A1[@]}" "${FORM[@]}" \
    -X GET --data 'patient=Patient/789'
never_upstream 'patient=Patient/789'
req "POST _search with an empty body is judged" 200 "/fhir/r4/Observation/_search?patient=Patient/123" \
    "${A1[@]}" -X POST -H "Content-Length: 0"
req "POST _search, chunked" 403 "/fhir/r4/Observation/_search?patient=Patient/123" "${A1[@]}" \
    "${FORM[@]}" -H "Transfer-Encoding: chunked" --data 'patient=Patient/457'
never_upstream 'patient=Patient/457'
kill "$FHIRPAMD_PID"
wait "$FHIRPAMD_PID" 2>/dev/null || true
FHIRPAMD_PID=
CHECKS=$((CHECKS + 1))
got=$(curl -s -o "$WORK/body" -w '%{http_code}' "${A1[@]}" "http://127.0.0.1:$CADDY_PORT/fhir/r4/Patient/123")
if [ "$got" != 200 ] && ! grep -q '"id":"123"' "$WORK/body"; then echo "ok: fhirpamd down: $got, no data"; else FAILED=$((FAILED + 1)); echo "FAIL: fhirpamd down: $got"; fi

echo "$((100 * (CHECKS - FAILED) / CHECKS))%: Checks: $CHECKS, Failures: $FAILED, Errors: 0"
[ "$FAILED" = 0 ]
