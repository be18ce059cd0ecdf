# shellcheck shell=bash
# lib.sh - shared by test_nginx_module.sh and bench/nginx_module_bench.sh: a
# private nginx (own prefix and config, random loopback ports) that loads
# ngx_http_fhirpam_module, in front of fhir_stub.py. Sourced, not run.
#
# Needs: NGINX_MODULE (the .so), FHIRPAM_CLI, MODULES_DIR, WORK (empty dir).
# Tokens and TLS certificates come from tests/nginx/lib.sh.
NM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../nginx/lib.sh
. "$NM_DIR/../nginx/lib.sh"

# nm_prepare: directories, the signing key and its JWKS, the consent store.
nm_prepare() {
    umask 022
    chmod 755 "$WORK"
    mkdir -p "$WORK/nginx/tmp"
    : >"$WORK/revoked"
    cp -r "$NM_DIR/consent" "$WORK/consent"
    mkdir -p "$WORK/www/static/r4/Patient"
    cp "$NM_DIR/data/patient-123.json" "$WORK/www/static/r4/Patient/123"
    # The workers (user nobody when nginx runs as root) write the audit
    # file; nginx -t checks that they can.
    mkdir -p "$WORK/audit"
    if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null && getent group nogroup >/dev/null; then
        chown nobody:nogroup "$WORK/audit"
    fi
    "$FHIRPAM_CLI" token keygen --alg ES256 --kid k1 --private-key-out "$WORK/k.pem" \
        --jwks-out "$WORK/jwks.json" >/dev/null
    chmod 600 "$WORK/k.pem"
}

# nm_config [EXTRA_FHIR_LINE]: the fhirpam configuration, written atomically.
# CONSENT=off leaves consent out; UNRESOLVED sets patient_link's unresolved.
nm_config() {
    local consent=',
    { control = "[success=ok ignore=ignore default=bad]"; module = "consent";
      args = { store = "'"$WORK"'/consent"; check_interval_ms = 10; }; }'
    [ "${CONSENT:-on}" = off ] && consent=""
    cat >"$WORK/fhirpam.conf.new" <<CONF
modules_dir = "$MODULES_DIR";
fhir_base = "https://fhir.test/fhir/r4";
token: { issuer = "$ISS"; audience = "$AUD"; jwks = "jwks.json"; algorithms = [ "ES256", "RS256" ]; };
audit: { sink = "file"; path = "$WORK/audit/decisions.jsonl"; required = true; };
stacks: {
  public = { token = "none"; lines = ( { control = "required"; module = "debug"; } ); };
  fhir = (
    { control = "requisite"; module = "expiry"; args = { max_lifetime = 3600; require = [ "iat", "jti" ]; }; },
    { control = "requisite"; module = "revocation"; args = { denylist = "$WORK/revoked"; check_interval_ms = 10; }; },
    { control = "requisite"; module = "scope_check"; },
    { control = "required"; module = "patient_link"; args = { unresolved = "${UNRESOLVED:-check_response}"; }; }$consent${1:-}
  );
  bound = (
    { control = "substack"; stack = "fhir"; },
    { control = "required"; module = "device_trust";
      args = { bind = "mtls"; require_binding = true; posture = [ "managed=true" ]; }; }
  );
  dpop = (
    { control = "substack"; stack = "fhir"; },
    { control = "required"; module = "device_trust";
      args = { bind = "dpop"; require_binding = true; use_dpop_nonce = true; }; }
  );
  dpop_nononce = (
    { control = "substack"; stack = "fhir"; },
    { control = "required"; module = "device_trust"; args = { bind = "dpop"; require_binding = true; }; }
  );
};
CONF
    mv -f "$WORK/fhirpam.conf.new" "$WORK/fhirpam.conf"
}

# nm_start_stub: fhir_stub.py on a free port; sets STUB_PID, STUB_PORT.
nm_start_stub() {
    rm -f "$WORK/stub.port"
    python3 "$NM_DIR/fhir_stub.py" "$NM_DIR/data" "$WORK/upstream.jsonl" "$WORK/stub.port" \
        2>>"$WORK/stub.log" &
    STUB_PID=$!
    local i
    for i in $(seq 1 200); do
        [ -s "$WORK/stub.port" ] && break
        sleep 0.05
    done
    STUB_PORT=$(cat "$WORK/stub.port")
}

# nm_write_nginx_conf [TEMPLATE]: fills the template in (ports chosen here)
# into $WORK/nginx/nginx.conf. WORKERS, KEEPALIVE override 2 and 75s.
nm_write_nginx_conf() {
    local template=${1:-$NM_DIR/nginx.conf.in} user=""
    if [ "$(id -u)" = 0 ]; then
        if getent passwd nobody >/dev/null && getent group nogroup >/dev/null; then
            user="user nobody nogroup;"
        else
            user="user root;"
        fi
    fi
    NGINX_PORT=${NGINX_PORT:-$((20000 + RANDOM % 40000))}
    NGINX_TLS_PORT=${NGINX_TLS_PORT:-$((20000 + RANDOM % 40000))}
    NGINX_PORT2=${NGINX_PORT2:-$((20000 + RANDOM % 40000))}
    NGINX_PORT3=${NGINX_PORT3:-$((20000 + RANDOM % 40000))}
    sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@TLSPORT@|$NGINX_TLS_PORT|g" \
        -e "s|@PORT2@|$NGINX_PORT2|g" -e "s|@PORT3@|$NGINX_PORT3|g" \
        -e "s|@UPSTREAM@|${STUB_PORT:-1}|g" -e "s|@MODULE@|$NGINX_MODULE|g" -e "s|@USER@|$user|" \
        -e "s|@WORKERS@|${WORKERS:-2}|" -e "s|@KEEPALIVE@|${KEEPALIVE:-75s}|" \
        -e "s|@FHIRPAMD_PORT@|${FHIRPAMD_PORT:-1}|g" "$template" >"$WORK/nginx/nginx.conf"
}

# nm_start_nginx [TEMPLATE]: sets NGINX_PID (tried again on other ports if
# one is taken).
nm_start_nginx() {
    local attempt i
    for attempt in $(seq 1 10); do
        nm_write_nginx_conf "$@"
        : >"$WORK/nginx/error.log"
        "$NGINX_BIN" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
            </dev/null >>"$WORK/nginx/stdout.log" 2>&1 &
        NGINX_PID=$!
        for i in $(seq 1 200); do
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/_nginx_health"; then
                return 0
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
        unset NGINX_PORT NGINX_TLS_PORT NGINX_PORT2 NGINX_PORT3
    done
    echo "nginx: no free port after 10 attempts" >&2
    return 1
}

# Stops what nm_start_* started (by PID); a status from wait is not a failure.
nm_cleanup() {
    local pid
    for pid in "${NGINX_PID:-}" "${STUB_PID:-}" "${FHIRPAMD_PID:-}"; do
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    return 0
}
