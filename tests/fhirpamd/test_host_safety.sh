#!/usr/bin/env bash
# test_host_safety.sh - what a slow or faulty module can do to fhirpamd
# (issue 28 rows 2 and 3), against the real daemon on loopback:
#
#  signals  a module sleeps 20 s in one request; SIGHUP must reload and
#           SIGTERM must stop the daemon while it does, and other requests
#           are answered meanwhile.
#
# Needs FHIRPAMD, FHIRPAM_TEST_MODULES_DIR (the bundled modules) and
# FHIRPAM_TEST_BUILD_MODULES (the test modules); curl.
set -euo pipefail

command -v curl >/dev/null || {
    [ "${CI:-}" = true ] && { echo "curl is missing" >&2; exit 1; }
    echo "curl not installed: skipped" >&2
    exit 77
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fhirpamd-safety.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
umask 022
fail() {
    echo "FAIL: $*" >&2
    [ -f "$WORK/fhirpamd.log" ] && sed 's/^/  fhirpamd| /' "$WORK/fhirpamd.log" >&2
    exit 1
}
ok() { echo "ok - $*"; }

# wait_until SECONDS CMD...: run CMD every 50 ms until it succeeds; false
# after SECONDS (a liveness bound: past it, the awaited thing never came).
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# start_fhirpamd CONFIG [ARGS...]: sets PID and PORT.
start_fhirpamd() {
    local conf=$1
    shift
    rm -f "$WORK/port"
    "$FHIRPAMD" -c "$conf" --modules-dir "$FHIRPAM_TEST_MODULES_DIR" --listen 127.0.0.1:0 \
        --ready-file "$WORK/port" --base /r4 --route =s --threads 2 "$@" \
        2>"$WORK/fhirpamd.log" &
    PID=$!
    PIDS+=("$PID")
    wait_until 20 test -s "$WORK/port" || fail "fhirpamd did not start"
    PORT=$(cat "$WORK/port")
}

# ask PATH: the status of a gateway check of GET /r4/PATH.
ask() {
    curl -s -o /dev/null -w '%{http_code}' --max-time "${2:-10}" \
        -H 'X-Original-Method: GET' -H "X-Original-URI: /r4/$1" "http://127.0.0.1:$PORT/auth" ||
        true
}

in_flight() {
    curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" | grep -q "^fhirpamd_in_flight_requests 2$"
}

# ---- signals while a module sleeps 20 s ----
cat >"$WORK/slow.conf" <<CONF
limits: { module_deadline_ms = 60000; reload_wait_ms = 200; };
stacks: { s = { token = "none"; lines = (
  { control = "required"; module = "$FHIRPAM_TEST_BUILD_MODULES/slow.so";
    args = { ms = 20000; only_url = "slow"; }; } ); }; };
CONF
start_fhirpamd "$WORK/slow.conf" --drain-seconds 1
[ "$(ask Patient/1)" = 200 ] || fail "a quick request is not permitted"
ask Patient/slow 30 >"$WORK/slow.status" &
PIDS+=($!)
wait_until 10 in_flight || fail "the slow request never reached the module"
kill -HUP "$PID"
wait_until 10 grep -q 'configuration reloaded' "$WORK/fhirpamd.log" ||
    fail "SIGHUP was not handled while a module ran"
ok "SIGHUP reloads while a module sleeps"
[ "$(ask Patient/1)" = 200 ] || fail "requests are not answered while a module sleeps"
ok "other requests are answered meanwhile"
kill -TERM "$PID"
wait_until 10 bash -c "! kill -0 $PID 2>/dev/null" ||
    fail "SIGTERM did not stop fhirpamd while a module slept"
status=0
wait "$PID" || status=$?
[ "$status" = 1 ] || fail "fhirpamd exited $status after abandoning a request, not 1"
grep -q 'inside a module that has not returned' "$WORK/fhirpamd.log" ||
    fail "fhirpamd did not say why it stopped without the request"
ok "SIGTERM stops fhirpamd within its drain while a module sleeps (exit 1)"
echo "all fhirpamd host-safety checks passed"
