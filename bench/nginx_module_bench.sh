#!/usr/bin/env bash
# nginx_module_bench.sh BUILD_DIR - the `./dev bench` rows of issue 18, in
# one run and one nginx: the same static FHIR resource (GET Patient/123)
# served by nginx alone, decided by ngx_http_fhirpam_module in the worker,
# and decided by fhirpamd through auth_request; a cached RS256 token, the
# stack expiry, revocation, scope_check, patient_link. wrk for 10 s with 64
# connections each (SECONDS_PER_RUN, CONNECTIONS); requests/s, p99, and the
# module's share of nginx alone and the p99 it adds (targets: >= 90 %,
# <= 100 us).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
FHIRPAM_CLI=$BUILD/tools/fhirpam
FHIRPAMD=$BUILD/tools/fhirpamd/fhirpamd
NGINX_MODULE=$BUILD/tools/nginx/ngx_http_fhirpam_module.so
MODULES_DIR=$BUILD/modules
DURATION=${SECONDS_PER_RUN:-10}
CONNS=${CONNECTIONS:-64}
[ -f "$NGINX_MODULE" ] || { echo "nginx module bench: $NGINX_MODULE not built (nginx-dev)" >&2; exit 1; }
. tests/nginx_module/lib.sh
command -v wrk >/dev/null || { echo "nginx module bench: wrk not installed" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpam-ngx-bench.XXXXXX")
trap 'nm_cleanup; rm -rf "$WORK"' EXIT
umask 022
chmod 755 "$WORK"
mkdir -p "$WORK/nginx/tmp" "$WORK/www/fhir/r4/Patient"
cp tests/nginx_module/data/patient-123.json "$WORK/www/fhir/r4/Patient/123"
: >"$WORK/revoked"
"$FHIRPAM_CLI" token keygen --alg RS256 --kid k1 --private-key-out "$WORK/k.pem" \
    --jwks-out "$WORK/jwks.json" >/dev/null
chmod 600 "$WORK/k.pem"
cat >"$WORK/fhirpam.conf" <<CONF
modules_dir = "$MODULES_DIR";
token: { issuer = "$ISS"; audience = "$AUD"; jwks = "jwks.json"; algorithms = [ "RS256" ]; };
audit: { sink = "none"; };
stacks: {
  fhir = (
    { control = "requisite"; module = "expiry"; args = { max_lifetime = 3600; require = [ "iat", "jti" ]; }; },
    { control = "requisite"; module = "revocation"; args = { denylist = "$WORK/revoked"; }; },
    { control = "requisite"; module = "scope_check"; },
    { control = "required"; module = "patient_link"; }
  );
};
CONF
rm -f "$WORK/fhirpamd.port"
"$FHIRPAMD" -c "$WORK/fhirpam.conf" --listen 127.0.0.1:0 --ready-file "$WORK/fhirpamd.port" \
    --threads "$(nproc)" --base /fhir/r4 --route =fhir 2>>"$WORK/fhirpamd.log" &
FHIRPAMD_PID=$!
for i in $(seq 1 300); do
    [ -s "$WORK/fhirpamd.port" ] && break
    sleep 0.05
done
FHIRPAMD_PORT=$(cat "$WORK/fhirpamd.port")
nm_start_nginx bench/nginx_module_bench.conf.in

TOKEN=$(fp_token "$(fp_claims 123 "launch/patient patient/Patient.rs" bench-1 3000)")
OTHER=$(fp_token "$(fp_claims 456 "launch/patient patient/Patient.rs" bench-2 3000)")
ALONE=http://127.0.0.1:$NGINX_PORT/fhir/r4/Patient/123
MODULE=http://127.0.0.1:$NGINX_PORT2/fhir/r4/Patient/123
AUTHREQ=http://127.0.0.1:$NGINX_TLS_PORT/fhir/r4/Patient/123
# Each way must decide before it is measured.
for url in "$MODULE" "$AUTHREQ"; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")" = 200 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OTHER" "$url")" = 403 ]
done

# measure URL [wrk args]: sets RPS and P99_US; fails on any non-2xx answer.
measure() {
    local url=$1
    shift
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$WORK/wrk.out"
    if grep -q "Non-2xx\|Socket errors" "$WORK/wrk.out"; then
        echo "nginx module bench: errors or non-2xx answers:" >&2
        cat "$WORK/wrk.out" >&2
        return 1
    fi
    RPS=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$WORK/wrk.out")
    P99_US=$(awk '$1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : 1000000; printf "%d", v * m }' "$WORK/wrk.out")
}
row() { printf '| %-62s | %10s | %9s us | %s |\n' "$1" "$2" "$3" "$4"; }

# Warm-up: token caches of every worker and of fhirpamd.
wrk -t2 -c"$CONNS" -d2s -H "Authorization: Bearer $TOKEN" "$MODULE" >/dev/null
wrk -t2 -c"$CONNS" -d2s -H "Authorization: Bearer $TOKEN" "$AUTHREQ" >/dev/null

echo
row "nginx + fhirpam (wrk ${DURATION} s, $CONNS connections, loopback, 2 workers)" "requests/s" "p99" "note"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 64))" "------------" "--------------" "------"
# nginx alone receives the same request bytes (the token included), so that
# the difference is the decision, not the parsing of a longer request.
measure "$ALONE" -H "Authorization: Bearer $TOKEN"
alone_rps=$RPS alone_p99=$P99_US
row "nginx alone: GET Patient/123, static file" "$RPS" "$P99_US" "same request, token not checked"
measure "$MODULE" -H "Authorization: Bearer $TOKEN"
mod_rps=$RPS mod_p99=$P99_US
row "nginx + ngx_http_fhirpam_module: same file, cached RS256 token" "$RPS" "$P99_US" \
    "$((100 * mod_rps / alone_rps))% of nginx alone (target >= 90%), p99 +$((mod_p99 - alone_p99)) us (target <= 100)"
measure "$AUTHREQ" -H "Authorization: Bearer $TOKEN"
row "nginx + auth_request -> fhirpamd: same file, same token" "$RPS" "$P99_US" \
    "$((100 * RPS / alone_rps))% of nginx alone, p99 +$((P99_US - alone_p99)) us; $(nproc) fhirpamd threads"
echo "stack: expiry, revocation, scope_check, patient_link; the machine's cores are shared with wrk and fhirpamd"
