#!/usr/bin/env bash
# test_nginx.sh - fhirpamd behind a real nginx (issue 9): nginx serves a
# static FHIR data set behind auth_request; curl, with tokens minted here,
# checks the status AND the body of every answer: permits, scope denials,
# patient mismatches, expired and revoked tokens, URIs nginx and fhirpam
# could read differently, reloads under traffic, and fhirpamd being down.
#
# Run by meson (tests/meson.build) with FHIRPAMD, FHIRPAM_CLI and
# FHIRPAM_TEST_MODULES_DIR set. Exit 77 (skipped) without nginx, curl or
# openssl, except with CI=true, where that fails.
set -euo pipefail

: "${FHIRPAMD:?}" "${FHIRPAM_CLI:?}" "${FHIRPAM_TEST_MODULES_DIR:?}"
MODULES_DIR=$FHIRPAM_TEST_MODULES_DIR
. "$(dirname "$0")/lib.sh"
if ! fp_have_tools; then
    # ./dev test installs them; in CI a missing tool is a failure, not a skip.
    [ "${CI:-}" = true ] && { echo "nginx, curl or openssl not installed (CI)"; exit 1; }
    echo "nginx, curl or openssl not installed: skipped"
    exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpamd-nginx.XXXXXX")
cleanup() {
    local rc=$?
    fp_cleanup
    if [ "$rc" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT


# req NAME STATUS PATH [curl args...]: one request through nginx; the body in
# $WORK/body, the headers in $WORK/headers.
req() {
    local name=$1 want=$2 path=$3
    shift 3
    CHECKS=$((CHECKS + 1))
    : >"$WORK/body"
    local got
    got=$(curl -s --max-time 10 -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$NGINX_PORT$path") || got="curl-failed"
    if [ "$got" = "$want" ]; then ok "$name: $got"; else fail "$name: status $got, want $want ($(head -c 300 "$WORK/body"))"; fi
}
body_has() {
    CHECKS=$((CHECKS + 1))
    if grep -qF -- "$1" "$WORK/body"; then ok "  body has $1"; else fail "  body lacks $1: $(head -c 300 "$WORK/body")"; fi
}
body_lacks() {
    CHECKS=$((CHECKS + 1))
    if grep -qF -- "$1" "$WORK/body"; then fail "  body has $1 (data served?)"; else ok "  body lacks $1"; fi
}
header_has() { # NAME SUBSTRING
    CHECKS=$((CHECKS + 1))
    if grep -i "^$1:" "$WORK/headers" | grep -qF -- "$2"; then ok "  $1 has $2"; else fail "  header $1 lacks $2: $(grep -i "^$1:" "$WORK/headers" || echo none)"; fi
}
header_count() { # NAME N
    CHECKS=$((CHECKS + 1))
    local n
    n=$(grep -ci "^$1:" "$WORK/headers" || true)
    if [ "$n" = "$2" ]; then ok "  $n $1 header(s)"; else fail "  $n $1 headers, want $2"; fi
}
metric() { # NAME (with labels, exact) -> value
    curl -s --max-time 5 "http://127.0.0.1:$FHIRPAMD_PORT/metrics" |
        awk -v n="$1" '$1 == n { print $2 }'
}

fp_prepare
fp_tls
fp_config
fp_start_fhirpamd --threads 4
fp_start_nginx
echo "nginx on 127.0.0.1:$NGINX_PORT (TLS: $NGINX_PORT2), fhirpamd on 127.0.0.1:$FHIRPAMD_PORT, in $WORK"

ALL="launch/patient patient/Patient.rs patient/Observation.rs patient/Encounter.rs"
T1=$(fp_token "$(fp_claims 123 "$ALL" jti-t1)")
T456=$(fp_token "$(fp_claims 456 "$ALL" jti-t456)")
TSCOPE=$(fp_token "$(fp_claims 123 "launch/patient patient/Patient.rs" jti-scope)")
TEXP=$(fp_token "$(fp_claims 123 "$ALL" jti-exp -600 -1200)")
TREV=$(fp_token "$(fp_claims 123 "$ALL" jti-rev)")
A1=(-H "Authorization: Bearer $T1")

echo "== permits"
req "Patient/123, token for 123" 200 /fhir/r4/Patient/123 "${A1[@]}"
body_has '"id":"123"'
header_has X-Fhirpam-Decision "-"
req "Observation?subject=Patient/123, token for 123" 200 "/fhir/r4/Observation?subject=Patient/123" "${A1[@]}"
body_has '"id":"o1"'
body_has '"id":"o2"'
body_lacks '"id":"o3"'
req "Observation?subject=Patient/456, token for 456" 200 "/fhir/r4/Observation?subject=Patient/456" -H "Authorization: Bearer $T456"
body_has '"id":"o3"'
req "metadata, public stack, no token" 200 /fhir/r4/metadata
body_has CapabilityStatement

echo "== no token, bad token"
req "no token" 401 /fhir/r4/Patient/123
body_lacks '"id":"123"'
body_has OperationOutcome
header_has WWW-Authenticate Bearer
header_count WWW-Authenticate 1
req "tampered signature" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer ${T1%?????}AAAAA"
body_lacks '"id":"123"'
header_has WWW-Authenticate 'error="invalid_token"'

echo "== scope denial (scope_check)"
req "Observation search, token without patient/Observation.rs" 403 "/fhir/r4/Observation?subject=Patient/123" -H "Authorization: Bearer $TSCOPE"
body_lacks '"id":"o1"'
body_has insufficient_scope
header_has WWW-Authenticate 'error="insufficient_scope"'
req "Patient/123 with the same token" 200 /fhir/r4/Patient/123 -H "Authorization: Bearer $TSCOPE"
body_has '"id":"123"'

echo "== patient mismatch (patient_link)"
req "Patient/456, token for 123" 403 /fhir/r4/Patient/456 "${A1[@]}"
body_lacks '"id":"456"'
body_has patient_mismatch
req "Observation?subject=Patient/456, token for 123" 403 "/fhir/r4/Observation?subject=Patient/456" "${A1[@]}"
body_lacks '"id":"o3"'
body_has patient_mismatch
req "Observation search without subject" 403 "/fhir/r4/Observation" "${A1[@]}"
body_lacks '"resourceType":"Bundle"'
req "Observation/o3 by id (unresolved: denied)" 403 /fhir/r4/Observation/o3 "${A1[@]}"
body_lacks '"id":"o3"'

echo "== a permit with obligations cannot be enforced by a gateway: denied"
req "Encounter/e1 on the check_response stack" 403 /fhir/r4/Encounter/e1 "${A1[@]}"
body_has obligations_unenforceable

echo "== URIs nginx and fhirpam could read differently are refused"
req "Patient/123/../456 (nginx would serve 456)" 403 /fhir/r4/Patient/123/../456 --path-as-is "${A1[@]}"
body_lacks '"id":"456"'
body_has uri_refused
req "Patient/123/%2e%2e/456" 403 /fhir/r4/Patient/123/%2e%2e/456 --path-as-is "${A1[@]}"
body_lacks '"id":"456"'
req "double slash" 403 /fhir/r4//Patient/456 --path-as-is "${A1[@]}"
body_lacks '"id":"456"'

echo "== expired token (core + expiry)"
req "token expired 10 minutes ago" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TEXP"
body_lacks '"id":"123"'
body_has expired
header_has WWW-Authenticate 'error="invalid_token"'

echo "== revoked token (revocation module + deny list)"
req "before revocation" 200 /fhir/r4/Patient/123 -H "Authorization: Bearer $TREV"
body_has '"id":"123"'
"$FHIRPAM_CLI" revoke --denylist "$WORK/revoked" jti --iss "$ISS" --jti jti-rev \
    --exp $(($(date +%s) + 1800)) >/dev/null
# The module re-reads the list every 10 ms: wait for it, then check.
for i in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TREV" \
        "http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/123")
    [ "$code" = 401 ] && break
    [ "$code" = 200 ] || break
    sleep 0.05
done
req "after revocation" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TREV"
body_lacks '"id":"123"'
body_has revoked
req "another token of the same user still works" 200 /fhir/r4/Patient/123 "${A1[@]}"

echo "== certificate-bound token over TLS (\$ssl_client_escaped_cert) and device posture"
# Patient/789 is routed to the `bound` stack: fhir, then device_trust with
# bind = mtls, require_binding and posture managed=true. The posture comes
# from the X-Device-Managed header nginx sets (here: from the certificate).
now=$(date +%s)
bound_token() { # CERT -> a token for patient 789 bound to CERT
    fp_token "{\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"sub\":\"user-7\",\"client_id\":\"app-7\",\"patient\":\"789\",\"scope\":\"$ALL\",\"jti\":\"jti-$RANDOM$RANDOM\",\"exp\":$((now + 1800)),\"iat\":$now,\"cnf\":{\"x5t#S256\":\"$(fp_x5t "$1")\"}}"
}
TB=$(bound_token "$WORK/tls/managed-device.crt")
TU=$(bound_token "$WORK/tls/unmanaged-device.crt")
TLSURL=https://127.0.0.1:$NGINX_PORT2
tls_req() { # NAME STATUS PATH CERT|- [curl args]
    local name=$1 want=$2 path=$3 cert=$4
    shift 4
    local c=()
    [ "$cert" = - ] || c=(--cert "$WORK/tls/$cert.crt" --key "$WORK/tls/$cert.key")
    CHECKS=$((CHECKS + 1))
    : >"$WORK/body"
    got=$(curl -s --max-time 10 --cacert "$WORK/tls/ca.crt" "${c[@]}" -D "$WORK/headers" \
        -o "$WORK/body" -w '%{http_code}' "$@" "$TLSURL$path") || got=curl-failed
    if [ "$got" = "$want" ]; then ok "$name: $got"; else fail "$name: status $got, want $want ($(head -c 300 "$WORK/body"))"; fi
}
tls_req "bound token with its certificate, managed device" 200 /fhir/r4/Patient/789 managed-device -H "Authorization: Bearer $TB"
body_has '"id":"789"'
tls_req "bound token without a client certificate" 401 /fhir/r4/Patient/789 - -H "Authorization: Bearer $TB"
body_lacks '"id":"789"'
body_has untrusted_device
tls_req "bound token with another certificate" 401 /fhir/r4/Patient/789 other-device -H "Authorization: Bearer $TB"
body_lacks '"id":"789"'
tls_req "bound token with its certificate, unmanaged device" 401 /fhir/r4/Patient/789 unmanaged-device -H "Authorization: Bearer $TU"
body_lacks '"id":"789"'
ESCAPED=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$WORK/tls/managed-device.crt")
tls_req "a client sending X-Client-Cert and X-Device-Managed itself" 401 /fhir/r4/Patient/789 - \
    -H "Authorization: Bearer $TB" -H "X-Client-Cert: $ESCAPED" -H "X-Device-Managed: true"
body_lacks '"id":"789"'
req "the same over plain HTTP" 401 /fhir/r4/Patient/789 -H "Authorization: Bearer $TB" \
    -H "X-Client-Cert: $ESCAPED" -H "X-Device-Managed: true"
body_lacks '"id":"789"'
tls_req "an unbound token on the bound location" 401 /fhir/r4/Patient/789 managed-device -H "Authorization: Bearer $(fp_token "$(fp_claims 789 "$ALL" jti-unbound)")"
body_lacks '"id":"789"'

echo "== DPoP-bound token with server nonces: DPoP-Nonce reaches the client"
# Patient/321 is routed to the `dpop` stack (device_trust: bind = dpop,
# use_dpop_nonce). The proofs name the public URL (public_base), not nginx's.
"$FHIRPAM_CLI" token keygen --alg ES256 --kid device --private-key-out "$WORK/dpop.pem" \
    --jwks-out "$WORK/dpop.jwks" >/dev/null
JKT=$("$FHIRPAM_CLI" token jkt --key "$WORK/dpop.pem")
TD=$(fp_token "{\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"sub\":\"user-3\",\"client_id\":\"app-3\",\"patient\":\"321\",\"scope\":\"$ALL\",\"jti\":\"jti-dpop\",\"exp\":$((now + 1800)),\"iat\":$now,\"cnf\":{\"jkt\":\"$JKT\"}}")
proof() { "$FHIRPAM_CLI" token dpop --key "$WORK/dpop.pem" --htm GET --htu "$AUD/Patient/321" --token "$TD" "$@"; }
req "DPoP proof without a nonce" 401 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $(proof)"
body_lacks '"id":"321"'
header_has WWW-Authenticate 'error="use_dpop_nonce"'
header_count DPoP-Nonce 1
NONCE=$(awk -F': ' 'tolower($1) == "dpop-nonce" { sub(/\r$/, "", $2); print $2 }' "$WORK/headers")
P2=$(proof --nonce "$NONCE")
req "DPoP proof with the server's nonce" 200 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $P2"
body_has '"id":"321"'
req "the same proof replayed" 401 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $P2"
body_lacks '"id":"321"'
req "the DPoP token as a Bearer token" 401 /fhir/r4/Patient/321 -H "Authorization: Bearer $TD"
body_lacks '"id":"321"'

echo "== bound tokens on a stack that cannot verify them: refused by the core (issue 22)"
# Patient/123 goes to the \`fhir\` stack (expiry, revocation, scope_check,
# patient_link: no device_trust). Every token here is valid for patient 123;
# only its binding, or the scheme, makes it one no module on the path verified.
bound123() { # CNF_JSON -> a token for patient 123 with that cnf
    fp_token "{\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"sub\":\"user-1\",\"client_id\":\"app-1\",\"patient\":\"123\",\"scope\":\"$ALL\",\"jti\":\"jti-$RANDOM$RANDOM\",\"exp\":$((now + 1800)),\"iat\":$now,\"cnf\":$1}"
}
TJ=$(bound123 "{\"jkt\":\"$JKT\"}")
TX=$(bound123 "{\"x5t#S256\":\"$(fp_x5t "$WORK/tls/managed-device.crt")\"}")
TK=$(bound123 '{"kc-binding":"abc"}')
unverified() { # CHALLENGE: the checks every refusal of the rule gets
    body_lacks '"id":"123"'
    body_has "untrusted_device: unverified_binding"
    header_has WWW-Authenticate "$1"
    header_count WWW-Authenticate 1
}
req "cnf.jkt sent as Bearer" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TJ"
unverified 'DPoP error="invalid_token"'
req "cnf.jkt with the DPoP scheme and no DPoP header" 401 /fhir/r4/Patient/123 -H "Authorization: DPoP $TJ"
unverified 'DPoP error="invalid_token"'
req "cnf.jkt with a valid proof, and nothing on the stack to check it" 401 /fhir/r4/Patient/123 \
    -H "Authorization: DPoP $TJ" \
    -H "DPoP: $("$FHIRPAM_CLI" token dpop --key "$WORK/dpop.pem" --htm GET --htu "$AUD/Patient/123" --token "$TJ")"
unverified 'DPoP error="invalid_token"'
req "cnf.x5t#S256 sent as Bearer, no client certificate" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TX"
unverified 'Bearer error="invalid_token"'
tls_req "cnf.x5t#S256 with its certificate, and nothing on the stack to check it" 401 /fhir/r4/Patient/123 \
    managed-device -H "Authorization: Bearer $TX"
unverified 'Bearer error="invalid_token"'
req "cnf with only an unknown member" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TK"
unverified 'Bearer error="invalid_token"'
req "no cnf, the DPoP scheme, no proof" 401 /fhir/r4/Patient/123 -H "Authorization: DPoP $T1"
unverified 'DPoP error="invalid_token"'
req "the same token as Bearer, as before" 200 /fhir/r4/Patient/123 "${A1[@]}"
body_has '"id":"123"'
# Through the substack of \`bound\` and \`dpop\`, where device_trust verifies:
# permitted above (certificate with nginx's TLS, DPoP proof with a nonce).
CHECKS=$((CHECKS + 1))
grep -q "warning: stack fhir: bound tokens will be denied" "$WORK/fhirpamd.log" &&
    ! grep -q "warning: stack bound:" "$WORK/fhirpamd.log" &&
    ok "fhirpamd warned at start of stack fhir, which cannot verify bindings, not of bound" ||
    fail "fhirpamd's start-up warnings: $(grep warning "$WORK/fhirpamd.log" || echo none)"

echo "== fhirpamd directly: Envoy ext_authz, untrusted peers, health, metrics"
F=http://127.0.0.1:$FHIRPAMD_PORT
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' "${A1[@]}" "$F/ext_authz/fhir/r4/Patient/123")
[ "$got" = 200 ] && ok "envoy: permit" || fail "envoy permit: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' "${A1[@]}" "$F/ext_authz/fhir/r4/Patient/456")
[ "$got" = 403 ] && ok "envoy: patient mismatch" || fail "envoy mismatch: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' "$F/auth" -H "X-Original-URI: /fhir/r4/Patient/123" "${A1[@]}")
[ "$got" = 500 ] && ok "nginx endpoint without X-Original-Method: 500" || fail "missing header: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' "$F/auth" -H "X-Original-Method: GET" \
    -H "X-Original-URI: /fhir/r4/Patient/123" -H "X-Original-URI: /fhir/r4/metadata" "${A1[@]}")
[ "$got" = 500 ] && ok "repeated X-Original-URI: 500" || fail "repeated header: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' "$F/auth" -H "X-Original-Method: GET" \
    -H "X-Original-URI: /other/Patient/123" "${A1[@]}")
[ "$got" = 403 ] && ok "URI outside the base: 403" || fail "outside base: $got"
# An untrusted peer is closed at accept (issue 26): no answer at all, and
# the refusal is in the audit trail.
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$F/auth" -H "X-Original-Method: GET" \
    -H "X-Original-URI: /fhir/r4/Patient/123" "${A1[@]}" || true)
[ "$got" = 000 ] && ok "untrusted peer 127.0.0.2: closed at accept" || fail "untrusted peer: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$F/metrics" || true)
[ "$got" = 000 ] && ok "metrics to an untrusted peer: closed at accept" || fail "untrusted metrics: $got"
CHECKS=$((CHECKS + 1))
grep '"reason":"untrusted_peer"' "$WORK/decisions.jsonl" | grep -q '127.0.0.2' &&
    ok "the untrusted peer's refusal is audited, with its address" ||
    fail "no audit record of the untrusted peer"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TB" -H "X-Client-Cert: $ESCAPED" \
    -H "X-Device-Managed: true" "$F/ext_authz/fhir/r4/Patient/789")
[ "$got" = 200 ] && ok "envoy: bound token, escaped PEM from a trusted peer" || fail "envoy escaped PEM: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TB" \
    -H "X-Client-Cert: By=spiffe://test/fhir;Hash=00;Cert=\"$ESCAPED\";Subject=\"CN=managed-device\"" \
    -H "X-Device-Managed: true" "$F/ext_authz/fhir/r4/Patient/789")
[ "$got" = 200 ] && ok "envoy: bound token, x-forwarded-client-cert format" || fail "envoy XFCC: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TB" -H "X-Client-Cert: $ESCAPED" \
    -H "X-Device-Managed: true" -H "X-Device-Managed: true" "$F/ext_authz/fhir/r4/Patient/789")
