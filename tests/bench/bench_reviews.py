"""Benchmark: the review pages at 10k and at 1M submissions on PostgreSQL.

Creates its own PostgreSQL database (``bench_reviews`` on 127.0.0.1:5432, user
postgres), migrates it, seeds the catalog, then bulk-seeds SMALL submissions with
set-based SQL (``INSERT ... SELECT generate_series``): teachers (one per ten
submissions), 200 reviewers, two scored reviews per decided submission, decisions.
Work in flight does not grow with history (reviewer capacity bounds it), so every
size has the same 400 submissions in review, 50 awaiting a reviewer and 100 drafts;
decisions come at a steady 300 a day, so the history reaches further back as it grows.

It then measures p50 and p95 over REQUESTS requests of each page, and of its JSON
twin, for one reviewer, one teacher and one admin, through the Flask test client;
grows the same database to LARGE submissions (older history, more teachers) and
measures again. It prints the times and the ratio LARGE/SMALL of each p95, and
exits 1 if any ratio is above 1.5. The reliability report is computed by its
periodic job (its time is printed too); the pages read the latest snapshot.

Run: ``python tests/bench/bench_reviews.py [--small 10000] [--large 1000000]
[--requests 50] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "bench_reviews"
PASSWORD = "bench-password-1234"
REVIEWERS = 200
IN_REVIEW, AWAITING, DRAFTS, OVERDUE = 400, 50, 100, 20
DECISIONS_PER_DAY = 300
GOAL = 1.5
PAGES = [
    ("reviewer queue", "reviewer", "/reviewer"),
    ("reviewer queue API", "reviewer", "/api/v1/reviews/assignments"),
    ("teacher portfolio", "teacher", "/portfolio"),
    ("teacher portfolio API", "teacher", "/api/v1/submissions"),
    ("operations dashboard", "admin", "/admin/reviews"),
    ("operations dashboard API", "admin", "/api/v1/reviews/dashboard"),
    ("agreement report", "admin", "/admin/reliability"),
    ("agreement report API", "admin", "/api/v1/reliability"),
]


def admin_sql(statement: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def make_app(instance: Path) -> Any:
    os.environ["MICROCRED_INSTANCE"] = str(instance)
    from core.app import create_app

    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"{SERVER}/{DATABASE}",
            "REDIS_URL": "",
            "PUBLIC_BASE_URL": "http://bench.test",
            "MAIL_OUTBOX_PATH": str(instance / "mail"),
            "STORAGE_PATH": str(instance / "storage"),
            "LOGIN_RATE_LIMIT": "1000 per minute",
        }
    )


def prepare(app: Any) -> dict[str, Any]:
    """Schema by the migrations, the catalog, the admin; level sets per credential."""
    from flask_migrate import upgrade

    from accounts.models import Role
    from accounts.services import create_user, hash_password
    from core.extensions import db
    from core.registry import seeders
    from credentials.models import MicroCredential
    from rubrics.models import RubricVersion

    with app.app_context():
        upgrade()
        for seeder in seeders(app, include_demo=False):
            seeder.run()
        create_user(
            name="Bench Admin",
            email="admin@bench.example.org",
            password=PASSWORD,
            roles=(Role.PROGRAM_ADMIN,),
        )
        db.session.commit()
        level_sets = []
        for credential in db.session.scalars(
            db.select(MicroCredential).order_by(MicroCredential.id)
        ):
            version = db.session.get(RubricVersion, credential.rubric_version_id)
            for variant in range(4):  # variants 0-2 agree often; 3 is a harsher scorer
                levels = {}
                for number, criterion in enumerate(version.criteria):
                    ordered = list(criterion.levels)
                    index = min(len(ordered) - 1, max(0, len(ordered) - 1 - (variant + number) % 3))
                    level = ordered[index]
                    levels[criterion.key] = {
                        "level": level.name,
                        "score": level.score,
                        "feedback": "" if index else "Show the adaptation in the lesson plan.",
                    }
                level_sets.append((credential.id, credential.code, variant, json.dumps(levels)))
        return {"password_hash": hash_password(PASSWORD), "level_sets": level_sets}


SEED_SQL = """
-- teachers [%(t0)s, %(t1)s) and, the first time, the reviewers
INSERT INTO users (email, name, password_hash, status, organization_id, is_demo, session_token,
                   created_at)
