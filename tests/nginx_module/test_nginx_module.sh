#!/usr/bin/env bash
# test_nginx_module.sh - ngx_http_fhirpam_module in a real nginx (issue 18),
# in front of fhir_stub.py (a FHIR REST stand-in that logs what reaches it).
# curl, with tokens minted here, checks status, headers and body of every
# answer, and the stub's log shows what the FHIR server received: every
# bundled module through the module, bodies (bundles, creates, _search
# forms, temp files, limits, malformed), response checks (another patient's
# read by id, consent redaction of a search), writes by id judged on the
# stored resource, mTLS from nginx's own TLS connection, DPoP with nonces
# and a replay, nginx -t on bad configurations, and reloads under wrk.
#
# Run by meson with NGINX_MODULE, FHIRPAM_CLI and FHIRPAM_TEST_MODULES_DIR.
# Exit 77 (skipped) without nginx, curl, openssl or wrk, except with CI=true.
set -euo pipefail

: "${NGINX_MODULE:?}" "${FHIRPAM_CLI:?}" "${FHIRPAM_TEST_MODULES_DIR:?}"
MODULES_DIR=$FHIRPAM_TEST_MODULES_DIR
. "$(dirname "$0")/lib.sh"
if ! fp_have_tools || ! command -v wrk >/dev/null || ! command -v python3 >/dev/null; then
    [ "${CI:-}" = true ] && { echo "nginx, curl, openssl, wrk or python3 missing (CI)"; exit 1; }
    echo "nginx, curl, openssl, wrk or python3 not installed: skipped"
    exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpam-ngx.XXXXXX")
