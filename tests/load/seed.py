"""Accounts for the load test: teachers, qualified reviewers from another district and
state verifiers, each with an API token, written to a JSON file the locustfile reads.

Run against the configured database (``DATABASE_URL`` and friends), after
``microcred seed --demo``: ``python -m tests.load.seed ACCOUNTS.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import select

from accounts.models import OrganizationKind, Role, User
from accounts.services import create_api_token, create_user, get_or_create_organization
from badges.models import Badge
from core.app import create_app
from core.extensions import db
from credentials.models import CredentialStatus, MicroCredential
from reviews.services import grant_qualification

CODE = "UDL-05"
COUNTS = {"teachers": 200, "reviewers": 40, "verifiers": 50}
PASSWORD = "load-test password, not a secret"


def _accounts(prefix: str, count: int, role: Role, org_name: str, kind: OrganizationKind) -> list:
    org = get_or_create_organization(org_name, kind, "TN")
    tokens = []
    for n in range(count):
        email = f"{prefix}{n:03d}@load.example.org"
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = create_user(
                name=f"{prefix.title()} {n:03d}",
                email=email,
                password=PASSWORD,
                roles=(role,),
                organization=org,
                license_number=f"TN-9{n:05d}" if role == Role.TEACHER else None,
                license_state="TN" if role == Role.TEACHER else None,
            )
            db.session.flush()
            if role == Role.REVIEWER:
                grant_qualification(None, user.id, ["udl"])
        _token, secret = create_api_token(user, "load test")
        tokens.append(secret)
    db.session.commit()
    return tokens


def _passing_levels() -> dict[str, dict[str, str]]:
    credential = db.session.scalar(
        select(MicroCredential).where(
            MicroCredential.code == CODE, MicroCredential.status == CredentialStatus.PUBLISHED
        )
    )
    version = credential.rubric_version
    return {
        c.key: {"level": version.passing_level or c.levels[-1].name, "feedback": "Clear evidence."}
        for c in version.criteria
    }


def main(out: Path) -> None:
    app = create_app()
    with app.app_context():
        badge = db.session.scalar(select(Badge).order_by(Badge.issued_at).limit(1))
        assert badge is not None, "run `microcred seed --demo` first: it earns the demo badge"
        data = {
            "code": CODE,
            "levels": _passing_levels(),
            "badge_id": badge.id,
            "teachers": _accounts(
                "teacher",
                COUNTS["teachers"],
                Role.TEACHER,
                "Load District",
                OrganizationKind.DISTRICT,
            ),
            "reviewers": _accounts(
                "reviewer",
                COUNTS["reviewers"],
                Role.REVIEWER,
                "Load Reviewer Pool",
                OrganizationKind.PROVIDER,
            ),
            "verifiers": _accounts(
                "verifier",
                COUNTS["verifiers"],
                Role.STATE_VERIFIER,
                "Load State Office",
                OrganizationKind.STATE_AGENCY,
            ),
        }
    out.write_text(json.dumps(data, indent=1))
    out.chmod(0o600)
    print(f"{sum(COUNTS.values())} accounts with API tokens written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