[ "$got" = 400 ] && ok "envoy: repeated device header refused (400)" || fail "repeated device header: $got"
CHECKS=$((CHECKS + 1))
got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TB" -H "X-Client-Cert: garbage%" \
    -H "X-Device-Managed: true" "$F/ext_authz/fhir/r4/Patient/789")
[ "$got" = 400 ] && ok "envoy: malformed certificate header refused (400)" || fail "bad cert header: $got"
CHECKS=$((CHECKS + 1))
[ "$(curl -s "$F/healthz")" = ok ] && ok "healthz" || fail "healthz"
CHECKS=$((CHECKS + 1))
v=$(metric 'fhirpamd_decisions_total{stack="fhir",code="patient_mismatch",module="patient_link"}')
[ "${v:-0}" -ge 4 ] && ok "metrics: $v patient_mismatch decisions" || fail "metrics patient_mismatch: '$v'"
CHECKS=$((CHECKS + 1))
v=$(metric 'fhirpamd_refusals_total{reason="untrusted_peer"}')
[ "${v:-0}" -ge 1 ] && ok "metrics: untrusted_peer refusals $v" || fail "metrics untrusted: '$v'"
CHECKS=$((CHECKS + 1))
v=$(metric fhirpamd_token_cache_hits_total)
[ "${v:-0}" -ge 1 ] && ok "metrics: token cache hits $v" || fail "metrics cache hits: '$v'"
CHECKS=$((CHECKS + 1))
v=$(metric fhirpamd_decision_seconds_count)
[ "${v:-0}" -ge 20 ] && ok "metrics: latency histogram count $v" || fail "histogram: '$v'"

