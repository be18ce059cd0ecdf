#!/usr/bin/env bash
# test_host_safety.sh - what a slow or faulty module can do to fhirpamd
# (issue 28 rows 2 and 3), against the real daemon on loopback:
#
#  signals  a module sleeps 20 s in one request; SIGHUP must reload and
#           SIGTERM must stop the daemon while it does, and other requests
#           are answered meanwhile.
#  unit     etc/fhirpamd.service restarts the daemon whatever the cause, at
#           once, without a rate limit.
#  fault    a module segfaults on one URL: fhirpamd, run with the unit's own
#           ExecStart options under a supervisor loop that does what the
#           unit's Restart= and RestartSec= say, exits at once (it does not
#           hang), is started again and answers the next request.
#  isolated the same module with isolation = "process": only that request
#           fails; the same daemon answers the next.
#
# Needs FHIRPAMD, FHIRPAM_TEST_MODULES_DIR (the bundled modules),
# FHIRPAM_TEST_BUILD_MODULES (the test modules), FHIRPAM_TEST_WORKER and
# FHIRPAM_UNIT (etc/fhirpamd.service); curl.
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
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
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

# ---- the unit: restart always, at once, no rate limit ----
# unit_value SECTION KEY: the last value of KEY in [SECTION] of the unit.
unit_value() {
    awk -v section="[$1]" -v key="$2" '
        /^\[/ { in_section = ($0 == section) }
        in_section && index($0, key "=") == 1 { value = substr($0, length(key) + 2) }
        END { print value }' "$FHIRPAM_UNIT"
}
restart=$(unit_value Service Restart)
[ "$restart" = always ] || fail "the unit says Restart=$restart, not always"
restart_sec=$(unit_value Service RestartSec)
case $restart_sec in
*ms) delay=$(awk -v ms="${restart_sec%ms}" 'BEGIN { printf "%.3f", ms / 1000 }') ;;
*s) delay=${restart_sec%s} ;;
*) fail "RestartSec=$restart_sec is not in s or ms" ;;
esac
awk -v d="$delay" 'BEGIN { exit !(d <= 1) }' || fail "RestartSec=$restart_sec: not at once"
[ "$(unit_value Unit StartLimitIntervalSec)" = 0 ] ||
    fail "the unit rate-limits restarts (StartLimitIntervalSec is not 0)"
if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
    # Only the unit's own syntax: its paths are the installed ones.
    systemd-analyze verify "$FHIRPAM_UNIT" 2>&1 | grep -v 'fhirpamd\|Command .* is not executable' |
        grep -i 'unknown\|invalid' && fail "systemd-analyze finds errors in the unit"
fi
ok "the unit restarts fhirpamd always, after $restart_sec, without a rate limit"

# The unit's ExecStart options, with the test's configuration, a free port
# and the build's modules.
exec_start=$(awk '/^ExecStart=/ { on = 1; sub(/^ExecStart=/, "") }
    on { line = $0; more = sub(/\\$/, "", line); printf "%s ", line; if (!more) exit }' "$FHIRPAM_UNIT")
read -r -a unit_args <<<"$exec_start"
args=()
for ((i = 1; i < ${#unit_args[@]}; i++)); do
    case ${unit_args[i]} in
    -c) args+=(-c "$WORK/unit.conf"); i=$((i + 1)) ;;
    --listen) args+=(--listen 127.0.0.1:0); i=$((i + 1)) ;;
    *) args+=("${unit_args[i]}") ;;
    esac
done
args+=(--modules-dir "$FHIRPAM_TEST_MODULES_DIR" --ready-file "$WORK/port")
base=$(printf '%s\n' "${args[@]}" | awk 'prev == "--base" { print; exit } { prev = $0 }')

# unit_config ISOLATION: the stacks the unit routes (fhir, public), fhir
# with the crash module (faulting on Patient/666), isolated or not.
unit_config() {
    cat >"$WORK/unit.conf" <<CONF
worker = "$FHIRPAM_TEST_WORKER";
stacks: {
  public = { token = "none"; lines = ( { control = "required"; module = "debug"; } ); };
  fhir = { token = "none"; lines = (
    { control = "required"; module = "$FHIRPAM_TEST_BUILD_MODULES/crash.so"; $1
      args = { on = "Patient/666"; }; } ); };
};
CONF
}

unit_ask() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'X-Original-Method: GET' \
        -H "X-Original-URI: $base/$1" "http://127.0.0.1:$(cat "$WORK/port")/auth" || true
}

# ---- a fault in process: exit, restart, answer ----
unit_config ""
supervise() {
    # What systemd does with Restart=always and RestartSec=: start the
    # service again, after the delay, whatever ended it.
    while [ ! -e "$WORK/stop" ]; do
        rm -f "$WORK/port"
        "$FHIRPAMD" "${args[@]}" 2>>"$WORK/fhirpamd.log" &
        echo $! >"$WORK/pid"
        status=0
        wait $! || status=$?
        echo "$status" >>"$WORK/exits"
        sleep "$delay"
    done
}
: >"$WORK/exits"
rm -f "$WORK/port"
supervise &
PIDS+=($!)
SUPERVISOR=$!
wait_until 20 test -s "$WORK/port" || fail "fhirpamd did not start with the unit's options"
first=$(cat "$WORK/pid")
PIDS+=("$first")
code=$(unit_ask Patient/1)
[ "$code" = 200 ] || fail "the unit's fhirpamd answers Patient/1 with $code, not 200"
code=$(unit_ask Patient/666)
[ "$code" != 200 ] || fail "a request that crashed the module was permitted"
wait_until 10 test -s "$WORK/exits" || fail "fhirpamd hangs after a module fault"
status=$(head -1 "$WORK/exits")
[ "$status" != 0 ] || fail "fhirpamd exited 0 after a module fault"
ok "a module fault ends fhirpamd at once (exit status $status), the request unanswered ($code)"
# The supervisor removes the port file before it starts the next process,
# and writes that process's pid after: a new pid and a port file mean the
# new process is listening.
new_port() { [ "$(cat "$WORK/pid")" != "$first" ] && [ -s "$WORK/port" ]; }
wait_until 10 new_port || fail "fhirpamd was not started again"
second=$(cat "$WORK/pid")
PIDS+=("$second")
[ "$second" != "$first" ] || fail "no new fhirpamd"
[ "$(unit_ask Patient/1)" = 200 ] || fail "the restarted fhirpamd does not answer"
ok "restarted after RestartSec=$restart_sec, and answering"
touch "$WORK/stop"
kill -TERM "$second"
wait "$SUPERVISOR" || true

# ---- the same fault, isolated: one request fails, the daemon stays ----
unit_config 'isolation = "process";'
rm -f "$WORK/port"
"$FHIRPAMD" "${args[@]}" 2>"$WORK/fhirpamd.log" &
PID=$!
PIDS+=("$PID")
wait_until 20 test -s "$WORK/port" || fail "fhirpamd did not start with an isolated module"
code=$(unit_ask Patient/666)
[ "$code" = 500 ] || fail "the request whose isolated module crashed got $code, not 500"
kill -0 "$PID" 2>/dev/null || fail "an isolated module's fault ended fhirpamd"
[ "$(unit_ask Patient/1)" = 200 ] || fail "fhirpamd does not answer after an isolated fault"
ok "isolated: the fault costs its request (500), the same fhirpamd answers the next"
kill -TERM "$PID"
status=0
wait "$PID" || status=$?
[ "$status" = 0 ] || fail "fhirpamd exited $status on SIGTERM"

echo "all fhirpamd host-safety checks passed"
