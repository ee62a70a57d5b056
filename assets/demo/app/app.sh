#!/bin/sh
# The sample service. It answers "requests" on the command line instead of a
# socket, so the demo needs nothing but a POSIX shell and runs anywhere.
#   sh app.sh status | greet NAME | add A B | health STAGE
# Sourced with APP_LIB=1, it only defines its functions (for the unit tests).

APP_DIR=$(cd "$(dirname "$0")" 2>/dev/null && pwd)
if [ "${APP_LIB:-}" = 1 ]; then
    # `. app.sh` does not move $0: the unit tests say where the app is.
    APP_DIR=${APP_HOME:-$APP_DIR}
fi
NAME=$(head -n 1 "$APP_DIR/NAME" 2>/dev/null || echo app)
VERSION=$(head -n 1 "$APP_DIR/VERSION" 2>/dev/null || echo 0.0.0)

greet() {
    printf 'Hello, %s!\n' "${1:-world}"
}

add() {
    echo $(($1 + $2))
}

status() {
    printf '{"service":"%s","version":"%s","status":"ok"}\n' "$NAME" "$VERSION"
}

# Health reads a flag shipped inside the release, so a release can be healthy
# everywhere but in one stage: the demo's way of breaking prod only.
health() {
    stage=${1:-}
    if [ -n "$stage" ] && [ -f "$APP_DIR/HEALTH_FAIL_IN" ] &&
        grep -qx "$stage" "$APP_DIR/HEALTH_FAIL_IN"; then
        echo "GET /healthz -> 503 Service Unavailable: connection pool exhausted ($NAME $VERSION in $stage)"
        return 1
    fi
    echo "GET /healthz -> 200 OK ($NAME $VERSION${stage:+ in $stage})"
}

if [ "${APP_LIB:-}" != 1 ]; then
    cmd=${1:-status}
    [ $# -gt 0 ] && shift
    case "$cmd" in
    status) status ;;
    greet) greet "$@" ;;
    add) add "$@" ;;
    health) health "$@" ;;
    version) echo "$VERSION" ;;
    *)
        echo "app.sh: unknown command '$cmd' (try status, greet, add, health, version)" >&2
        exit 2
        ;;
    esac
fi
