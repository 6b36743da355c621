"""Demo accounts for the embedded mode (never in production).

Passwords are random, generated at first start and kept in the instance folder
(readable by the owner only) so that ``microcred serve`` can print them each time.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from flask import current_app

from accounts.models import OrganizationKind, Role
from accounts.services import (
    create_user,
    find_user_by_email,
    get_or_create_organization,
    hash_password,
)
from core.extensions import db

DEMO_ACCOUNTS: tuple[tuple[str, str, tuple[Role, ...], str], ...] = (
    ("teacher@example.org", "Dana Teacher", (Role.TEACHER,), "Riverbend School District"),
    ("reviewer@example.org", "Rafael Reviewer", (Role.REVIEWER,), "Lakeside County Schools"),
    ("reviewer2@example.org", "Riya Reviewer", (Role.REVIEWER,), "Summit Valley Schools"),
    (
        "admin@example.org",
        "Ada Admin",
        (Role.PROGRAM_ADMIN, Role.SITE_ADMIN),
        "Inclusive Practice Micro-credential Program",
    ),
    (
        "verifier@example.org",
        "Victor Verifier",
        (Role.STATE_VERIFIER,),
        "State Department of Education (demo)",
    ),
)
ORG_KINDS = {
    "Riverbend School District": OrganizationKind.DISTRICT,
    "Lakeside County Schools": OrganizationKind.DISTRICT,
    "Summit Valley Schools": OrganizationKind.DISTRICT,
    "Inclusive Practice Micro-credential Program": OrganizationKind.PROVIDER,
    "State Department of Education (demo)": OrganizationKind.STATE_AGENCY,
}


def _password_file() -> Path:
    return Path(current_app.instance_path) / "demo-accounts.json"


def ensure_demo_accounts() -> list[str]:
    """Create the demo accounts once; return the table of email, password, role."""
    if current_app.config["MICROCRED_ENV"] == "production":
        return []
    path = _password_file()
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for email, name, roles, org_name in DEMO_ACCOUNTS:
        user = find_user_by_email(email)
        if user is not None and email in known:
            continue
        password = secrets.token_urlsafe(12)
        known[email] = password
        if user is None:
            org = get_or_create_organization(org_name, ORG_KINDS[org_name], "TN")
            create_user(
                name=name,
                email=email,
                password=password,
                roles=roles,
                organization=org,
                is_demo=True,
                license_number="TN-100234" if Role.TEACHER in roles else None,
                license_state="TN" if Role.TEACHER in roles else None,
            )
        else:
            user.password_hash = hash_password(password)
    db.session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(known, handle, indent=2)
    width = max(len(email) for email, *_ in DEMO_ACCOUNTS)
    lines = ["Demo accounts (embedded mode only):", f"  {'email':<{width}}  {'password':<16}  role"]
    for email, _name, roles, _org in DEMO_ACCOUNTS:
        lines.append(f"  {email:<{width}}  {known[email]:<16}  {', '.join(r.label for r in roles)}")
    return lines