echo "== reload under traffic (SIGHUP while requests flow)"
# Clients with keep-alive, each sending batches of 40 requests: permits must
# be 200 with the exact file, denials 403, across every reload.
rm -f "$WORK/stop"
PATIENT_123_SIZE=$(stat -c %s "$WORK/data/fhir/r4/Patient/123")
traffic() { # KIND OUT
    local kind=$1 out=$2 url urls=()
    if [ "$kind" = permit ]; then url=/fhir/r4/Patient/123; else url=/fhir/r4/Patient/456; fi
    for i in $(seq 1 40); do urls+=(-o /dev/null "http://127.0.0.1:$NGINX_PORT$url"); done
    while [ ! -e "$WORK/stop" ]; do
        curl -s --max-time 20 -H "Authorization: Bearer $T1" \
            -w '%{http_code} %{size_download}\n' "${urls[@]}" >>"$out" || echo "curl-failed 0" >>"$out"
    done
}
traffic permit "$WORK/t.permit.1" &
TP1=$!
traffic permit "$WORK/t.permit.2" &
TP2=$!
traffic deny "$WORK/t.deny.1" &
TD1=$!
sleep 0.3
reloads=0
for round in 1 2 3 4 5 6 7 8; do
    if [ "$round" = 4 ]; then
        echo "this is not a configuration {" >"$WORK/fhirpam.conf.new"
        mv -f "$WORK/fhirpam.conf.new" "$WORK/fhirpam.conf"
    else
        fp_config
    fi
    kill -HUP "$FHIRPAMD_PID"
    reloads=$((reloads + 1))
    if [ "$round" = 4 ]; then
        # Signals coalesce: wait until the broken file was read and refused
        # before putting a good one back.
        for i in $(seq 1 200); do
            [ "$(metric fhirpamd_reload_failures_total)" = 1 ] && break
            sleep 0.05
        done
    fi
    sleep 0.15
