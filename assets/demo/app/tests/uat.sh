#!/bin/sh
# User acceptance: the journeys a product owner clicks through, scripted.
# Usage: sh tests/uat.sh [REPORT.xml]
here=$(cd "$(dirname "$0")/.." && pwd)
_suite=uat
. "$here/tests/junit.sh"

for who in Ada Grace Linus; do
    nap 0.2
    check "a visitor named $who is greeted" "Hello, $who!" "$(sh "$here/app.sh" greet "$who")"
done
junit_write uat "${1:-}"
