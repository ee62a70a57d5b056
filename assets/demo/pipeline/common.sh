# Helpers shared by the pipeline scripts (sourced).

# nap SECONDS: a visible pause, shortened by FERRY_DEMO_SPEED.
nap() {
    sleep "$(awk -v s="$1" -v k="${FERRY_DEMO_SPEED:-1}" 'BEGIN { if (k <= 0) k = 1; printf "%.3f", s / k }')"
}

# need VAR...: fail with a clear message when ferry did not set a variable.
need() {
    for v in "$@"; do
        eval "val=\${$v:-}"
        if [ -z "$val" ]; then
            echo "$(basename "$0"): $v is not set; hint: run this script as a ferry step" >&2
            exit 2
        fi
    done
}

# find_artifact: print the path of the artifact file. FERRY_ARTIFACT may be a
# path or an id; the content-addressed store is the fallback.
find_artifact() {
    if [ -n "${FERRY_ARTIFACT:-}" ] && [ -f "$FERRY_ARTIFACT" ]; then
        echo "$FERRY_ARTIFACT"
        return 0
    fi
    for dir in "${FERRY_DATA_DIR:-}" "$ws/data"; do
        if [ -n "$dir" ] && [ -n "${FERRY_DIGEST:-}" ] && [ -f "$dir/artifacts/sha256/$FERRY_DIGEST" ]; then
            echo "$dir/artifacts/sha256/$FERRY_DIGEST"
            return 0
        fi
    done
    return 1
}

# release_dir: the release running in this service's stage.
release_dir() {
    need FERRY_SERVICE FERRY_STAGE
    dir="$ws/targets/$FERRY_SERVICE/$FERRY_STAGE/current"
    if [ ! -d "$dir" ]; then
        echo "$(basename "$0"): nothing is deployed at $dir" >&2
        exit 1
    fi
    echo "$dir"
}