cleanup() {
    local rc=$?
    nm_cleanup
    if [ "$rc" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

CHECKS=0
FAILED=0
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL: $*"
}
ok() { echo "ok: $*"; }
check() { # NAME COMMAND...: one check, passing when the command succeeds
    local name=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then ok "$name"; else fail "$name"; fi
}
# req NAME STATUS PATH [curl args...]
req() {
    local name=$1 want=$2 path=$3 got
    shift 3
    CHECKS=$((CHECKS + 1))
    : >"$WORK/body"
    got=$(curl -s --max-time 10 -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}' "$@" \
        "${BASEURL:-http://127.0.0.1:$NGINX_PORT}$path") || got=curl-failed
    if [ "$got" = "$want" ]; then ok "$name: $got"; else fail "$name: status $got, want $want ($(head -c 300 "$WORK/body"))"; fi
}
body_has() { check "  body has $1" grep -qF -- "$1" "$WORK/body"; }
body_lacks() { check "  body lacks $1" bash -c '! grep -qF -- "$1" "$2"' _ "$1" "$WORK/body"; }
header_has() { check "  $1 has $2" bash -c 'grep -i "^$1:" "$3" | grep -qF -- "$2"' _ "$1" "$2" "$WORK/headers"; }
# upstream_saw METHOD PATH_SUBSTRING: the FHIR server received such a request
upstream_count() { python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["method"] == sys.argv[2] and sys.argv[3] in r["path"] and sys.argv[4] in r["body"]:
        n += 1
print(n)' "$WORK/upstream.jsonl" "$1" "$2" "${3:-}"; }
upstream_saw() { check "  the FHIR server received $1 $2 ${3:-}" test "$(upstream_count "$@")" -gt 0; }
upstream_never() { check "  the FHIR server never received $1 $2 ${3:-}" test "$(upstream_count "$@")" = 0; }

nm_prepare
fp_tls
nm_config
nm_start_stub
: >"$WORK/upstream.jsonl"
nm_start_nginx
echo "nginx on 127.0.0.1:$NGINX_PORT (TLS $NGINX_TLS_PORT), stub on $STUB_PORT, in $WORK"

ALL="launch/patient patient/Patient.rs patient/Observation.cruds patient/Encounter.rs"
T1=$(fp_token "$(fp_claims 123 "$ALL" jti-t1)")
T456=$(fp_token "$(fp_claims 456 "$ALL" jti-t456)")
TSCOPE=$(fp_token "$(fp_claims 123 "launch/patient patient/Patient.rs" jti-scope)")
TEXP=$(fp_token "$(fp_claims 123 "$ALL" jti-exp -600 -1200)")
TREV=$(fp_token "$(fp_claims 123 "$ALL" jti-rev)")
A1=(-H "Authorization: Bearer $T1")
JSON=(-H "Content-Type: application/fhir+json")

echo "== reads, searches and the variables"
req "Patient/123, token for 123" 200 /fhir/r4/Patient/123 "${A1[@]}"
body_has '"id":"123"'
header_has X-Fhirpam-Decision "-"
req "metadata, public stack, no token" 200 /fhir/r4/metadata
body_has CapabilityStatement
req "Patient/456, token for 123" 403 /fhir/r4/Patient/456 "${A1[@]}"
body_lacks Other
body_has OperationOutcome
body_has patient_mismatch
upstream_never GET /Patient/456
check "access log: \$fhirpam_code, \$fhirpam_module, \$fhirpam_reason" \
    grep -q '403 GET /fhir/r4/Patient/456 id=.*-.* code=patient_mismatch module=patient_link reason=' "$WORK/nginx/access.log"

echo "== a read by id is checked on the upstream's answer"
req "Observation/o1 (patient 123's), token for 123" 200 /fhir/r4/Observation/o1 "${A1[@]}"
body_has '"value":1.50'
req "Observation/o3 (patient 456's), token for 123" 403 /fhir/r4/Observation/o3 "${A1[@]}"
body_lacks PATIENT-456-SECRET
body_has response_refused
upstream_saw GET /Observation/o3
check "  nothing of the upstream's headers (ETag) in the refusal" bash -c '! grep -qi "^etag:" "$1"' _ "$WORK/headers"
req "Observation/o2 (HIV code, consent redacts it), token for 123" 403 /fhir/r4/Observation/o2 "${A1[@]}"
body_lacks HIV-SECRET
req "Observation/missing: a 404 cannot be checked, refused" 403 /fhir/r4/Observation/nothere "${A1[@]}"
body_has response_unchecked
req "HEAD of a read by id: no body to check" 403 /fhir/r4/Observation/o1 -I "${A1[@]}"
req "fhirpam_check_response off: obligations refused" 403 /nocheck/r4/Observation/o1 "${A1[@]}"
body_has obligations_unenforceable
req "fhirpam_max_response: a larger answer refused" 403 /small/r4/Observation/o1 "${A1[@]}"
body_has response_too_large

echo "== consent redaction of a search bundle"
req "Observation?subject=Patient/123" 200 "/fhir/r4/Observation?subject=Patient/123" "${A1[@]}"
body_has '"id":"o1"'
body_has '"id":"o4"'
body_has '"value":1.50'
body_has '"value":70.25'
body_lacks HIV-SECRET
body_lacks '"total"'
check "  the edited bundle is JSON with 2 entries and a Content-Length to match" python3 -c '
import json, sys
b = open(sys.argv[1], "rb").read()
d = json.loads(b)
h = open(sys.argv[2]).read().lower()
assert len(d["entry"]) == 2, d
assert ("content-length: %d" % len(b)) in h, h
' "$WORK/body" "$WORK/headers"
req "Observation?subject=Patient/456, token for 123" 403 "/fhir/r4/Observation?subject=Patient/456" "${A1[@]}"
body_lacks PATIENT-456-SECRET

echo "== tokens: none, tampered, expired, scope, revoked"
req "no token" 401 /fhir/r4/Patient/123
header_has WWW-Authenticate Bearer
body_has OperationOutcome
req "tampered signature" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer ${T1%?????}AAAAA"
header_has WWW-Authenticate 'error="invalid_token"'
req "expired token" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TEXP"
body_has expired
req "Observation search without patient/Observation scope" 403 "/fhir/r4/Observation?subject=Patient/123" -H "Authorization: Bearer $TSCOPE"
header_has WWW-Authenticate 'error="insufficient_scope"'
body_lacks '"id":"o1"'
req "before revocation" 200 /fhir/r4/Patient/123 -H "Authorization: Bearer $TREV"
"$FHIRPAM_CLI" revoke --denylist "$WORK/revoked" jti --iss "$ISS" --jti jti-rev \
    --exp $(($(date +%s) + 1800)) >/dev/null
# Every worker's watcher re-reads the list within 10 ms: ask until each of
# several fresh connections (any worker) refuses.
for i in $(seq 1 100); do
    n=0
    for k in 1 2 3 4 5 6; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TREV" \
            "http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/123")" = 401 ] && n=$((n + 1))
    done
    [ "$n" = 6 ] && break
    sleep 0.05
done
for k in 1 2 3 4; do
    req "after revocation ($k)" 401 /fhir/r4/Patient/123 -H "Authorization: Bearer $TREV"
done
body_has revoked

echo "== bodies: bundles, creates, _search forms"
entry() { printf '{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"}}}' "$1"; }
BUNDLE_OK="{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[$(entry 123),$(entry 123)]}"
BUNDLE_BAD="{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[$(entry 123),$(entry 456)]}"
req "transaction bundle, every entry patient 123's" 200 /fhir/r4/ "${A1[@]}" "${JSON[@]}" -d "$BUNDLE_OK"
body_has transaction-response
upstream_saw POST /fhir/r4/ '"type":"transaction"'
req "transaction bundle with an entry for patient 456" 403 /fhir/r4/ "${A1[@]}" "${JSON[@]}" -d "$BUNDLE_BAD"
body_has patient_mismatch
upstream_never POST /fhir/r4/ 'Patient/456'
req "a malformed bundle" 400 /fhir/r4/ "${A1[@]}" "${JSON[@]}" -d '{"resourceType":"Bundle","type":"transaction","entry":[}'
body_has invalid_request
upstream_never POST /fhir/r4/ '"entry":[}'
OBS() { printf '{"resourceType":"Observation","status":"final","code":{"text":"%s"},"subject":{"reference":"Patient/%s"}}' "$2" "$1"; }
req "create for patient 123" 201 /fhir/r4/Observation "${A1[@]}" "${JSON[@]}" -d "$(OBS 123 created-123)"
upstream_saw POST /fhir/r4/Observation created-123
req "create for patient 456" 403 /fhir/r4/Observation "${A1[@]}" "${JSON[@]}" -d "$(OBS 456 created-456)"
upstream_never POST /fhir/r4/Observation created-456
PAD=$(head -c 3000 /dev/zero | tr '\0' x)
req "create for 456, 3 kB (nginx keeps it in a temp file)" 403 /fhir/r4/Observation "${A1[@]}" "${JSON[@]}" -d "$(OBS 456 "big-$PAD")"
upstream_never POST /fhir/r4/Observation "big-"
req "create for 123, 3 kB from the temp file, chunked" 201 /fhir/r4/Observation "${A1[@]}" "${JSON[@]}" -H "Transfer-Encoding: chunked" -d "$(OBS 123 "big-$PAD")"
upstream_saw POST /fhir/r4/Observation "big-xxx"
req "a 3 kB body over fhirpam_max_body 2k" 413 /small/r4/Observation "${A1[@]}" "${JSON[@]}" -d "$(OBS 123 "big-$PAD")"
body_has body_too_large
req "... chunked (no Content-Length)" 413 /small/r4/Observation "${A1[@]}" "${JSON[@]}" -H "Transfer-Encoding: chunked" -d "$(OBS 123 "big-$PAD")"
req "a body on GET is refused" 400 /fhir/r4/Patient/123 "${A1[@]}" -X GET -d 'patient=Patient/456'
body_has unexpected_body
FORM=(-H "Content-Type: application/x-www-form-urlencoded")
req "POST _search, form patient=Patient/123" 200 /fhir/r4/Observation/_search "${A1[@]}" "${FORM[@]}" -d 'subject=Patient/123'
body_lacks HIV-SECRET
req "POST _search, form subject=Patient/456" 403 /fhir/r4/Observation/_search "${A1[@]}" "${FORM[@]}" -d 'subject=Patient/456'
upstream_never POST /Observation/_search 'Patient/456'
# patient_link cannot know what a _revinclude pulls in: with unresolved =
# "check_response" the answer is checked entry by entry.
req "POST _search, form _revinclude: permitted, the answer checked" 200 "/fhir/r4/Observation/_search?subject=Patient/123" "${A1[@]}" "${FORM[@]}" -d '_revinclude=Observation:derived-from'
upstream_saw POST /Observation/_search '_revinclude'
body_lacks HIV-SECRET

echo "== writes by id, judged on the stored resource"
req "PUT Observation/o4 (patient 123's)" 200 /fhir/r4/Observation/o4 "${A1[@]}" "${JSON[@]}" -X PUT \
    -d '{"resourceType":"Observation","id":"o4","status":"amended","code":{"text":"w"},"subject":{"reference":"Patient/123"}}'
upstream_saw PUT /Observation/o4 amended
req "PUT Observation/o3 (patient 456's), body claiming 123" 403 /fhir/r4/Observation/o3 "${A1[@]}" "${JSON[@]}" -X PUT \
    -d '{"resourceType":"Observation","id":"o3","status":"amended","code":{"text":"w"},"subject":{"reference":"Patient/123"}}'
upstream_never PUT /Observation/o3
upstream_saw GET /Observation/o3
req "DELETE Observation/o3 (patient 456's)" 403 /fhir/r4/Observation/o3 "${A1[@]}" -X DELETE
upstream_never DELETE /Observation/o3
req "DELETE Observation/nothere" 403 /fhir/r4/Observation/nothere "${A1[@]}" -X DELETE
body_has current_resource_missing
req "DELETE Observation/o4 (patient 123's)" 204 /fhir/r4/Observation/o4 "${A1[@]}" -X DELETE
upstream_saw DELETE /Observation/o4

echo "== URIs nginx and fhirpam could read differently"
req "Patient/123/../456" 400 /fhir/r4/Patient/123/../456 --path-as-is "${A1[@]}"
body_has uri_refused
req "%2e%2e" 400 /fhir/r4/Patient/123/%2e%2e/456 --path-as-is "${A1[@]}"
req "double slash" 400 /fhir/r4//Patient/456 --path-as-is "${A1[@]}"
upstream_never GET /Patient/456

echo "== certificate-bound token: nginx's own TLS connection"
now=$(date +%s)
bound_token() {
    fp_token "{\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"sub\":\"user-7\",\"client_id\":\"app-7\",\"patient\":\"789\",\"scope\":\"$ALL\",\"jti\":\"jti-$RANDOM$RANDOM\",\"exp\":$((now + 1800)),\"iat\":$now,\"cnf\":{\"x5t#S256\":\"$(fp_x5t "$1")\"}}"
}
TB=$(bound_token "$WORK/tls/managed-device.crt")
TU=$(bound_token "$WORK/tls/unmanaged-device.crt")
tls() { # CERT|- then curl args
    local cert=$1
    shift
    [ "$cert" = - ] || printf '%s\n' --cert "$WORK/tls/$cert.crt" --key "$WORK/tls/$cert.key"
}
BASEURL=https://127.0.0.1:$NGINX_TLS_PORT
CA=(--cacert "$WORK/tls/ca.crt")
req "bound token with its certificate, managed device" 200 /fhir/r4/Patient/789 "${CA[@]}" \
    --cert "$WORK/tls/managed-device.crt" --key "$WORK/tls/managed-device.key" -H "Authorization: Bearer $TB"
body_has '"id":"789"'
req "bound token without a certificate" 401 /fhir/r4/Patient/789 "${CA[@]}" -H "Authorization: Bearer $TB"
body_has untrusted_device
req "bound token with another certificate" 401 /fhir/r4/Patient/789 "${CA[@]}" \
    --cert "$WORK/tls/other-device.crt" --key "$WORK/tls/other-device.key" -H "Authorization: Bearer $TB"
req "bound token, its certificate, unmanaged device" 401 /fhir/r4/Patient/789 "${CA[@]}" \
    --cert "$WORK/tls/unmanaged-device.crt" --key "$WORK/tls/unmanaged-device.key" -H "Authorization: Bearer $TU"
ESCAPED=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$WORK/tls/managed-device.crt")
req "a client sending the certificate in headers" 401 /fhir/r4/Patient/789 "${CA[@]}" -H "Authorization: Bearer $TB" \
    -H "X-Client-Cert: $ESCAPED" -H "X-SSL-Client-Cert: $ESCAPED" -H "X-Device-Managed: true"
body_lacks '"id":"789"'
# A self-signed certificate with the same name: nginx (ssl_verify_client
# optional) refuses it before the module runs; the data is never served.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=managed-device \
    -keyout "$WORK/tls/self.key" -out "$WORK/tls/self.crt" 2>/dev/null
TS=$(bound_token "$WORK/tls/self.crt")
req "bound to an unverified (self-signed) certificate" 400 /fhir/r4/Patient/789 "${CA[@]}" \
    --cert "$WORK/tls/self.crt" --key "$WORK/tls/self.key" -H "Authorization: Bearer $TS"
body_lacks '"id":"789"'
unset BASEURL

echo "== nginx -t refuses what fhirpam refuses, with file and line"
ntest() { "$NGINX_BIN" -t -p "$WORK/nginx" -c "$WORK/nginx/$1" -e "$WORK/nginx/t.log" 2>&1 || true; }
sed 's|fhirpam_stack dpop;|fhirpam_stack dpopp;|' "$WORK/nginx/nginx.conf" >"$WORK/nginx/t1.conf"
out=$(ntest t1.conf)
check "unknown stack: nginx -t names the directive's line" bash -c 'grep -q "fhirpam_stack \"dpopp\" in .*t1.conf:[0-9]*: .* has no stack of that name" <<<"$1" && grep -q "test failed" <<<"$1"' _ "$out"
sed 's|fhirpam_max_body 2k;|fhirpam_max_body lots;|' "$WORK/nginx/nginx.conf" >"$WORK/nginx/t2.conf"
out=$(ntest t2.conf)
check "bad size: nginx -t names file and line" bash -c 'grep -q "\"fhirpam_max_body\" directive invalid value in .*t2.conf:[0-9]*" <<<"$1"' _ "$out"
sed 's|fhirpam_stack fhir;|fhirpam_stack fhir; satisfy any;|' "$WORK/nginx/nginx.conf" >"$WORK/nginx/t3.conf"
out=$(ntest t3.conf)
check "satisfy any in a fhirpam location is refused" bash -c 'grep -q "satisfy any" <<<"$1" && grep -q "test failed" <<<"$1"' _ "$out"
sed 's|fhirpam_config \(.*\);|fhirpam_config \1; fhirpam_dpop_replay_zone 4k;|' "$WORK/nginx/nginx.conf" >"$WORK/nginx/t5.conf"
out=$(ntest t5.conf)
check "a DPoP replay zone too small: nginx -t names file and line" bash -c 'grep -q "\"fhirpam_dpop_replay_zone\" directive must be at least 8 memory pages in .*t5.conf:[0-9]*" <<<"$1"' _ "$out"
cp "$WORK/fhirpam.conf" "$WORK/fhirpam.good"
echo 'stacks: { x = ( { control = "required"; module = "nosuchmodule"; } ); };' >"$WORK/fhirpam.bad"
sed "s|$WORK/fhirpam.conf|$WORK/fhirpam.bad|" "$WORK/nginx/nginx.conf" >"$WORK/nginx/t4.conf"
out=$(ntest t4.conf)
check "a fhirpam configuration fhirpam refuses fails nginx -t with fhirpam's message" \
    bash -c 'grep -q "fhirpam_config \".*fhirpam.bad\" in .*t4.conf:[0-9]* refused: .*fhirpam.bad:1: " <<<"$1"' _ "$out"
out=$(ntest nginx.conf)
check "the good configuration passes nginx -t" bash -c 'grep -q "test is successful" <<<"$1"' _ "$out"

echo "== reload under load: wrk running, a policy change, a bad configuration"
wrk_run() { wrk -t2 -c16 -d"$1" -H "Authorization: Bearer $T1" "http://127.0.0.1:$NGINX_PORT2/static/r4/Patient/123" >"$WORK/wrk.out" 2>&1; }
# The workers of a reload open the file when they start: each file is put
# in place whole (mv), and changed only once those workers are up (a
# worker that found a broken file would refuse its requests: 500).
workers_started() { grep -c "start worker process" "$WORK/nginx/error.log" || true; }
wait_workers() { # COUNT_BEFORE
    for i in $(seq 1 200); do
        [ "$(workers_started)" -ge $(($1 + 2)) ] && return 0
        sleep 0.05
    done
}
put_config() { cp "$1" "$WORK/fhirpam.conf.new" && mv -f "$WORK/fhirpam.conf.new" "$WORK/fhirpam.conf"; }
wrk_run 6s &
WRK_PID=$!
sleep 0.5
before=$(workers_started)
kill -HUP "$NGINX_PID" # the same configuration, new workers
wait_workers "$before"
sleep 0.3
# A fhirpam configuration that does not load: the reload is refused, the
# running workers keep deciding.
put_config "$WORK/fhirpam.bad"
kill -HUP "$NGINX_PID"
for i in $(seq 1 200); do
    grep -q "fhirpam_config .* refused: .*fhirpam.conf:1:" "$WORK/nginx/error.log" && break
    sleep 0.05
done
sleep 0.3
put_config "$WORK/fhirpam.good"
before=$(workers_started)
kill -HUP "$NGINX_PID"
wait_workers "$before"
wait "$WRK_PID" || true
reqs=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
check "wrk: $reqs requests during 3 reloads (one refused), none lost, all 200" bash -c '
    [ "${1:-0}" -gt 1000 ] && ! grep -q "Socket errors" "$2" && ! grep -q "Non-2xx" "$2"' _ "$reqs" "$WORK/wrk.out" ||
    cat "$WORK/wrk.out"
check "the refused reload is logged with fhirpam's message" grep -q "fhirpam_config .* refused: .*fhirpam.conf:1:" "$WORK/nginx/error.log"
# A reload that changes the policy: every new worker decides on it.
nm_config ',
    { control = "required"; module = "debug"; args = { result = "consent_denied"; }; }'
kill -HUP "$NGINX_PID"
for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${A1[@]}" "http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/123")" = 403 ] && break
    sleep 0.05
