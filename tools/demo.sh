#!/usr/bin/env bash
# demo.sh BUILD_DIR [--valgrind] - the example decisions of `./dev run`.
#
# Generates a demo signing key and JWKS, mints a few tokens with
# `fhirpam token`, and evaluates example requests against etc/demo/fhirpam.conf,
# one line each (`fhirpam eval ... --pretty` shows a whole decision).
# With --valgrind, runs the same requests once through valgrind as a batch and
# fails on any memory error or leak.
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR [--valgrind]}
mode=${2:-}
cli=$build/tools/fhirpam
modules=$build/modules
demo=$build/demo
umask 077
mkdir -p "$demo"
demo_abs=$(cd "$demo" && pwd)
sed "s|@DEMO_DIR@|$demo_abs|g" etc/demo/fhirpam.conf >"$demo/fhirpam.conf"
"$cli" token keygen --alg RS256 --kid demo-rs256 --private-key-out "$demo/key.pem" \
    --jwks-out "$demo/jwks.json"

now=$(date +%s)
mint() { # mint NAME EXP-OFFSET AUDIENCE
    printf '{"iss":"https://ehr.example.org","aud":"%s","sub":"practitioner-7","client_id":"demo-app","scope":"patient/Observation.rs launch/patient","patient":"123","jti":"demo-%s","iat":%d,"exp":%d}' \
        "$3" "$1" "$((now - 60))" "$((now + $2))" |
        "$cli" token sign --key "$demo/key.pem" --kid demo-rs256 --typ at+jwt --claims - >"$demo/$1.jwt"
}
mint valid 3540 https://fhir.example.org/r4
mint expired -600 https://fhir.example.org/r4
mint other-audience 3540 https://other.example.org/fhir
mint revoked 3540 https://fhir.example.org/r4
mint two-hours 7140 https://fhir.example.org/r4
# A device key, and a token bound to it (cnf.jkt), for the DPoP examples.
"$cli" token keygen --alg ES256 --kid device --private-key-out "$demo/device.pem" \
    --jwks-out "$demo/device-jwks.json"
jkt=$("$cli" token jkt --key "$demo/device.pem")
printf '{"iss":"https://ehr.example.org","aud":"https://fhir.example.org/r4","sub":"practitioner-7","client_id":"demo-app","scope":"patient/Observation.rs","jti":"demo-bound","iat":%d,"exp":%d,"cnf":{"jkt":"%s"}}' \
    "$((now - 60))" "$((now + 3540))" "$jkt" |
    "$cli" token sign --key "$demo/key.pem" --kid demo-rs256 --typ at+jwt --claims - >"$demo/bound.jwt"
proof() { # proof URL: a fresh DPoP proof for GET URL with the bound token
    "$cli" token dpop --key "$demo/device.pem" --htm GET --htu "$1" --token "$(cat "$demo/bound.jwt")"
}
rm -f "$demo/revoked" "$demo/revoked.lock"
"$cli" revoke --denylist "$demo_abs/revoked" jti --iss https://ehr.example.org --jti demo-revoked \
    --exp "$((now + 3600))"

