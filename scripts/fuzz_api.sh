#!/usr/bin/env bash
# Nightly-style API fuzzing: schemathesis (every phase: examples, coverage, fuzzing,
# stateful) against `microcred serve` (gunicorn, a worker, SQLite and an embedded
# Redis in a temporary instance with the demo data and badge), once per role
# (anonymous, teacher, reviewer, verifier, admin) with that demo user's API token.
# Checks: no 5xx, documented status, documented content type, body matching its schema.
#
#   pip install -e '.[test]' && scripts/fuzz_api.sh          # FUZZ_EXAMPLES=200 by default
#
# The bounded version runs in the test suite: tests/security/test_api_fuzz.py.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${FUZZ_EXAMPLES:-200}"
WORK="$(mktemp -d)"
PORT="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export MICROCRED_INSTANCE="$WORK/instance"
unset DATABASE_URL REDIS_URL
SERVER=""

cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

microcred serve --port "$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null

python - "$WORK/tokens" <<'PY'
import sys
from pathlib import Path
from accounts.services import create_api_token, find_user_by_email
from core.app import create_app

out = Path(sys.argv[1])
out.mkdir(mode=0o700)
with create_app().app_context():
    for role, email in {
        "teacher": "teacher@example.org",
        "reviewer": "reviewer@example.org",
        "verifier": "verifier@example.org",
        "admin": "admin@example.org",
    }.items():
        _token, secret = create_api_token(find_user_by_email(email), f"fuzz {role}")
        (out / role).write_text(secret)
PY

failed=0
for role in anonymous teacher reviewer verifier admin; do
  echo "== schemathesis as $role, $EXAMPLES examples per operation =="
  auth=()
  if [ "$role" != anonymous ]; then
    # Revoking tokens by guessed id would soon revoke the one in use, and the rest of
    # the run would only see 401s; anonymous runs still fuzz that operation.
    auth=(-H "Authorization: Bearer $(cat "$WORK/tokens/$role")"
      --exclude-name "DELETE /api/v1/tokens/{token_id}")
  fi
  schemathesis run "http://127.0.0.1:$PORT/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed 20261126 --request-timeout 60 --continue-on-failure \
    "${auth[@]}" || failed=1
done
exit "$failed"
