#!/usr/bin/env bash
# test_bodies.sh - no body reaches the FHIR server unjudged (issue 26), and
# every refusal fhirpamd makes is audited as what it answered (issue 29,
# row 12).
#
# The shipped site itself, etc/nginx-fhirpam.conf, runs in a temporary
# prefix (only its addresses and certificate paths are replaced), in front
# of an echo FHIR server that logs every request it receives, with fhirpamd
# started with etc/fhirpamd.service's own ExecStart arguments. Requests
# whose meaning depends on a body (POST _search forms, creates, updates,
# patches, bundles, $operations with a body, chunked or not, over HTTP/1.1
# and HTTP/2) must be refused, and the echo server must never receive a
# body. Then Envoy's ext_authz requests, written by hand: bodies passed
# whole are judged, cut ones (x-envoy-auth-partial-body: true) refused.
#
# Run by meson with FHIRPAMD, FHIRPAM_CLI and FHIRPAM_TEST_MODULES_DIR set.
# Exit 77 (skipped) without nginx, curl or openssl, except with CI=true.
set -euo pipefail

: "${FHIRPAMD:?}" "${FHIRPAM_CLI:?}" "${FHIRPAM_TEST_MODULES_DIR:?}"
MODULES_DIR=$FHIRPAM_TEST_MODULES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
if ! fp_have_tools || ! command -v python3 >/dev/null; then
    [ "${CI:-}" = true ] && { echo "nginx, curl, openssl or python3 not installed (CI)"; exit 1; }
    echo "nginx, curl, openssl or python3 not installed: skipped"
    exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpamd-bodies.XXXXXX")
