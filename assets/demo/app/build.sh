#!/bin/sh
# Build: run the unit tests (JUnit XML to $FERRY_REPORT), then pack the app
# into dist/app.tar.gz. Packing is deterministic where tar allows it, so the
# same commit gives the same digest.
set -eu
cd "$(dirname "$0")"
. tests/junit.sh

echo "building $(head -n 1 NAME) $(head -n 1 VERSION)"
nap 0.5
sh tests/unit.sh "${FERRY_REPORT:-reports/unit.xml}"

files="app.sh NAME VERSION tests"
if [ -f HEALTH_FAIL_IN ]; then files="$files HEALTH_FAIL_IN"; fi
rm -rf dist
mkdir -p dist
# GNU tar flags first (stable order, no timestamps or owners); plain tar otherwise.
# shellcheck disable=SC2086 # $files is a list of plain names
if ! tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf dist/app.tar $files 2>/dev/null; then
    tar -cf dist/app.tar $files
fi
gzip -n -f dist/app.tar
nap 0.5
echo "packed dist/app.tar.gz ($(wc -c <dist/app.tar.gz | tr -d ' ') bytes)"
