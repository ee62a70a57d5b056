#!/bin/sh
# Unit tests of the app's functions. Usage: sh tests/unit.sh [REPORT.xml]
here=$(cd "$(dirname "$0")/.." && pwd)
_suite=unit
. "$here/tests/junit.sh"
APP_LIB=1 APP_HOME=$here . "$here/app.sh"

nap 0.3
check "greet says hello" "Hello, ferry!" "$(greet ferry)"
check "greet defaults to world" "Hello, world!" "$(greet)"
nap 0.3
check "add adds" "5" "$(add 2 3)"
check "add handles negatives" "-1" "$(add 2 -3)"
check_contains "status says ok" '"status":"ok"' "$(status)"
junit_write unit "${1:-}"
