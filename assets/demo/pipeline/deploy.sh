#!/bin/sh
# Deploy (and roll back: same script, older artifact): unpack the artifact
# into targets/<service>/<stage>/releases/<version>/ and swap the `current`
# symlink atomically (ln -s + mv -T), so readers never see a half-deployed
# release and a rollback really puts the old files back.
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
. "$ws/pipeline/common.sh"
need FERRY_SERVICE FERRY_STAGE FERRY_VERSION

case "$FERRY_VERSION" in
'' | *[!A-Za-z0-9._+-]*)
    echo "deploy: refusing version '$FERRY_VERSION': only letters, digits and . _ + - are allowed in a release directory name" >&2
    exit 2
    ;;
esac

target="$ws/targets/$FERRY_SERVICE/$FERRY_STAGE"
release="$target/releases/$FERRY_VERSION"
mkdir -p "$target/releases"

artifact=$(find_artifact) || {
    echo "deploy: artifact of $FERRY_SERVICE $FERRY_VERSION not found (FERRY_ARTIFACT='${FERRY_ARTIFACT:-}', FERRY_DIGEST='${FERRY_DIGEST:-}'); hint: is FERRY_DATA_DIR set?" >&2
    exit 1
}

previous=$(readlink "$target/current" 2>/dev/null || true)
if [ "${FERRY_KIND:-promote}" = rollback ]; then
    echo "rolling $FERRY_SERVICE/$FERRY_STAGE back to $FERRY_VERSION (from ${previous:-nothing})"
else
    echo "deploying $FERRY_SERVICE $FERRY_VERSION to $FERRY_STAGE (was ${previous:-nothing})"
fi
nap 0.5

if [ -f "$release/.digest" ] && [ "$(cat "$release/.digest")" = "${FERRY_DIGEST:-none}" ]; then
    echo "release $FERRY_VERSION already unpacked, reusing it"
else
    tmp="$target/releases/.unpack.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    tar -xzf "$artifact" -C "$tmp"
    printf '%s\n' "${FERRY_DIGEST:-unknown}" >"$tmp/.digest"
    rm -rf "$release"
    mv "$tmp" "$release"
    echo "unpacked $(ls "$release" | wc -l | tr -d ' ') entries into releases/$FERRY_VERSION"
fi
nap 0.4

ln -s "releases/$FERRY_VERSION" "$target/.current.$$"
mv -T "$target/.current.$$" "$target/current"
echo "current -> releases/$FERRY_VERSION"
nap 0.3
