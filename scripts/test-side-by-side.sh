#!/usr/bin/env bash
# The Python suite and the role tests side by side (`make test`): most of either waits on brokers, paced
# streams, JVM starts and one-core Ansible runs, so together they finish well before one after the other.
# Each line is prefixed with its suite ([pytest] / [roles]) and printed as it comes; each suite's full
# output is also kept in test-artifacts/. Exits non-zero when either suite failed, naming which.
#
#   scripts/test-side-by-side.sh       (after make setup-test; the role tests need root)
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts

# run NAME COMMAND...: COMMAND's output, prefixed, to stdout and test-artifacts/NAME.log; its exit code
# in test-artifacts/NAME.rc.
run() {
  local name="$1"
  shift
  { "$@" 2>&1; echo $? >"test-artifacts/$name.rc"; } | tee "test-artifacts/$name.log" | sed -u "s/^/[$name] /"
}

rm -f test-artifacts/pytest.rc test-artifacts/roles.rc
run pytest .venv/bin/pytest -n 2 --dist loadfile &
python_pid=$!
run roles tests/ansible/run.sh &
roles_pid=$!
wait "$python_pid" "$roles_pid"

failed=()
[ "$(cat test-artifacts/pytest.rc 2>/dev/null)" = 0 ] || failed+=("the Python suite (test-artifacts/pytest.log)")
[ "$(cat test-artifacts/roles.rc 2>/dev/null)" = 0 ] || failed+=("the role tests (test-artifacts/roles.log)")
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "both suites passed"