ECHO_PID=
cleanup() {
    local rc=$?
    fp_cleanup
    if [ -n "$ECHO_PID" ]; then
        kill "$ECHO_PID" 2>/dev/null || true
        wait "$ECHO_PID" 2>/dev/null || true
    fi
    if [ "$rc" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT


fp_prepare
fp_tls
fp_config

# ---- the echo FHIR server ----
python3 "$HERE/echo_upstream.py" --port-file "$WORK/echo.port" --log "$WORK/upstream.jsonl" &
ECHO_PID=$!
for i in $(seq 1 100); do [ -s "$WORK/echo.port" ] && break; sleep 0.05; done
ECHO_PORT=$(cat "$WORK/echo.port")

# ---- fhirpamd, with the systemd unit's own arguments ----
# ExecStart= of etc/fhirpamd.service, continuation lines joined; the
# configuration and the listening address are this test's.
read -r -a UNIT_ARGS <<<"$(awk '/^ExecStart=/ { on = 1; sub(/^ExecStart=[^ ]+/, "") }
    on { line = line " " $0; if ($0 !~ /\\$/) { on = 0 } }
    END { gsub(/\\/, " ", line); print line }' "$ROOT/etc/fhirpamd.service")"
ARGS=()
for ((i = 0; i < ${#UNIT_ARGS[@]}; i++)); do
    case ${UNIT_ARGS[$i]} in
    -c | --listen) i=$((i + 1)) ;;
    *) ARGS+=("${UNIT_ARGS[$i]}") ;;
    esac
done
echo "fhirpamd arguments from etc/fhirpamd.service: ${ARGS[*]}"
"$FHIRPAMD" -c "$WORK/fhirpam.conf" --modules-dir "$MODULES_DIR" --listen 127.0.0.1:0 \
    --ready-file "$WORK/fhirpamd.port" "${ARGS[@]}" --route Encounter=checked \
    --max-body-bytes 65536 --request-timeout 2 2>>"$WORK/fhirpamd.log" &
FHIRPAMD_PID=$!
for i in $(seq 1 300); do [ -s "$WORK/fhirpamd.port" ] && break; sleep 0.05; done
FHIRPAMD_PORT=$(cat "$WORK/fhirpamd.port")

# ---- nginx with the shipped site ----
# replace_once FILE FROM TO: the site must still hold FROM exactly once.
replace_once() {
    local n
    n=$(grep -cF -- "$2" "$1" || true)
    [ "$n" = 1 ] || { echo "etc/nginx-fhirpam.conf: '$2' found $n times, want 1" >&2; exit 1; }
    FROM=$2 TO=$3 python3 -c 'import os,sys
p=sys.argv[1]; s=open(p).read(); open(p,"w").write(s.replace(os.environ["FROM"], os.environ["TO"]))' "$1"
}
mkdir -p "$WORK/nginx/tmp"
user=""
if [ "$(id -u)" = 0 ]; then
    if getent passwd nobody >/dev/null && getent group nogroup >/dev/null; then
        user="user nobody nogroup;"
    else
        user="user root;"
    fi
fi
start_nginx() {
    local attempt
    for attempt in $(seq 1 10); do
        NGINX_PORT=$((20000 + RANDOM % 40000))
        cp "$ROOT/etc/nginx-fhirpam.conf" "$WORK/nginx/site.conf"
        replace_once "$WORK/nginx/site.conf" "server 127.0.0.1:8080;" "server 127.0.0.1:$ECHO_PORT;"
        replace_once "$WORK/nginx/site.conf" "server 127.0.0.1:9180;" "server 127.0.0.1:$FHIRPAMD_PORT;"
        replace_once "$WORK/nginx/site.conf" "listen 443 ssl http2;" "listen 127.0.0.1:$NGINX_PORT ssl http2;"
        replace_once "$WORK/nginx/site.conf" "listen [::]:443 ssl http2;" ""
        replace_once "$WORK/nginx/site.conf" "/etc/nginx/tls/fhir.example.org.crt" "$WORK/tls/server.crt"
        replace_once "$WORK/nginx/site.conf" "/etc/nginx/tls/fhir.example.org.key" "$WORK/tls/server.key"
        replace_once "$WORK/nginx/site.conf" "/etc/nginx/tls/client-ca.crt" "$WORK/tls/ca.crt"
        cat >"$WORK/nginx/nginx.conf" <<CONF
$user
worker_processes 2;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    include $WORK/nginx/site.conf;
}
CONF
        : >"$WORK/nginx/error.log"
        "$NGINX_BIN" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" </dev/null \
            >>"$WORK/nginx/stdout.log" 2>&1 &
        NGINX_PID=$!
        for i in $(seq 1 200); do
            curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$NGINX_PORT/" && return 0
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        grep -q "Address already in use" "$WORK/nginx/error.log" || {
            cat "$WORK/nginx/error.log" "$WORK/nginx/stdout.log" >&2
            return 1
        }
    done
    return 1
}
start_nginx
echo "nginx (shipped site) on 127.0.0.1:$NGINX_PORT, fhirpamd on $FHIRPAMD_PORT, echo on $ECHO_PORT, in $WORK"

ALL="launch/patient patient/Patient.rs patient/Observation.rs patient/Observation.cu patient/Encounter.rs"
T1=$(fp_token "$(fp_claims 123 "$ALL" jti-bodies)")
A1=(-H "Authorization: Bearer $T1")
SITE=https://127.0.0.1:$NGINX_PORT

# req NAME STATUS PATH [curl args...]: through nginx; the body in $WORK/body.
req() {
    local name=$1 want=$2 path=$3 got
    shift 3
    CHECKS=$((CHECKS + 1))
    : >"$WORK/body"
    got=$(curl -s --max-time 10 --cacert "$WORK/tls/ca.crt" -o "$WORK/body" -w '%{http_code}' \
        "$@" "$SITE$path") || got="curl-failed"
    if [ "$got" = "$want" ]; then ok "$name: $got"; else fail "$name: status $got, want $want ($(head -c 300 "$WORK/body"))"; fi
}
body_has() {
    CHECKS=$((CHECKS + 1))
    if grep -qF -- "$1" "$WORK/body"; then ok "  body has $1"; else fail "  body lacks $1: $(head -c 300 "$WORK/body")"; fi
}
upstream_count() { wc -l <"$WORK/upstream.jsonl"; }

echo "== requests whose meaning is their URL are judged and passed on"
req "GET Observation?patient=Patient/123" 200 "/r4/Observation?patient=Patient/123" "${A1[@]}"
req "GET Observation?patient=Patient/456: another patient" 403 "/r4/Observation?patient=Patient/456" "${A1[@]}"
body_has patient_mismatch
req "POST Observation/_search?patient=Patient/123 with an empty body" 200 \
    "/r4/Observation/_search?patient=Patient/123" "${A1[@]}" -X POST -H "Content-Length: 0"
req "metadata" 200 /r4/metadata
PASSED=$(upstream_count)
CHECKS=$((CHECKS + 1))
[ "$PASSED" = 3 ] && ok "the FHIR server received the 3 permitted requests" ||
    fail "the FHIR server received $PASSED requests, want 3: $(cat "$WORK/upstream.jsonl")"

echo "== bodies auth_request never passes are refused (body_not_seen)"
FORM=(-H "Content-Type: application/x-www-form-urlencoded")
JSON=(-H "Content-Type: application/fhir+json")
req "POST _search, body _include=Observation:has-member" 403 \
    "/r4/Observation/_search?patient=Patient/123" "${A1[@]}" "${FORM[@]}" --data '_include=Observation:has-member'
body_has body_not_seen
req "POST _search, body _revinclude=Observation:derived-from" 403 \
    "/r4/Observation/_search?patient=Patient/123" "${A1[@]}" "${FORM[@]}" --data '_revinclude=Observation:derived-from'
req "POST _search, body patient=Patient/456" 403 \
    "/r4/Observation/_search?patient=Patient/123" "${A1[@]}" "${FORM[@]}" --data 'patient=Patient/456'
req "POST _search at the base (system search)" 403 "/r4/_search" "${A1[@]}" "${FORM[@]}" --data 'patient=Patient/456'
req "POST Observation (create)" 403 /r4/Observation "${A1[@]}" "${JSON[@]}" \
    --data '{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/456"}}'
req "PUT Observation/o1 (update)" 403 /r4/Observation/o1 "${A1[@]}" "${JSON[@]}" -X PUT \
    --data '{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/456"}}'
req "PATCH Observation/o1" 403 /r4/Observation/o1 "${A1[@]}" -X PATCH \
    -H "Content-Type: application/json-patch+json" \
    --data '[{"op":"replace","path":"/subject/reference","value":"Patient/456"}]'
req "POST transaction bundle at the base" 403 /r4/ "${A1[@]}" "${JSON[@]}" \
    --data '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Patient/456"}}]}'
req "POST Patient/123/\$everything with a Parameters body" 403 '/r4/Patient/123/$everything' "${A1[@]}" \
    "${JSON[@]}" --data '{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Patient"}]}'
req "POST _search, chunked" 403 "/r4/Observation/_search?patient=Patient/123" "${A1[@]}" "${FORM[@]}" \
    -H "Transfer-Encoding: chunked" --data 'patient=Patient/456'
req "POST _search, a client's own X-Original-Content-Length: 0" 403 \
    "/r4/Observation/_search?patient=Patient/123" "${A1[@]}" "${FORM[@]}" \
    -H "X-Original-Content-Length: 0" -H "X-Original-Transfer-Encoding: " --data 'patient=Patient/456'
req "POST _search over HTTP/2" 403 "/r4/Observation/_search?patient=Patient/123" --http2 "${A1[@]}" \
    "${FORM[@]}" --data 'patient=Patient/456'
req "POST _search without a token" 403 "/r4/Observation/_search" "${FORM[@]}" --data 'patient=Patient/123'
body_has body_not_seen

echo "== a body on GET, HEAD or DELETE is refused (body_not_allowed)"
req "GET with a form body" 403 "/r4/Observation?patient=Patient/123" "${A1[@]}" "${FORM[@]}" \
    -X GET --data 'patient=Patient/456'
body_has body_not_allowed
req "DELETE with a body" 403 /r4/Observation/o1 "${A1[@]}" "${FORM[@]}" -X DELETE --data 'x=1'
# Over HTTP/2 a body may come in DATA frames with no content-length: nginx
# then reports neither header, as for a GET without one, so fhirpamd judges
# the URL; the site must still never pass that body on.
req "GET over HTTP/2 with a body of unknown length: judged on its URL" 200 \
    "/r4/Observation?patient=Patient/123" --http2 "${A1[@]}" "${FORM[@]}" -X GET -T - \
    < <(printf 'patient=Patient/456')
PASSED=$((PASSED + 1))

CHECKS=$((CHECKS + 1))
with_body=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["body_bytes"] > 0))' "$WORK/upstream.jsonl")
[ "$with_body" = 0 ] && ok "the FHIR server never received a body" ||
    fail "the FHIR server received $with_body bodies: $(cat "$WORK/upstream.jsonl")"