done
sleep 0.3
for k in 1 2 3 4; do
    req "after a reload to a denying stack ($k)" 403 /fhir/r4/Patient/123 "${A1[@]}"
done
body_has consent_denied
nm_config
kill -HUP "$NGINX_PID"
for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${A1[@]}" "http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/123")" = 200 ] && break
    sleep 0.05
done
sleep 0.3
req "after the reload back" 200 /fhir/r4/Patient/123 "${A1[@]}"

echo "== audit: every line whole, from several workers"
check "decisions.jsonl: every line is one JSON record" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    json.loads(line); n += 1
assert n > 1000, n
print(n, "records")' "$WORK/audit/decisions.jsonl"
# A decision id starts with its context's own prefix: one per worker.
check "several workers (contexts) wrote them" python3 -c '
import json, sys
ids = {json.loads(l)["id"].split("-")[0] for l in open(sys.argv[1])}
assert len(ids) >= 2, ids' "$WORK/audit/decisions.jsonl"

echo "== DPoP over HTTP: nonce, proof, replay (one worker: see README)"
fp_stop "$NGINX_PID" QUIT
NGINX_PID=
WORKERS=1 nm_start_nginx
"$FHIRPAM_CLI" token keygen --alg ES256 --kid device --private-key-out "$WORK/dpop.pem" --jwks-out "$WORK/dpop.jwks" >/dev/null
JKT=$("$FHIRPAM_CLI" token jkt --key "$WORK/dpop.pem")
TD=$(fp_token "{\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"sub\":\"user-3\",\"client_id\":\"app-3\",\"patient\":\"321\",\"scope\":\"$ALL\",\"jti\":\"jti-dpop\",\"exp\":$((now + 1800)),\"iat\":$now,\"cnf\":{\"jkt\":\"$JKT\"}}")
# htu is the URL clients use (fhirpam_public_origin), not nginx's.
proof() { "$FHIRPAM_CLI" token dpop --key "$WORK/dpop.pem" --htm GET --htu "https://fhir.test/fhir/r4/Patient/321" --token "$TD" "$@"; }
req "DPoP proof without a nonce" 401 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $(proof)"
header_has WWW-Authenticate 'error="use_dpop_nonce"'
NONCE=$(awk -F': ' 'tolower($1) == "dpop-nonce" { sub(/\r$/, "", $2); print $2 }' "$WORK/headers")
check "  a DPoP-Nonce header" test -n "$NONCE"
P2=$(proof --nonce "$NONCE")
req "DPoP proof with the nonce" 200 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $P2"
body_has '"id":"321"'
req "the same proof replayed" 401 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $P2"
body_has dpop_replay
req "a proof for nginx's own URL (not the public one)" 401 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" \
    -H "DPoP: $("$FHIRPAM_CLI" token dpop --key "$WORK/dpop.pem" --htm GET --htu "http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/321" --token "$TD" --nonce "$NONCE")"
