#!/usr/bin/env bash
# quickstart.sh BUILD_DIR - the end of `./dev run`: fhirpamd, the decision
# service, started on the demo configuration (after tools/demo.sh made its keys
# and tokens), asked once for a permit and once for a deny with curl, exactly
# as nginx's auth_request would ask it, and the lines to try it yourself.
#
# On a terminal fhirpamd keeps running and the script says how to stop it;
# otherwise (CI, a script) it is stopped before the script returns.
set -euo pipefail
build=${1:?usage: quickstart.sh BUILD_DIR}
demo=$build/demo
demo_abs=$(cd "$demo" && pwd)
daemon=$build/tools/fhirpamd/fhirpamd
pidfile=$demo_abs/fhirpamd.pid
ready=$demo_abs/fhirpamd.port

# A daemon left by an earlier `./dev run` is stopped first.
if [ -f "$pidfile" ]; then
    old=$(cat "$pidfile")
    if kill -0 "$old" 2>/dev/null && grep -q fhirpamd "/proc/$old/cmdline" 2>/dev/null; then
        kill "$old" && sleep 0.3
    fi
    rm -f "$pidfile"
fi
rm -f "$ready"
nohup "$daemon" -c "$demo_abs/fhirpam.conf" --modules-dir "$build/modules" --listen 127.0.0.1:0 \
    --ready-file "$ready" --base /r4 --route =patient --route metadata=public \
    >"$demo_abs/fhirpamd.log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$pidfile"; }
for _ in $(seq 100); do
    [ -s "$ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [ ! -s "$ready" ]; then
    echo "== fhirpamd did not start; its output ($demo_abs/fhirpamd.log):" >&2
    sed 's/^/   | /' "$demo_abs/fhirpamd.log" >&2
    stop
    exit 1
fi
port=$(cat "$ready")
audit=$demo_abs/decisions.jsonl
before=$(wc -l <"$audit" 2>/dev/null || echo 0)

# The curl line for a GET of URI with the demo token, as text to copy.
curl_line() {
    printf "curl -i -H 'X-Original-Method: GET' -H 'X-Original-URI: %s' \\\\\n     -H \"Authorization: Bearer \$(cat %s/valid.jwt)\" http://127.0.0.1:%s/auth" \
        "$1" "$demo_abs" "$port"
}
# Ask fhirpamd; print the status line and its X-Fhirpam-* answer.
ask() {
    curl -s -i -H 'X-Original-Method: GET' -H "X-Original-URI: $1" \
        -H "Authorization: Bearer $(cat "$demo_abs/valid.jwt")" "http://127.0.0.1:$port/auth" |
        tr -d '\r' | grep -E '^HTTP/|^X-Fhirpam-(Code|Reason)' | sed 's/^/     /'
}

cat <<EOF

== fhirpamd, the decision service for gateways, is listening on 127.0.0.1:$port
   (pid $pid; stack "patient": scope_check + patient_link, $demo_abs/fhirpam.conf).
   A gateway (nginx auth_request, Envoy ext_authz) asks it about every request;
   here curl asks in its place, with a token minted just now for patient 123
   (scope patient/Observation.rs).

-- permitted: patient 123's own observations
$(curl_line /r4/Observation?patient=Patient/123)
$(ask /r4/Observation?patient=Patient/123)

-- denied: another patient's
$(curl_line /r4/Observation?patient=Patient/456)
$(ask /r4/Observation?patient=Patient/456)

EOF
after=$(wc -l <"$audit" 2>/dev/null || echo 0)
echo "== every decision is one JSON line in $audit ($((after - before)) new just now), the last:"
tail -n 1 "$audit" | cut -c1-400 | sed 's/^/   /'
cat <<EOF

Next: change the URI or the token in the lines above (build/tools/fhirpam token sign
mints others), read one decision whole with
  $build/tools/fhirpam eval -c $demo_abs/fhirpam.conf --modules-dir $build/modules \\
      -s patient --request 'GET Observation?patient=Patient/456' --token-file $demo_abs/valid.jwt --pretty
and see README.md ("Put fhirpam in front of your FHIR server") for nginx.
EOF
if [ -t 0 ] && [ -t 1 ]; then
    echo "fhirpamd keeps running; stop it with: kill \$(cat $pidfile)"
else
    stop
    echo "(not on a terminal: fhirpamd was stopped)"
fi