# stack|method url|token file (or -)|what it shows
requests=(
    "public|GET metadata|-|a public endpoint, no token needed"
    "fhir|GET Patient/123/Observation?code=8867-4|valid|a valid token"
    "fhir|GET Patient/123|-|no token: 401 with a bare Bearer challenge"
    "fhir|GET Patient/123|expired|an expired token"
    "fhir|GET Patient/123|other-audience|a token for another server"
    "scopes|GET Observation?patient=Patient/123&code=8867-4|valid|a search patient/Observation.rs allows"
    "scopes|GET Observation/9|valid|a read patient/Observation.rs allows"
    "scopes|DELETE Observation/9|valid|a delete it does not: 403 with the scope that would be needed"
    "scopes|GET Observation?_revinclude=Provenance:target|valid|a join into Provenance needs Provenance.s"
    "patient|GET Observation?patient=Patient/123&code=8867-4|valid|the launch patient's observations"
    "patient|GET Observation?patient=Patient/456|valid|another patient's: 403 patient_mismatch"
    "patient|GET Observation?code=8867-4|valid|a search not limited to the patient"
    "patient|GET Observation/9|valid|a read by id: permitted with an obligation on the response"
    "dpop|GET Patient/123|bound+proof|a DPoP-bound token with a fresh proof from its key"
    "dpop|GET Patient/123|bound|the same token sent as Bearer: refused (RFC 9449 7.2)"
    "fhir|GET Patient/123|bound+proof|the same on a stack that verifies no binding: refused by the core"
    "lifecycle|GET Patient/123|valid|expiry and revocation pass"
    "lifecycle|GET Patient/123|revoked|a token revoked with fhirpam revoke"
    "lifecycle|GET Patient/123|two-hours|a valid token that lives two hours, over max_lifetime"
    "guarded|GET Observation?patient=Patient/123|valid|a store that is down, tolerated by the stack"
    "closed|GET Observation/9|valid|a requisite module that denies; the next line never runs"
    "first_failure_wins|GET Patient/123|valid|a required failure is not rescued by a later sufficient"
)

if [ "$mode" = --valgrind ]; then
    batch=$demo/requests.jsonl
    : >"$batch"
    for r in "${requests[@]}"; do
        IFS='|' read -r stack req token _ <<<"$r"
        tok=""
        if [ "$token" = bound+proof ]; then
            tok=",\"headers\":{\"Authorization\":\"DPoP $(cat "$demo/bound.jwt")\",\"DPoP\":\"$(proof "https://fhir.example.org/r4/${req#* }")\"}"
        elif [ "$token" != - ]; then
            tok=",\"token\":\"$(cat "$demo/$token.jwt")\""
        fi
        printf '{"stack":"%s","method":"%s","url":"%s"%s}\n' "$stack" "${req%% *}" "${req#* }" "$tok" >>"$batch"
    done
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect "$cli" eval -c "$demo/fhirpam.conf" --modules-dir "$modules" \
        --batch "$batch"
    # The demo's single-purpose stacks verify no binding on purpose: `check`
    # warns of each (etc/demo/fhirpam.conf), which is expected here.
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect "$cli" check -c "$demo/fhirpam.conf" --modules-dir "$modules" \
        2> >(grep -v ': warning: stack .*: bound tokens will be denied' >&2)
    exit 0
fi

# One line per decision: the answer, the request, and why.
summarise() { # summarise WHAT: reads one decision (JSON) on stdin
    python3 -c '
import json, sys
d = json.load(sys.stdin)
what = sys.argv[1]
line = "  %-6s %3s  %s" % (d["decision"], d["http_status"], what)
if d["decision"] != "permit":
    line += "\n               -> %s: %s" % (d["code"], d["reason_text"])
elif d.get("obligations"):
    line += "\n               -> with %d obligation(s) on the response" % len(d["obligations"])
print(line)' "$1"
}

printf '== fhirpam eval: %d example requests against %s\n' "${#requests[@]}" "$demo/fhirpam.conf"
for r in "${requests[@]}"; do
    IFS='|' read -r stack req token what <<<"$r"
    args=(eval -c "$demo/fhirpam.conf" --modules-dir "$modules" -s "$stack" --request "$req")
    if [ "$token" = bound+proof ]; then
        args+=(--header "Authorization: DPoP $(cat "$demo/bound.jwt")"
            --header "DPoP: $(proof "https://fhir.example.org/r4/${req#* }")")
    elif [ "$token" != - ]; then
        args+=(--token-file "$demo/$token.jwt")
    fi
    printf '\n%s  [stack %s, token: %s]\n' "$req" "$stack" "$token"
    { "$cli" "${args[@]}" || true; } | summarise "$what"
done
