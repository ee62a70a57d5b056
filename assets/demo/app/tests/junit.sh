# Shared by the test suites: record test cases, then write a JUnit XML report.
# Usage: . junit.sh; check NAME EXPECTED ACTUAL ...; junit_write SUITE FILE
_pass=0
_fail=0
_cases=""

_esc() {
    printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

# check NAME EXPECTED ACTUAL: equality
check() {
    if [ "$2" = "$3" ]; then
        _pass=$((_pass + 1))
        _cases="$_cases  <testcase classname=\"$_suite\" name=\"$(_esc "$1")\"/>
"
        echo "ok    $1"
    else
        _fail=$((_fail + 1))
        _cases="$_cases  <testcase classname=\"$_suite\" name=\"$(_esc "$1")\"><failure message=\"$(_esc "expected '$2', got '$3'")\"/></testcase>
"
        echo "FAIL  $1: expected '$2', got '$3'"
    fi
}

# check_contains NAME NEEDLE HAYSTACK
check_contains() {
    case "$3" in
    *"$2"*) check "$1" "$2" "$2" ;;
    *) check "$1" "...$2..." "$3" ;;
    esac
}

# junit_write SUITE FILE: FILE may be empty (no report wanted); fails when a case failed.
junit_write() {
    if [ -n "$2" ]; then
        mkdir -p "$(dirname "$2")"
        {
            echo '<?xml version="1.0" encoding="UTF-8"?>'
            echo "<testsuite name=\"$1\" tests=\"$((_pass + _fail))\" failures=\"$_fail\" errors=\"0\" skipped=\"0\">"
            printf '%s' "$_cases"
            echo "</testsuite>"
        } >"$2"
    fi
    echo "$1: $_pass passed, $_fail failed"
    [ "$_fail" -eq 0 ]
}

# nap SECONDS: a visible pause, shortened by FERRY_DEMO_SPEED.
nap() {
    sleep "$(awk -v s="$1" -v k="${FERRY_DEMO_SPEED:-1}" 'BEGIN { if (k <= 0) k = 1; printf "%.3f", s / k }')"
}
