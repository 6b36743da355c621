"""``microcred keys …`` and ``microcred verify FILE…``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from badges import issuers
from badges.verification import CheckResult, Report, verify_bytes
from core.errors import InvalidError
from core.extensions import db

keys = AppGroup("keys", help="Issuers' signing keys.")


@keys.command("rotate")
@click.option("--issuer", "slug", default=issuers.DEFAULT_SLUG, show_default=True)
def rotate(slug: str) -> None:
    """Start signing with a new key; old keys stay published and keep verifying."""
    issuer = (
        issuers.get_issuer(slug)
        if slug != issuers.DEFAULT_SLUG
        else issuers.ensure_default_issuer()
    )
    key = issuers.rotate_key(issuer)
    db.session.commit()
    click.echo(f"{issuer.name} now signs with {issuers.key_id(key)}.")


@keys.command("compromised")
@click.argument("fragment")
@click.option("--since", required=True, help="When it was compromised (ISO date/time, UTC)")
@click.option("--issuer", "slug", default=issuers.DEFAULT_SLUG, show_default=True)
def compromised(fragment: str, since: str, slug: str) -> None:
    """Mark a key compromised: badges it signed after SINCE stop verifying."""
    moment = datetime.fromisoformat(since)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    issuers.mark_compromised(issuers.get_issuer(slug), fragment, moment)
    db.session.commit()
    click.echo(f"{fragment} is marked compromised since {moment.isoformat()}.")


@click.command("verify")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results")
@with_appcontext
def verify(files: tuple[Path, ...], as_json: bool) -> None:
    """Verify credentials (JSON or VC-JWT), baked PNG badges or certificate PDFs; exit 1 if any fails."""
    failed = 0
    results = []
    for path in files:
        try:
            report = verify_bytes(path.read_bytes())
        except InvalidError as exc:
            report = Report(checks=[CheckResult("format", False, exc.message)])
            report.verdict = f"Not valid: {exc.message}"
        failed += not report.valid
        results.append({"file": str(path), **report.as_dict()})
        if not as_json:
            click.echo(f"{path}: {report.verdict}")
            for check in report.checks:
                click.echo(f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.reason}")
    if as_json:
        click.echo(json.dumps(results, indent=2))
    sys.exit(1 if failed else 0)
