#!/usr/bin/env bash
# test_dev.sh - ./dev never hides a failing set-up step (issue 15): when meson,
# ninja or apt-get fails, it prints the command, the tool's own error lines and
# the log's path, and returns non-zero. meson and ninja are the real tools; the
# apt-get step uses a stand-in on PATH that fails as apt-get does, because the
# real one would need the network and root.
set -euo pipefail
src=${MESON_SOURCE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FHIRPAM_DEV_LOG_DIR=$tmp/logs
# shellcheck source=../../dev
source "$src/dev"
set +e
fails=0
expect() { # expect NAME OUTPUT STATUS PATTERN...
    local name=$1 out=$2 status=$3 p
    shift 3
    if [ "$status" = 0 ]; then
        echo "FAIL $name: exit status 0"
        fails=$((fails + 1))
        return
    fi
    for p in "$@"; do
        if ! grep -qF -- "$p" <<<"$out"; then
            echo "FAIL $name: output lacks '$p'; it was:"
            sed 's/^/  | /' <<<"$out"
            fails=$((fails + 1))
            return
        fi
    done
    echo "ok   $name (exit $status)"
}

# 1. meson setup fails: its ERROR line, the command and the log are printed.
out=$(setup "$tmp/b1" -Dno_such_option=1 2>&1)
expect "meson setup" "$out" $? "FAILED" "meson setup $tmp/b1" "ERROR: Unknown option" \
    "$tmp/logs/b1-meson-setup.log"

# 2. ninja fails on a broken build file: ninja's own error line.
mkdir -p "$tmp/b2"
echo 'rule' >"$tmp/b2/build.ninja"
out=$(setup "$tmp/b2" 2>&1)
expect "ninja" "$out" $? "FAILED" "ninja -C $tmp/b2" "ninja: error:" "$tmp/logs/b2-ninja.log"

# 3. apt-get fails: its E: line is shown, nothing is swallowed.
mkdir -p "$tmp/bin"
cat >"$tmp/bin/apt-get" <<'SH'
#!/bin/sh
[ "$1" = update ] && exit 0
echo "E: Unable to locate package fhirpam-no-such-package" >&2
exit 100
SH
printf '#!/bin/sh\nexec "$@"\n' >"$tmp/bin/sudo"
chmod +x "$tmp/bin/apt-get" "$tmp/bin/sudo"
out=$(PATH=$tmp/bin:$PATH install_missing fhirpam-no-such-package 2>&1)
expect "apt-get" "$out" $? "FAILED (exit 100)" "apt-get install" \
    "E: Unable to locate package fhirpam-no-such-package" "$tmp/logs/apt-get-install.log"

[ "$fails" = 0 ] && echo "dev set-up: 3 failing steps reported, each with its error" || exit 1