CHECKS=$((CHECKS + 1))
[ "$(upstream_count)" = "$PASSED" ] && ok "no refused request reached the FHIR server" ||
    fail "refused requests reached the FHIR server: $(tail -n +$((PASSED + 1)) "$WORK/upstream.jsonl")"

echo "== the audit trail has every refusal, as answered (issue 29, row 12)"
# audit_has REASON [FIELD=VALUE...]: a record with this reason and fields.
audit_has() {
    local reason=$1
    shift
    python3 - "$WORK/decisions.jsonl" "$reason" "$@" <<'PY'
import json, sys
path, reason, pairs = sys.argv[1], sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
for line in open(path):
    r = json.loads(line)
    if r.get("reason") == reason and all(str(r.get(k)) == v for k, v in pairs):
        sys.exit(0)
sys.exit(1)
PY
}
check "body_not_seen audited: deny, 403, refused by the host, the token's subject" \
    audit_has body_not_seen decision=deny http_status=403 refused_by=host sub=user-1 patient=123 stack=fhir
check "body_not_allowed audited" audit_has body_not_allowed decision=deny http_status=403 refused_by=host

F=http://127.0.0.1:$FHIRPAMD_PORT
G=(-H "X-Original-Method: GET" "${A1[@]}")
got=$(curl -s -o /dev/null -w '%{http_code}' "${A1[@]}" -H "X-Original-URI: /r4/Patient/123" "$F/auth")
check "missing X-Original-Method: 500" [ "$got" = 500 ]
check "missing_original_request audited: 500" audit_has missing_original_request decision=deny http_status=500 code=error
got=$(curl -s -o /dev/null -w '%{http_code}' "${G[@]}" -H "X-Original-URI: /other/Patient/123" "$F/auth")
check "no route: 403" [ "$got" = 403 ]
check "no_route audited: 403" audit_has no_route decision=deny http_status=403
got=$(curl -s -o /dev/null -w '%{http_code}' "${G[@]}" -H "X-Original-URI: /r4/Patient/123/../456" "$F/auth")
check "a dot segment: 403" [ "$got" = 403 ]
check "uri_refused audited: 403" audit_has uri_refused decision=deny http_status=403 code=invalid_request
got=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "${G[@]}" \
    -H "X-Original-URI: /r4/Patient/123" "$F/auth" || true)