SELECT 'teacher' || g || '@bench.example.org', 'Teacher ' || g, %(hash)s, 'active',
       (SELECT min(id) FROM organizations) , false, md5(g::text || 't'), now()
FROM generate_series(%(t0)s, %(t1)s - 1) AS g;
INSERT INTO user_roles (user_id, role, granted_at)
SELECT id, 'teacher', now() FROM users
WHERE email LIKE 'teacher%%@bench.example.org'
  AND id NOT IN (SELECT user_id FROM user_roles WHERE role = 'teacher');

CREATE TEMP TABLE bench_teachers AS
SELECT row_number() OVER (ORDER BY id) - 1 AS t, id FROM users WHERE email LIKE 'teacher%%@bench.example.org';
CREATE UNIQUE INDEX ON bench_teachers (t);
CREATE TEMP TABLE bench_reviewers AS
SELECT row_number() OVER (ORDER BY id) - 1 AS r, id FROM users WHERE email LIKE 'reviewer%%@bench.example.org';
CREATE UNIQUE INDEX ON bench_reviewers (r);
ANALYZE bench_teachers;
ANALYZE bench_reviewers;

-- decided submissions k in [%(k0)s, %(k1)s): k = 0 is the newest decision
INSERT INTO submissions (teacher_id, credential_id, credential_code, attempt, status,
    privacy_attested_at, precheck_problems, created_at, updated_at, submitted_at, decided_at,
    lock_version)
SELECT t.id, c.id, c.code, 1 + (s.k - %(k0)s) / (%(tn)s * %(cn)s), s.status,
       s.decided - interval '6 days', '[]', s.decided - interval '8 days', s.decided,
       s.decided - make_interval(days => 3 + (s.k %% 10)), s.decided, 1
FROM (
    SELECT k, now() - make_interval(secs => k * 86400.0 / %(rate)s) AS decided,
           CASE WHEN k %% 10 < 7 THEN 'passed' ELSE 'not_yet' END AS status
    FROM generate_series(%(k0)s, %(k1)s - 1) AS k
) s
JOIN bench_teachers t ON t.t = %(t0)s + (s.k - %(k0)s) %% %(tn)s
JOIN bench_credentials c ON c.n = ((s.k - %(k0)s) / %(tn)s) %% %(cn)s
ORDER BY s.k DESC;

INSERT INTO review_assignments (submission_id, reviewer_id, role, status, assigned_at, due_at,
    submitted_at, reminders_sent, rubric_version_id, levels)
SELECT s.id, r.id, 'primary', 'submitted', s.submitted_at + interval '1 hour',
       s.submitted_at + interval '14 days', s.decided_at - make_interval(mins => 60 * x.n),
       '[]', c.rubric_version_id, l.levels
FROM submissions s
JOIN bench_credentials c ON c.id = s.credential_id
CROSS JOIN (VALUES (1), (2)) AS x(n)
JOIN bench_reviewers r ON r.r = CASE WHEN x.n = 1 THEN s.id %% %(reviewers)s
     ELSE (s.id %% %(reviewers)s + 1 + (s.id / %(reviewers)s) %% (%(reviewers)s - 1)) %% %(reviewers)s END
JOIN bench_levels l ON l.credential_id = s.credential_id
     AND l.variant = CASE WHEN x.n = 1 THEN s.id %% 3 ELSE (s.id / 7) %% 4 END
WHERE s.id > %(last_id)s AND s.status IN ('passed', 'not_yet');

