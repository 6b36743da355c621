"""Badges: Open Badges 3.0 credentials, signed PDFs, revocation, verification, transcripts."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from core.api_support import register_api
from core.jobs import enqueue, register_worker_hook
from core.registry import Seeder, register_seeder, set_role_home

log = logging.getLogger(__name__)


def _issue_when_passed(_sender: Any, submission_id: int, outcome: str) -> None:
    if outcome == "passed":
        enqueue(
            "badges.jobs.issue_badge_for_submission",
            submission_id,
            queue="issuance",
            job_id=f"issue-{submission_id}",
        )


def _prepare_worker(app: Flask) -> None:
    """Before each job: a live render helper (which drops any signing key it
    inherits: it never signs). Once per worker process, after the first helper is
    forked: the issuers' signers with their decrypted keys, and the processed
    JSON-LD contexts, which every work horse then inherits instead of paying for them."""
    from badges import certificates, render_helper, services
    from core.extensions import db

    if app.config.get("PDF_RENDER_HELPER", True):
        render_helper.forget_in_helper(certificates.forget_signers)
        render_helper.ensure_running()
    if app.extensions.get("microcred_issuance_prepared"):
        return
    app.extensions["microcred_issuance_prepared"] = True
    try:
        with app.app_context():
            certificates.prepare_signers()
            services.prepare_contexts()
            db.session.remove()
            db.engine.dispose()  # the work horses open their own connections
    except Exception:  # e.g. a database not migrated yet: each job loads its own
        log.warning("could not prepare the worker for issuance", exc_info=True)


def init_app(app: Flask) -> None:
    from badges import api, bulk_views, cli, demo, doctor, transcript_views, views
    from reviews.signals import decision_made

    app.register_blueprint(views.bp)
    register_api(app, api.blp)
    set_role_home(app, "state_verifier", "badges.verifier_home")
    doctor.register(app)
    decision_made.connect(_issue_when_passed)
    register_seeder(app, Seeder("demo badge", demo.earn_demo_badge, demo_only=True))
    bulk_views.register(app)
    transcript_views.register(app)
    register_worker_hook(app, _prepare_worker)
    app.cli.add_command(cli.keys)
    app.cli.add_command(cli.verify)