check "an untrusted peer is closed at accept" [ "$got" = 000 ]
check "untrusted_peer audited: deny, 403" audit_has untrusted_peer decision=deny http_status=403 refused_by=host
req "Encounter/e1: a permit with obligations nginx cannot enforce" 403 /r4/Encounter/e1 "${A1[@]}"
body_has obligations_unenforceable
check "obligations_unenforceable audited as a deny, 403, never as a permit" \
    audit_has obligations_unenforceable decision=deny http_status=403 code=deny stack=checked
CHECKS=$((CHECKS + 1))
python3 - "$WORK/decisions.jsonl" <<'PY' && ok "no record says permit for a refused request" || fail "a permit record for obligations"
import json, sys
bad = [l for l in open(sys.argv[1]) if json.loads(l)["stack"] == "checked" and json.loads(l)["decision"] == "permit"]
sys.exit(1 if bad else 0)
PY
got=$(curl -s -o /dev/null -w '%{http_code}' "${G[@]}" -H "X-Original-URI: /r4/Patient/123" \
    -H "Content-Length: 5" --data 'x=abc' "$F/auth")
check "a body on the auth_request endpoint: 500" [ "$got" = 500 ]
check "body_on_auth_request audited" audit_has body_on_auth_request decision=deny http_status=500

echo "== Envoy ext_authz, written by hand"
E=$F/ext_authz/r4
envoy() { # STATUS NAME [curl args]: one check request; X-Fhirpam-Reason in $WORK/reason
    local want=$1 name=$2 got
    shift 2
    got=$(curl -s -D "$WORK/eh" -o /dev/null -w '%{http_code}' "$@") || got=curl-failed
    REASON=$(awk -F': ' 'tolower($1) == "x-fhirpam-reason" { sub(/\r$/, "", $2); print $2 }' "$WORK/eh")
    CODE=$(awk -F': ' 'tolower($1) == "x-fhirpam-code" { sub(/\r$/, "", $2); print $2 }' "$WORK/eh")
    check "envoy: $name: $got ${CODE:-} ${REASON:-}" [ "$got" = "$want" ]
}
envoy 200 "POST _search, body patient=Patient/123, passed whole" "${A1[@]}" "${FORM[@]}" \
    --data 'patient=Patient/123' -H "x-envoy-auth-partial-body: false" "$E/Observation/_search"
