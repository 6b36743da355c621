"""The ``microcred`` command: serve, worker, cron, seed, audit, plus Flask's own
commands (``db upgrade``, ``routes``, ``shell``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from core.app import create_app


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False)
def cli() -> None:
    """Microcred: micro-credentials for educators."""


@cli.command("serve", with_appcontext=False)
@click.option("--host", default=None, envvar="HOST", help="Address to listen on [127.0.0.1]")
@click.option("--port", default=None, type=int, envvar="PORT", help="Port [5000]")
@click.option("--threads", default=8, show_default=True, help="Web server threads")
def serve_command(host: str | None, port: int | None, threads: int) -> None:
    """Run the whole service on this machine (web, worker, embedded Redis)."""
    from core.serve import serve

    sys.exit(serve(host or "127.0.0.1", port or 5000, threads))


@cli.command("worker")
@click.option("--queue", "queues", multiple=True, help="Queues to serve (default: all)")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty")
@click.option("--cron/--no-cron", default=False, help="Also run the periodic-job scheduler")
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool, cron: bool) -> None:
    """Run an RQ worker (run as many as you like, on any machine)."""
    from core.jobs import QUEUES
    from core.worker import run_worker, start_cron_process

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cron_process = start_cron_process() if cron else None
    try:
        run_worker(app, queues=queues or QUEUES, burst=burst)
    finally:
        if cron_process is not None and cron_process.is_alive():
            cron_process.terminate()
            cron_process.join(10)


@cli.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run the periodic-job scheduler alone (one per deployment)."""
    from core.worker import run_cron

    run_cron(current_app._get_current_object())  # type: ignore[attr-defined]


@cli.command("seed")
@click.option("--demo", is_flag=True, help="Also create the demo accounts (not in production)")
@with_appcontext
def seed_command(demo: bool) -> None:
    """Load the seeded catalog (idempotent: running it twice changes nothing)."""
    from core.registry import seeders

    for seeder in seeders(current_app, include_demo=demo):
        for line in seeder.run():
            click.echo(line)


@cli.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check every audit event against the hash chain; exit 1 on any break."""
    from core.audit import verify_chain

    report = verify_chain()
    for problem in report.problems:
        click.echo(f"BROKEN  {problem}", err=True)
    if report.ok:
        click.echo(f"Audit chain intact: {report.checked} events checked.")
    else:
        click.echo(
            f"Audit chain broken: {len(report.problems)} problem(s) in {report.checked} events.",
            err=True,
        )
        sys.exit(1)


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@click.option("--repair", is_flag=True, help="Re-enqueue stuck or abandoned work first, then check")
@click.option("--check", "only", multiple=True, help="Run only this check (repeatable)")
@with_appcontext
def doctor_command(as_json: bool, repair: bool, only: tuple[str, ...]) -> None:
    """Check the live instance's invariants; exit 1 if any problem is found."""
    import json

    from core.doctor import all_checks, format_report, run_doctor

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    known = {check.name for check in all_checks(app)}
    if unknown := set(only) - known:
        raise click.BadParameter(
            f"unknown check(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}",
            param_hint="--check",
        )
    report = run_doctor(app, repair=repair, only=only)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    if not report.ok:
        sys.exit(1)


@cli.command("backup")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(destination: Path) -> None:
    """Back up the database, evidence files and certificates to a new folder."""
    from core.backup import BackupError, backup

    try:
        summary = backup(current_app._get_current_object(), destination)  # type: ignore[attr-defined]
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Backed up {sum(summary.rows.values())} rows in {len(summary.rows)} tables and "
        f"{summary.files} files ({summary.bytes} bytes) to {summary.path}; "
        "manifest.json holds their SHA-256."
    )


@cli.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the data of a non-empty instance")
@with_appcontext
def restore_command(source: Path, force: bool) -> None:
    """Restore a backup into this (empty) instance, then verify it with the doctor."""
    from core.backup import BackupError, restore
    from core.doctor import format_report

    try:
        summary = restore(current_app._get_current_object(), source, force=force)  # type: ignore[attr-defined]
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    for note in summary.notes:
        click.echo(f"NOTE  {note}")
    click.echo(
        f"Restored {sum(summary.rows.values())} rows and {summary.files} files from {source}."
    )
    assert summary.doctor is not None
    click.echo(format_report(summary.doctor))
    if not summary.doctor.ok:
        sys.exit(1)


def main() -> None:
    cli(prog_name="microcred")


if __name__ == "__main__":
    main()
