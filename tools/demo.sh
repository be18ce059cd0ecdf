#!/usr/bin/env bash
# demo.sh BUILD_DIR [--valgrind] - the example decisions of `./dev run`.
#
# Evaluates example requests against etc/demo/fhirpam.conf and prints each
# decision. With --valgrind, runs the same requests once through valgrind as a
# batch and fails on any memory error or leak.
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR [--valgrind]}
mode=${2:-}
cli=$build/tools/fhirpam
modules=$build/modules
demo=$build/demo
umask 077
mkdir -p "$demo"
cp etc/demo/fhirpam.conf "$demo/fhirpam.conf"

# stack|method url|what it shows
requests=(
    "public|GET metadata|a public endpoint: one module permits"
    "guarded|GET Observation?patient=Patient/123|a store that is down, tolerated by the stack"
    "closed|GET Observation/9|a requisite module that denies; the next line never runs"
    "first_failure_wins|GET Patient/123|a required failure is not rescued by a later sufficient"
    "nobody_decides|GET Patient/123|every module ignores: deny"
    "missing|GET Patient/123|a stack that does not exist: error, never a permit"
)

if [ "$mode" = --valgrind ]; then
    batch=$demo/requests.jsonl
    : >"$batch"
    for r in "${requests[@]}"; do
        IFS='|' read -r stack req _ <<<"$r"
        printf '{"stack":"%s","method":"%s","url":"%s"}\n' "$stack" "${req%% *}" "${req#* }" >>"$batch"
    done
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect "$cli" eval -c "$demo/fhirpam.conf" --modules-dir "$modules" \
        --batch "$batch"
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect "$cli" check -c "$demo/fhirpam.conf" --modules-dir "$modules"
    exit 0
fi

for r in "${requests[@]}"; do
    IFS='|' read -r stack req what <<<"$r"
    printf '\n### %s  [stack %s]\n### %s\n' "$req" "$stack" "$what"
    "$build/tools/fhirpam" eval -c "$demo/fhirpam.conf" --modules-dir "$modules" -s "$stack" \
        --request "$req" --pretty || true
done
