#!/usr/bin/env bash
# Checks the live API against its own OpenAPI document with schemathesis
# (a client nobody here wrote): no 5xx, no response contradicting the
# schema. Starts the debug binary on 127.0.0.1 with a small config and a
# token, runs a bounded number of examples (well under 2 minutes), stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

BIN="${FERRY_BIN:-target/debug/ferry}"
[ -x "$BIN" ] || cargo build
WORK="$(mktemp -d)"
TOKEN="ferry_schemathesis_0000000000000000000000000000000000000000000000000000000000"
HASH="$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)"
cat > "$WORK/ferry.toml" <<TOML
[server]
listen = "127.0.0.1:0"
data_dir = "$WORK/data"

[[users]]
name = "ci"
roles = ["admin", "release-manager"]
token_sha256 = "$HASH"

[services.web]
source = "external"

[[services.web.stages]]
name = "test"
deploy = { command = "true" }

[[services.web.stages]]
name = "prod"
deploy = { command = "true" }
gate = { approval = { required = 1, roles = ["release-manager"] } }
TOML

"$BIN" server --config "$WORK/ferry.toml" > "$WORK/stdout" 2> "$WORK/stderr" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/stdout" 2>/dev/null && break
  sleep 0.1
done
URL="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$WORK/stdout" | head -1)"
[ -n "$URL" ] || { cat "$WORK/stderr"; echo "the server did not start" >&2; exit 1; }

# Something to read: one artifact, deployed to test, awaiting approval in prod.
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"service\":\"web\",\"version\":\"1.0\",\"digest\":\"$(printf 'ab%.0s' $(seq 32))\",\"uri\":\"file:///tmp/web.tar\"}" \
  "$URL/api/v1/artifacts" > /dev/null

# The event stream never ends: it is described, but not fuzzed.
timeout 170 "$VENV/bin/schemathesis" run "$URL/api/v1/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --header "Authorization: Bearer $TOKEN" \
  --exclude-path /api/v1/events \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --request-timeout 10 \
  --no-color
