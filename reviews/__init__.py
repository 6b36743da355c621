"""Reviews: assignment, blind scoring, decisions, adjudication, appeals, calibration."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.api_support import register_api
from core.jobs import PeriodicJob, enqueue, register_periodic
from core.registry import Seeder, register_seeder, set_role_home


def _enqueue_assignment(_sender: Any, submission_id: int) -> None:
    enqueue("reviews.jobs.assign_reviewers", submission_id, job_id=f"assign-{submission_id}")


def init_app(app: Flask) -> None:
    from evidence.signals import submission_complete
    from reviews import api, calibration_views, demo, doctor, services, views

    app.register_blueprint(views.bp)
    register_api(app, api.blp)
    calibration_views.register(app)
    set_role_home(app, "reviewer", "reviews.queue")
    doctor.register(app)
    submission_complete.connect(_enqueue_assignment)
    app.extensions["microcred_extra_attempts"] = services.extra_attempts
    app.add_template_global(services.feedback_for, "feedback_for")
    register_periodic(app, PeriodicJob("reviews.jobs.assign_waiting", interval=300))
    register_periodic(app, PeriodicJob("reviews.jobs.check_deadlines", interval=3600))
    register_periodic(app, PeriodicJob("reviews.jobs.send_digests", cron="0 6 * * *"))
    register_periodic(app, PeriodicJob("reviews.jobs.schedule_reliability_refresh", interval=3600))
    register_seeder(app, Seeder("demo reviewers", demo.qualify_demo_reviewers, demo_only=True))