body_has dpop_htu
req "the DPoP token as Bearer" 401 /fhir/r4/Patient/321 -H "Authorization: Bearer $TD"

echo "== DPoP replay across workers (4 workers, the shared replay zone)"
fp_stop "$NGINX_PID" QUIT
NGINX_PID=
WORKERS=4 nm_start_nginx
BASEURL=http://127.0.0.1:$NGINX_PORT3
pid_of_last() { tail -n 1 "$WORK/nginx/access.log" | sed -n 's/.* pid=\([0-9]*\)$/\1/p'; }
P3=$(proof)
req "a fresh proof (no nonce on this stack)" 200 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $P3"
FIRST_PID=$(pid_of_last)
: >"$WORK/replay_pids"
for k in $(seq 1 8); do
    req "the same proof replayed on a new connection ($k)" 401 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $P3"
    pid_of_last >>"$WORK/replay_pids"
done
body_has dpop_replay
check "  replays reached workers other than the one that permitted it (pid $FIRST_PID)" \
    bash -c 'grep -qv "^$1\$" "$2"' _ "$FIRST_PID" "$WORK/replay_pids"
for k in 1 2 3; do
    req "a new proof each time ($k)" 200 /fhir/r4/Patient/321 -H "Authorization: DPoP $TD" -H "DPoP: $(proof)"
done
unset BASEURL

check "nginx error log: no crash, no alert" bash -c '! grep -E "\[alert\]|\[crit\]|signal [0-9]+|Sanitizer" "$1"' _ "$WORK/nginx/error.log"

echo "$((100 * (CHECKS - FAILED) / CHECKS))%: Checks: $CHECKS, Failures: $FAILED, Errors: 0"
[ "$FAILED" = 0 ]