INSERT INTO decisions (submission_id, outcome, method, rubric_version_id, final_levels, decided_at)
SELECT s.id, s.status, 'agreement', c.rubric_version_id, l.levels, s.decided_at
FROM submissions s
JOIN bench_credentials c ON c.id = s.credential_id
JOIN bench_levels l ON l.credential_id = s.credential_id AND l.variant = s.id %% 3
WHERE s.id > %(last_id)s AND s.status IN ('passed', 'not_yet');
"""

IN_FLIGHT_SQL = """
-- the same work in flight at every size: drafts, awaiting a reviewer, in review
INSERT INTO submissions (teacher_id, credential_id, credential_code, attempt, status,
    precheck_problems, created_at, updated_at, submitted_at, lock_version)
SELECT t.id, c.id, c.code, 9, CASE WHEN g < %(drafts)s THEN 'draft' ELSE 'in_review' END,
       '[]', now() - interval '5 days', now() - interval '1 day',
       CASE WHEN g < %(drafts)s THEN NULL ELSE now() - make_interval(hours => g %% 200) END, 1
FROM generate_series(0, %(total)s - 1) AS g
JOIN bench_teachers t ON t.t = g
JOIN bench_credentials c ON c.n = 0;

INSERT INTO review_assignments (submission_id, reviewer_id, role, status, assigned_at, due_at,
    reminders_sent, rubric_version_id, levels)
SELECT s.id, r.id, 'primary', 'assigned', now() - interval '2 days',
       CASE WHEN s.id %% %(in_review)s < %(overdue)s THEN now() - interval '1 day'
            ELSE now() + make_interval(days => 1 + s.id %% 12) END,
       '[]', c.rubric_version_id, '{}'
FROM (SELECT id, credential_id, row_number() OVER (ORDER BY id) AS n FROM submissions
      WHERE status = 'in_review') s
