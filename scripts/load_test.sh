#!/usr/bin/env bash
# Load test on this machine: gunicorn + PostgreSQL + Redis + 2 RQ workers, driven by
# locust (tests/load/locustfile.py) with 200 teachers, 40 reviewers and 50 verifiers,
# all traffic to 127.0.0.1. Afterwards the queues are drained and `microcred doctor`
# and `microcred audit verify` check the invariants. Prints throughput, p50/p95/p99
# and the error rate; exits 1 on any error other than rate limiting (429) or on a
# broken invariant.
#
#   pip install -e '.[load]' && scripts/load_test.sh
#
# Settings (environment): LOAD_RUN_TIME (3m), LOAD_WEB_WORKERS (3), LOAD_PG
# (postgresql://postgres@127.0.0.1:5432), LOAD_DB (load_test, created and dropped
# here), LOAD_REDIS_URL (redis://127.0.0.1:6379/12, flushed before and after),
# LOAD_REPORT_DIR (unset: locust's CSV files and the logs are copied there when set).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_TIME="${LOAD_RUN_TIME:-3m}"
WEB_WORKERS="${LOAD_WEB_WORKERS:-3}"
PG="${LOAD_PG:-postgresql://postgres@127.0.0.1:5432}"
DB="${LOAD_DB:-load_test}"
PORT="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
WORK="$(mktemp -d)"
PIDS=()

export DATABASE_URL="$PG/$DB"
export REDIS_URL="${LOAD_REDIS_URL:-redis://127.0.0.1:6379/12}"
export MICROCRED_INSTANCE="$WORK/instance"
export PUBLIC_BASE_URL="http://127.0.0.1:$PORT"
export SECRET_KEY="load-test-$(python -c 'import secrets; print(secrets.token_hex(16))')"
export LOAD_ACCOUNTS="$WORK/accounts.json"

psql_admin() { psql "$PG/postgres" -v ON_ERROR_STOP=1 -q -c "$1"; }
flush_redis() { python -c "import redis, os; redis.Redis.from_url(os.environ['REDIS_URL']).flushdb()"; }

cleanup() {
  if [ -n "${LOAD_REPORT_DIR:-}" ]; then
    mkdir -p "$LOAD_REPORT_DIR" && cp "$WORK"/*.csv "$WORK"/*.log "$LOAD_REPORT_DIR"/ 2>/dev/null || true
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  flush_redis || true
  psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== database $DB, Redis $REDIS_URL, instance $MICROCRED_INSTANCE =="
psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin "CREATE DATABASE $DB"
flush_redis
microcred db upgrade >/dev/null 2>&1
microcred seed --demo | grep -E '^(Catalog|Demo badge)'
python -m tests.load.seed "$LOAD_ACCOUNTS"

# Keep-alive outlasts the users' think time (at most 15 s), as a proxy in front would:
# a server closing an idle connection just as the client reuses it is a client error.
echo "== gunicorn ($WEB_WORKERS processes x 8 threads) on 127.0.0.1:$PORT, 2 RQ workers, cron =="
gunicorn --worker-class gthread --workers "$WEB_WORKERS" --threads 8 --bind "127.0.0.1:$PORT" \
  --timeout 120 --keep-alive 30 --access-logfile /dev/null --error-logfile "$WORK/gunicorn.log" 'wsgi:app' &
PIDS+=($!)
for n in 1 2; do microcred worker >"$WORK/worker$n.log" 2>&1 & PIDS+=($!); done
microcred cron >"$WORK/cron.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null

echo "== locust: 290 users for $RUN_TIME =="
started=$(date +%s)
locust -f tests/load/locustfile.py --headless --host "http://127.0.0.1:$PORT" \
  --users 290 --spawn-rate 30 --run-time "$RUN_TIME" --stop-timeout 10 \
  --csv "$WORK/load" --only-summary --loglevel WARNING >"$WORK/locust.log" 2>&1 || true
echo "locust ran $(( $(date +%s) - started )) s"

echo "== draining the queues =="
python - <<'PY'
import time
from sqlalchemy import func, select
from core.app import create_app
from core.extensions import db
from core.jobs import QUEUES, get_queue
from core.models import OutboxMessage

app = create_app()
with app.app_context():
    for _ in range(300):
        pending = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.enqueued_at.is_(None)))
        queued = sum(len(get_queue(q)) + get_queue(q).started_job_registry.count for q in QUEUES)
        db.session.rollback()
        if not pending and not queued:
            break
        time.sleep(2)
    print(f"outbox waiting: {pending}, jobs queued or running: {queued}")
PY

echo "== what the run left behind =="
python - <<'PY'
from sqlalchemy import func, select
from badges.models import Badge
from core.app import create_app
from core.extensions import db
from evidence.models import Submission
from reviews.models import Decision, ReviewAssignment

with create_app().app_context():
    def by_status(model):
        rows = db.session.execute(select(model.status, func.count()).group_by(model.status))
        return ", ".join(f"{status} {count}" for status, count in sorted(rows))
    print(f"submissions: {by_status(Submission)}")
    print(f"review assignments: {by_status(ReviewAssignment)}")
    print(f"decisions: {db.session.scalar(select(func.count()).select_from(Decision))}")
    print(f"badges: {db.session.scalar(select(func.count()).select_from(Badge))}")
PY

echo "== invariants =="
invariants=0
microcred doctor || invariants=1
microcred audit verify || invariants=1

status=0
python - "$WORK/load_stats.csv" "$WORK/load_failures.csv" "$invariants" <<'PY' || status=$?
import csv, re, sys
stats_path, failures_path, invariants = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = list(csv.DictReader(open(stats_path)))
total = next(r for r in rows if r["Name"] == "Aggregated")
limited = other = 0
for row in csv.DictReader(open(failures_path)):
    count = int(row["Occurrences"])
    if re.match(r"\W*(CatchResponseError\W+)?429:", row["Error"]):
        limited += count
    else:
        other += count
        print(f"ERROR {row['Method']} {row['Name']}: {row['Error'][:300]} x{count}")
requests = int(total["Request Count"])
print(f"requests: {requests}, throughput: {float(total['Requests/s']):.1f} req/s")
print(f"latency ms: p50 {total['50%']}, p95 {total['95%']}, p99 {total['99%']}, max {float(total['Max Response Time']):.0f}")
print(f"rate limited (429): {limited} ({100 * limited / max(requests, 1):.2f}%)")
print(f"errors other than rate limiting: {other} ({100 * other / max(requests, 1):.2f}%)")
print("invariants: " + ("OK" if invariants == 0 else "BROKEN"))
print()
print(f"{'endpoint':<52} {'requests':>8} {'p50':>6} {'p95':>6} {'p99':>6}")
for row in rows:
    if row["Name"] != "Aggregated":
        print(f"{row['Type'] + ' ' + row['Name']:<52} {row['Request Count']:>8} {row['50%']:>6} {row['95%']:>6} {row['99%']:>6}")
sys.exit(1 if other or invariants else 0)
PY
if [ "$status" -ne 0 ]; then
  echo "== last lines of the gunicorn and worker logs =="
  tail -n 20 "$WORK/gunicorn.log" "$WORK"/worker*.log
fi
exit "$status"
