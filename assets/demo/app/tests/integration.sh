#!/bin/sh
# Integration tests: drive the deployed release through its command line, the
# way its clients do. Usage: sh tests/integration.sh [REPORT.xml]
here=$(cd "$(dirname "$0")/.." && pwd)
_suite=integration
. "$here/tests/junit.sh"
version=$(head -n 1 "$here/VERSION")

echo "integration tests against $here"
nap 0.5
out=$(sh "$here/app.sh" status)
echo "GET /status -> $out"
check_contains "GET /status reports the deployed version" "\"version\":\"$version\"" "$out"
check_contains "GET /status says ok" '"status":"ok"' "$out"
nap 0.5
check "GET /greet?name=ops" "Hello, ops!" "$(sh "$here/app.sh" greet ops)"
check "GET /add?a=40&b=2" "42" "$(sh "$here/app.sh" add 40 2)"
junit_write integration "${1:-}"
