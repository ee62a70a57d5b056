#!/bin/sh
# A verification step: run one test suite shipped inside the deployed release
# against it. Usage: sh pipeline/verify.sh integration|performance|uat
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
. "$ws/pipeline/common.sh"
suite=${1:?usage: verify.sh SUITE}
release=$(release_dir)
sh "$release/tests/$suite.sh" "${FERRY_REPORT:-}"
