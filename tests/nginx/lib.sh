# shellcheck shell=bash
# lib.sh - shared by tests/nginx/test_nginx.sh and bench/nginx_bench.sh:
# a private nginx (own prefix, config and loopback port; /etc/nginx is never
# read) in front of the static FHIR data set in tests/nginx/data, with
# fhirpamd deciding through auth_request. Sourced, not run.
#
# Needs: FHIRPAMD, FHIRPAM_CLI, MODULES_DIR and WORK (an empty directory).
#
# nginx as root: the workers run as nobody:nogroup (WORK is made 0755 and the
# data world-readable); when that user or group does not exist, as root.
# As any other user, nginx runs as that user and the directive is left out.

NGINX_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
ISS=https://ehr.test
AUD=https://fhir.test/r4

# The tests' tally: ok/fail print one line each, check NAME CMD... is one
# check that passes when CMD succeeds.
CHECKS=0
FAILED=0
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL: $*"
}
ok() { echo "ok: $*"; }
check() {
    local name=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then ok "$name"; else fail "$name"; fi
}

fp_have_tools() {
    [ -x "$NGINX_BIN" ] && command -v curl >/dev/null && command -v openssl >/dev/null
}

# fp_prepare: the data set, nginx directories, a signing key and its JWKS.
fp_prepare() {
    umask 022
    chmod 755 "$WORK"
    cp -r "$NGINX_LIB_DIR/data" "$WORK/data"
    mkdir -p "$WORK/nginx/tmp"
    : >"$WORK/revoked"
    "$FHIRPAM_CLI" token keygen --alg ES256 --kid k1 --private-key-out "$WORK/k.pem" \
        --jwks-out "$WORK/jwks.json" >/dev/null
    chmod 600 "$WORK/k.pem"
}