done
fp_config
touch "$WORK/stop"
wait "$TP1" "$TP2" "$TD1"
permits=$(cat "$WORK"/t.permit.* | wc -l)
bad_permits=$(cat "$WORK"/t.permit.* | awk -v s="$PATIENT_123_SIZE" '!($1 == 200 && $2 == s)' | wc -l)
denies=$(wc -l <"$WORK/t.deny.1")
bad_denies=$(awk '$1 != 403' "$WORK/t.deny.1" | wc -l)
leaks=$(awk '$1 == 200' "$WORK/t.deny.1" | wc -l)
CHECKS=$((CHECKS + 1))
[ "$permits" -ge 80 ] && [ "$bad_permits" = 0 ] && ok "$permits permitted requests during $reloads reloads: all 200 with the file" ||
    fail "permits during reloads: $bad_permits of $permits wrong: $(cat "$WORK"/t.permit.* | sort | uniq -c | tr '\n' ' ')"
CHECKS=$((CHECKS + 1))
[ "$denies" -ge 40 ] && [ "$bad_denies" = 0 ] && ok "$denies denied requests during reloads: all 403" ||
    fail "denials during reloads: $bad_denies of $denies wrong ($leaks were 200): $(sort "$WORK/t.deny.1" | uniq -c | tr '\n' ' ')"
