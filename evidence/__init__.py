"""Evidence: submissions, evidence items, uploads, storage, the completeness pre-check."""

from __future__ import annotations

from flask import Flask

from core.api_support import register_api
from core.jobs import PeriodicJob, register_periodic
from core.registry import set_role_home


def init_app(app: Flask) -> None:
    from evidence import api, doctor, views

    app.register_blueprint(views.bp)
    register_api(app, api.blp)
    set_role_home(app, "teacher", "evidence.portfolio")
    doctor.register(app)
    register_periodic(app, PeriodicJob("evidence.jobs.purge_expired_evidence", cron="17 3 * * *"))