# fp_tls: a CA, a server certificate for nginx and three client certificates
# (CN=managed-device, CN=other-device, CN=unmanaged-device) in $WORK/tls;
# sets TLS=1 so that fp_start_nginx also listens with TLS on NGINX_PORT2.
fp_tls() {
    local d=$WORK/tls cn
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=fhirpam-test-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    for cn in server managed-device other-device unmanaged-device; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
            -keyout "$d/$cn.key" -out "$d/$cn.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
        openssl x509 -req -in "$d/$cn.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
            -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/$cn.crt" 2>/dev/null
    done
    chmod 644 "$d"/*.key
    TLS=1
}

# fp_x5t CERT: its RFC 8705 x5t#S256 (base64url SHA-256 of the DER).
fp_x5t() {
    openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -binary | basenc --base64url |
        tr -d '=\n'
}

# fp_config [EXTRA_FHIR_LINE]: the fhirpam configuration, written atomically
# (a reload never reads half a file). The optional argument is appended to
# the `fhir` stack.
fp_config() {
    local extra=${1:-}
    cat >"$WORK/fhirpam.conf.new" <<CONF
token: {
  issuer = "$ISS";
  audience = "$AUD";
  jwks = "jwks.json";
  algorithms = [ "ES256" ];
};
audit: { sink = "file"; path = "$WORK/decisions.jsonl"; required = true; };
stacks: {
  public = { token = "none"; lines = ( { control = "required"; module = "debug"; } ); };
  fhir = (
    { control = "requisite"; module = "expiry";
      args = { max_lifetime = 3600; require = [ "iat", "jti" ]; }; },
    { control = "requisite"; module = "revocation";
      args = { denylist = "$WORK/revoked"; check_interval_ms = 10; }; },
    { control = "requisite"; module = "scope_check"; },
    { control = "required"; module = "patient_link"; args = { fhir_version = "R4"; }; }$extra
  );
  bound = (
    { control = "substack"; stack = "fhir"; },
    { control = "required"; module = "device_trust";
      args = { bind = "mtls"; require_binding = true; posture = [ "managed=true" ]; }; }
  );
  dpop = (
    { control = "substack"; stack = "fhir"; },
    { control = "required"; module = "device_trust";
      args = { bind = "dpop"; require_binding = true; use_dpop_nonce = true;
               public_base = "$AUD"; }; }
  );
  checked = (
    { control = "requisite"; module = "scope_check"; },
    { control = "required"; module = "patient_link"; args = { unresolved = "check_response"; }; }
  );
};
CONF
    mv -f "$WORK/fhirpam.conf.new" "$WORK/fhirpam.conf"
}

# fp_token CLAIMS_JSON: a token signed with the test key, on stdout.
fp_token() {
    printf '%s' "$1" | "$FHIRPAM_CLI" token sign --key "$WORK/k.pem" --kid k1 --claims -
}

# fp_claims PATIENT SCOPE JTI [EXP_OFFSET] [IAT_OFFSET]
fp_claims() {
    local now
    now=$(date +%s)
    printf '{"iss":"%s","aud":"%s","sub":"user-1","client_id":"app-1","patient":"%s","scope":"%s","jti":"%s","exp":%d,"iat":%d}' \
        "$ISS" "$AUD" "$1" "$2" "$3" $((now + ${4:-1800})) $((now + ${5:-0}))
}

# fp_start_fhirpamd [EXTRA ARGS...]: sets FHIRPAMD_PID, FHIRPAMD_PORT.
fp_start_fhirpamd() {
    rm -f "$WORK/fhirpamd.port"
    "$FHIRPAMD" -c "$WORK/fhirpam.conf" --modules-dir "$MODULES_DIR" \
        --listen 127.0.0.1:0 --ready-file "$WORK/fhirpamd.port" \
        --base /fhir/r4 --route =fhir --route metadata=public --route Encounter=checked \
        --route Patient/789=bound --route Patient/321=dpop --client-cert-header X-Client-Cert \
        --device-header X-Device-Managed=managed \
        --trusted-peer 127.0.0.1 "$@" 2>>"$WORK/fhirpamd.log" &
    FHIRPAMD_PID=$!
    local i
    for i in $(seq 1 300); do
        [ -s "$WORK/fhirpamd.port" ] && break
        kill -0 "$FHIRPAMD_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ ! -s "$WORK/fhirpamd.port" ]; then
        echo "fhirpamd did not start:" >&2
        cat "$WORK/fhirpamd.log" >&2
        return 1
    fi
    FHIRPAMD_PORT=$(cat "$WORK/fhirpamd.port")
}

# fp_start_nginx [EXTRA_HTTP_BLOCK]: on a random free loopback port (tried
# again on another port if it is taken); sets NGINX_PID, NGINX_PORT and
# NGINX_PORT2: a second port, for the extra block (@PORT2@) or, after
# fp_tls, the TLS listener of the protected server.
fp_start_nginx() {
    local extra=${1:-} user="" attempt i
    if [ "$(id -u)" = 0 ]; then
        if getent passwd nobody >/dev/null && getent group nogroup >/dev/null; then
            user="user nobody nogroup;"
        else
            user="user root;"
        fi
    fi
    for attempt in $(seq 1 10); do
        NGINX_PORT=$((20000 + RANDOM % 40000))
        NGINX_PORT2=$((20000 + RANDOM % 40000))
        [ "$NGINX_PORT" != "$NGINX_PORT2" ] || continue
        local block=${extra//@PORT2@/$NGINX_PORT2} tls=""
        block=${block//@WORK@/$WORK}
        if [ -n "${TLS:-}" ]; then
            tls="listen 127.0.0.1:$NGINX_PORT2 ssl; ssl_certificate $WORK/tls/server.crt;"
            tls="$tls ssl_certificate_key $WORK/tls/server.key;"
            tls="$tls ssl_client_certificate $WORK/tls/ca.crt; ssl_verify_client optional;"
        fi
        sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@TLS@|$tls|" \
            -e "s|@FHIRPAMD_PORT@|$FHIRPAMD_PORT|g" -e "s|@USER@|$user|" \
            "$NGINX_LIB_DIR/nginx.conf.in" >"$WORK/nginx/nginx.conf.tmp"
        # @EXTRA@ may span lines: put it in with awk, not sed.
        EXTRA_BLOCK=$block awk '{ if ($0 == "@EXTRA@") print ENVIRON["EXTRA_BLOCK"]; else print }' \
            "$WORK/nginx/nginx.conf.tmp" >"$WORK/nginx/nginx.conf"
        : >"$WORK/nginx/error.log"
        "$NGINX_BIN" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
            </dev/null >>"$WORK/nginx/stdout.log" 2>&1 &
        NGINX_PID=$!
        for i in $(seq 1 200); do
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/_nginx_health"; then
                if { [ -z "$extra" ] || curl -s -o /dev/null --max-time 1 \
                    "http://127.0.0.1:$NGINX_PORT2/_nginx_health"; } &&
                    { [ -z "${TLS:-}" ] || curl -sk -o /dev/null --max-time 1 \
                        "https://127.0.0.1:$NGINX_PORT2/_nginx_health"; }; then
                    return 0
                fi
            fi
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        if ! grep -q "Address already in use" "$WORK/nginx/error.log"; then
            echo "nginx did not start:" >&2
            cat "$WORK/nginx/error.log" "$WORK/nginx/stdout.log" >&2
            return 1
        fi
    done
    echo "nginx: no free port after 10 attempts" >&2
    return 1
}

# fp_stop PID [SIGNAL]: signal a process this shell started and reap it; its
# exit status in STOP_RC.
fp_stop() {
    local pid=$1 sig=${2:-TERM}
    STOP_RC=0
    kill -"$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

fp_cleanup() {
    [ -n "${NGINX_PID:-}" ] && kill -TERM "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    [ -n "${FHIRPAMD_PID:-}" ] && kill -TERM "$FHIRPAMD_PID" 2>/dev/null &&
        wait "$FHIRPAMD_PID" 2>/dev/null
    return 0
}