# Several HUPs may have coalesced into one reload; the broken one was waited
# for above.
CHECKS=$((CHECKS + 1))
v=$(metric fhirpamd_reload_failures_total)
[ "$v" = 1 ] && ok "the broken configuration was refused once, the old one kept serving" ||
    fail "reload failures: '$v', want 1"
CHECKS=$((CHECKS + 1))
v=$(metric fhirpamd_reloads_total)
[ "${v:-0}" -ge 2 ] && ok "reloads counted: $v" || fail "reloads_total: '$v'"
CHECKS=$((CHECKS + 1))
grep -q "reload refused" "$WORK/fhirpamd.log" && ok "the refused reload is logged" || fail "no log of the refused reload"

echo "== a reload changes the policy; another one restores it"
fp_config ',
    { control = "required"; module = "debug"; args = { result = "consent_denied"; }; }'
before=$(metric fhirpamd_reloads_total)
kill -HUP "$FHIRPAMD_PID"
for i in $(seq 1 100); do
    [ "$(metric fhirpamd_reloads_total)" != "$before" ] && break
    sleep 0.05
done
req "Patient/123 after a reload to a denying stack" 403 /fhir/r4/Patient/123 "${A1[@]}"
body_lacks '"id":"123"'
body_has consent_denied
fp_config
before=$(metric fhirpamd_reloads_total)
kill -HUP "$FHIRPAMD_PID"
for i in $(seq 1 100); do
    [ "$(metric fhirpamd_reloads_total)" != "$before" ] && break
    sleep 0.05
