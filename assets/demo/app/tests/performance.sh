#!/bin/sh
# Performance check: a burst of requests must finish within the budget.
# Usage: sh tests/performance.sh [REPORT.xml]
here=$(cd "$(dirname "$0")/.." && pwd)
_suite=performance
. "$here/tests/junit.sh"
requests=25
budget=10

start=$(date +%s)
i=0
while [ "$i" -lt "$requests" ]; do
    sh "$here/app.sh" status >/dev/null || echo "request $i failed"
    i=$((i + 1))
done
nap 0.8
elapsed=$(($(date +%s) - start))
echo "$requests requests in ${elapsed}s (budget ${budget}s)"
if [ "$elapsed" -le "$budget" ]; then ok=yes; else ok=no; fi
check "$requests requests within ${budget}s" yes "$ok"
junit_write performance "${1:-}"
