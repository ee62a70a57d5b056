#!/bin/sh
# The health probe: ask the deployed release whether it is healthy here.
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
. "$ws/pipeline/common.sh"
release=$(release_dir)
sh "$release/app.sh" health "$FERRY_STAGE"