done
req "Patient/123 after the reload back" 200 /fhir/r4/Patient/123 "${A1[@]}"
body_has '"id":"123"'

echo "== fhirpamd down: nginx answers 500, never the data"
fp_stop "$FHIRPAMD_PID" TERM
rc=$STOP_RC
FHIRPAMD_PID=
CHECKS=$((CHECKS + 1))
[ "$rc" = 0 ] && ok "fhirpamd drained and exited 0 on SIGTERM" || fail "fhirpamd exit status $rc after SIGTERM"
req "Patient/123 with fhirpamd down" 500 /fhir/r4/Patient/123 "${A1[@]}"
body_lacks '"id":"123"'
req "Observation search with fhirpamd down" 500 "/fhir/r4/Observation?subject=Patient/123" "${A1[@]}"
body_lacks '"id":"o1"'
req "metadata with fhirpamd down" 500 /fhir/r4/metadata
body_lacks CapabilityStatement

CHECKS=$((CHECKS + 1))
grep -q '"decision":"deny"' "$WORK/decisions.jsonl" && grep -q '"decision":"permit"' "$WORK/decisions.jsonl" &&
    ok "the core's audit sink recorded the decisions" || fail "audit records missing"
CHECKS=$((CHECKS + 1))
if grep -E "ERROR|Sanitizer|runtime error" "$WORK/fhirpamd.log"; then fail "fhirpamd log has errors"; else ok "fhirpamd log clean"; fi

echo "$((100 * (CHECKS - FAILED) / CHECKS))%: Checks: $CHECKS, Failures: $FAILED, Errors: 0"
[ "$FAILED" = 0 ]