JOIN bench_credentials c ON c.id = s.credential_id
CROSS JOIN (VALUES (1), (2)) AS x(n)
JOIN bench_reviewers r ON r.r = (s.n * 2 + x.n) %% %(reviewers)s
WHERE s.n > %(awaiting)s;
"""


def seed(app: Any, prepared: dict[str, Any], start: int, stop: int) -> float:
    """Decided submissions [start, stop) (older than any before), with their teachers."""
    began = time.perf_counter()
    teachers_before, teachers_after = start // 10, stop // 10
    connection = psycopg.connect(f"{SERVER}/{DATABASE}")
    try:
        cursor = connection.cursor()
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(
            "CREATE TEMP TABLE bench_credentials AS SELECT row_number() OVER "
            "(ORDER BY id) - 1 AS n, id, code, rubric_version_id FROM micro_credentials"
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_levels (credential_id int, code text, variant int, levels json)"
        )
        cursor.executemany(
            "INSERT INTO bench_levels VALUES (%s, %s, %s, %s)", prepared["level_sets"]
        )
        cursor.execute("SELECT count(*) FROM bench_credentials")
        credentials = cursor.fetchone()[0]
        if start == 0:
            cursor.execute(
                "INSERT INTO users (email, name, password_hash, status, is_demo, "
                "session_token, created_at) SELECT 'reviewer' || g || '@bench.example.org', "
                "'Reviewer ' || lpad(g::text, 3, '0'), %s, 'active', false, "
                "md5(g::text || 'r'), now() FROM generate_series(0, %s - 1) AS g",
                (prepared["password_hash"], REVIEWERS),
            )
            cursor.execute(
                "INSERT INTO user_roles (user_id, role, granted_at) SELECT id, 'reviewer', "
                "now() FROM users WHERE email LIKE 'reviewer%%@bench.example.org'"
            )
        cursor.execute("SELECT coalesce(max(id), 0) FROM submissions")
        last_id = cursor.fetchone()[0]
        parameters = {
            "hash": prepared["password_hash"],
            "t0": teachers_before,
            "t1": teachers_after,
            "tn": teachers_after - teachers_before,
            "cn": credentials,
            "k0": start,
            "k1": stop,
            "rate": DECISIONS_PER_DAY,
            "reviewers": REVIEWERS,
            "last_id": last_id,
        }
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                cursor.execute(statement, parameters)
        if start == 0:
            in_flight = {
                "drafts": DRAFTS,
                "total": DRAFTS + IN_REVIEW + AWAITING,
                "in_review": IN_REVIEW + AWAITING,
                "awaiting": AWAITING,
                "overdue": OVERDUE,
                "reviewers": REVIEWERS,
            }
            for statement in IN_FLIGHT_SQL.split(";\n"):
                if statement.strip():
                    cursor.execute(statement, in_flight)
        connection.commit()
        connection.autocommit = True
        for table in ("users", "user_roles", "submissions", "review_assignments", "decisions"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    finally:
        connection.close()
    return time.perf_counter() - began


def refresh_report() -> float:
    """The reliability job, in its own process as an RQ worker would run it (its memory
    would otherwise weigh on every request measured after it)."""
    began = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--refresh-only"], check=True)
    return time.perf_counter() - began


def run_refresh_job() -> None:
    from reviews.jobs import refresh_reliability

    app = make_app(Path(tempfile.mkdtemp(prefix="bench-reviews-job-")))
    with app.app_context():
        refresh_reliability()


def sign_in(app: Any, email: str) -> Any:
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True).split("<main", 1)[-1][:1500]
    return client


def measure(app: Any, requests: int) -> dict[str, tuple[float, float]]:
    clients = {
        "reviewer": sign_in(app, "reviewer0@bench.example.org"),
        "teacher": sign_in(app, "teacher0@bench.example.org"),
        "admin": sign_in(app, "admin@bench.example.org"),
    }
    results = {}
    for name, who, path in PAGES:
        client = clients[who]
        for _ in range(5):  # warm caches and connections
            assert client.get(path).status_code == 200, (name, path)
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, (name, response.status_code)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        results[name] = (statistics.median(times) * 1000, p95 * 1000)
    return results


def counts(app: Any) -> str:
    from core.extensions import db

    with app.app_context():
        row = db.session.execute(
            db.text(
                "SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM "
                "review_assignments), (SELECT count(*) FROM decisions), (SELECT count(*) FROM users)"
            )
        ).one()
    return f"{row[0]:,} submissions, {row[1]:,} reviews, {row[2]:,} decisions, {row[3]:,} users"


def timed(label: str, action: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - began:.1f} s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--refresh-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.refresh_only:
        run_refresh_job()
        return 0
    in_flight = DRAFTS + IN_REVIEW + AWAITING
    small, large = args.small - in_flight, args.large - in_flight
    if small < 1000 or large <= small:
        parser.error(f"need {in_flight + 1000} <= --small < --large")

    admin_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {DATABASE}")
    instance = Path(tempfile.mkdtemp(prefix="bench-reviews-"))
    app = make_app(instance)
    try:
        prepared = timed("migrate and seed the catalog", lambda: prepare(app))
        print(f"bulk seed to {args.small:,}: {seed(app, prepared, 0, small):.1f} s")
        print(counts(app))
        print(f"reliability job at {args.small:,}: {refresh_report():.1f} s", flush=True)
        before = measure(app, args.requests)
        print(f"bulk seed to {args.large:,}: {seed(app, prepared, small, large):.1f} s")
        print(counts(app))
        print(f"reliability job at {args.large:,}: {refresh_report():.1f} s", flush=True)
        after = measure(app, args.requests)
    finally:
        from core.extensions import db

        with app.app_context():
            db.engine.dispose()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")

    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.requests} requests each, ms")
    header = f"{'page':<26} {'p50 small':>10} {'p95 small':>10} {'p50 large':>10} {'p95 large':>10} {'ratio p95':>10}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, _who, _path in PAGES:
        (p50a, p95a), (p50b, p95b) = before[name], after[name]
        ratio = p95b / p95a
        worst = max(worst, ratio)
        print(f"{name:<26} {p50a:>10.1f} {p95a:>10.1f} {p50b:>10.1f} {p95b:>10.1f} {ratio:>10.2f}")
    print(f"\nworst ratio {worst:.2f} (goal: at most {GOAL})")
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