envoy 403 "POST _search, body patient=Patient/456, passed whole: judged" "${A1[@]}" "${FORM[@]}" \
    --data 'patient=Patient/456' -H "x-envoy-auth-partial-body: false" "$E/Observation/_search"
check "  ... as patient_mismatch, on the body's parameter" [ "$CODE" = patient_mismatch ]
envoy 200 "a body without Envoy's marker (a client of the check API) is whole" "${A1[@]}" "${FORM[@]}" \
    --data 'patient=Patient/123' "$E/Observation/_search"
envoy 403 "the same body cut by Envoy (x-envoy-auth-partial-body: true)" "${A1[@]}" "${FORM[@]}" \
    --data 'patient=Patient/123' -H "x-envoy-auth-partial-body: true" "$E/Observation/_search"
check "  reason body_partial" [ "$REASON" = body_partial ]
envoy 403 "a create cut by Envoy" "${A1[@]}" "${JSON[@]}" -H "x-envoy-auth-partial-body: true" \
    --data '{"resourceType":"Observation","subject":{"reference":"Patient/123"}' "$E/Observation"
envoy 403 "a POST with no body and no marker: Envoy may not pass bodies" "${A1[@]}" -X POST \
    "$E/Observation/_search?patient=Patient/123"
check "  reason body_unknown" [ "$REASON" = body_unknown ]
envoy 400 "a marker that is neither true nor false" "${A1[@]}" "${FORM[@]}" --data 'patient=Patient/123' \
    -H "x-envoy-auth-partial-body: yes" "$E/Observation/_search"
envoy 403 "a GET with a body" "${A1[@]}" "${FORM[@]}" -X GET --data 'patient=Patient/456' \
    "$E/Observation?patient=Patient/123"
check "  reason body_not_allowed" [ "$REASON" = body_not_allowed ]
envoy 200 "a GET without a body" "${A1[@]}" "$E/Observation?patient=Patient/123"
check "body_partial audited" audit_has body_partial decision=deny http_status=403 sub=user-1

echo "== bodies too large, or too slow, hold nothing"
# raw HOST:PORT: send stdin, print the status line of the answer (or EOF).
raw() {
    python3 - "$FHIRPAMD_PORT" "$1" <<'PY'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(15)
head = "POST /ext_authz/r4/Observation/_search HTTP/1.1\r\nHost: x\r\n"
if mode == "huge":      # 1 TB announced, nothing sent: answered before any is read
    s.sendall((head + "Content-Length: 1000000000000\r\n\r\n").encode())
elif mode == "chunked":  # a chunked body past --max-body-bytes
    s.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
    for _ in range(20):
        s.sendall(b"2000\r\n" + b"x" * 0x2000 + b"\r\n")
    s.sendall(b"0\r\n\r\n")
elif mode == "slow":     # a body that stops coming
    s.sendall((head + "Content-Length: 100\r\n\r\npatient=").encode())
try:
    data = s.recv(200)
except socket.timeout:
    print("timeout")
    sys.exit(0)
print(data.split(b"\r\n")[0].decode() if data else "closed")
PY
}
got=$(raw huge)
check "1 TB announced: 413 from Content-Length ($got)" [ "${got#HTTP/1.1 413}" != "$got" ]
check "body_too_large audited" audit_has body_too_large decision=deny http_status=413
got=$(raw chunked)
check "a chunked body past --max-body-bytes: 413 ($got)" [ "${got#HTTP/1.1 413}" != "$got" ]
got=$(raw slow)
check "a body that stops: closed by --request-timeout ($got)" [ "$got" = closed ]
check "request_timeout audited" audit_has request_timeout decision=deny

CHECKS=$((CHECKS + 1))
if grep -E "ERROR|Sanitizer|runtime error" "$WORK/fhirpamd.log"; then fail "fhirpamd log has errors"; else ok "fhirpamd log clean"; fi
fp_stop "$FHIRPAMD_PID" TERM
FHIRPAMD_PID=
check "fhirpamd exits 0 on SIGTERM" [ "$STOP_RC" = 0 ]

echo "$((100 * (CHECKS - FAILED) / CHECKS))%: Checks: $CHECKS, Failures: $FAILED, Errors: 0"
[ "$FAILED" = 0 ]
