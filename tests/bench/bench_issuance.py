"""Benchmark: issuing one badge end to end against a bare WeasyPrint render.

On a fresh instance whose demo teacher holds a passed submission, it alternates
two measurements, ROUNDS times each, in the same process:

* **bare render**: ``weasyprint.HTML(string=html).write_pdf(...)`` of the very
  certificate HTML the badge's PDF is made from, with the output settings every
  certificate needs (tagged PDF/UA-1, for screen readers) and nothing else; the
  same render with WeasyPrint's default (untagged) output is printed too, and the
  same render given the font configuration our renders keep per thread
  (:func:`badges.pdf.font_configuration`; WeasyPrint makes a fresh one per document
  unless given one), to show how much of the margin that keeps;
* **issuance**: the issuance job's work for that submission, end to end: build the
  Open Badges 3.0 credential, sign it (eddsa-rdfc-2022) and as a VC-JWT,
  allocate its status-list index, render the PDF with the credential embedded,
  sign it (PAdES), store it and commit (the badge row is removed between rounds
  so every round issues anew). The process is prepared as an RQ worker prepares
  itself (its worker hooks run first), so, as in production, the page layout runs
  in the worker's render helper while the credential is signed; ``--no-helper``
  measures issuance rendering in the job's own process instead.

Goal: median issuance at most 1.25x the median bare (tagged) render.
Run: ``python tests/bench/bench_issuance.py [ROUNDS] [--no-helper]``. Exits 1 if the goal is missed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

GOAL = 1.25


def main(rounds: int, helper: bool) -> int:
    import weasyprint
    from flask import current_app
    from sqlalchemy import select

    from badges import certificates, pdf, render_helper
    from badges.jobs import issue_badge_for_submission
    from badges.models import Badge
    from core.extensions import db
    from core.jobs import run_worker_hooks
    from tests.bench.instance import demo_instance

    overrides = {} if helper else {"PDF_RENDER_HELPER": "false"}
    with demo_instance(**overrides) as (app, _instance), app.app_context():
        run_worker_hooks(app)
        badge = db.session.scalars(select(Badge).where(Badge.kind == "micro_credential")).one()
        submission_id = badge.submission_id
        html = certificates.certificate_html(badge)
        base_url = current_app.static_folder

        def bare(**options: object) -> float:
            start = time.perf_counter()
            weasyprint.HTML(string=html, base_url=base_url).write_pdf(**options)
            return time.perf_counter() - start

        tagged = {"pdf_variant": pdf.PDF_VARIANT, "pdf_tags": True}

        def issue() -> float:
            db.session.execute(db.delete(Badge).where(Badge.submission_id == submission_id))
            db.session.commit()
            start = time.perf_counter()
            issued_id = issue_badge_for_submission(submission_id)
            elapsed = time.perf_counter() - start
            issued = db.session.get(Badge, issued_id)
            assert issued is not None and issued.pdf_sha256 and issued.credential_jwt
            return elapsed

        kept = {**tagged, "font_config": pdf.font_configuration()}
        bare(), bare(**tagged), bare(**kept), issue()  # warm fonts, contexts and caches
        untagged_times, bare_times, kept_times, issue_times = [], [], [], []
        for _ in range(rounds):
            untagged_times.append(bare())
            bare_times.append(bare(**tagged))
            kept_times.append(bare(**kept))
            issue_times.append(issue())

        served = render_helper.stats()
        render_helper.stop()

    untagged_median = statistics.median(untagged_times)
    bare_median = statistics.median(bare_times)
    kept_median = statistics.median(kept_times)
    issue_median = statistics.median(issue_times)
    ratio = issue_median / bare_median
    print(f"rounds: {rounds}; render helper: {served if helper else 'off'}")
    print(f"bare render, untagged    median {untagged_median * 1000:8.1f} ms")
    print(f"bare render, PDF/UA      median {bare_median * 1000:8.1f} ms")
    print(f"  same, font config kept median {kept_median * 1000:8.1f} ms")
    print(f"issuance end to end      median {issue_median * 1000:8.1f} ms")
    print(f"ratio issuance / PDF/UA render    {ratio:.2f}x (goal <= {GOAL}x)")
    print(f"ratio issuance / untagged render  {issue_median / untagged_median:.2f}x")
    print(f"ratio issuance / PDF/UA render with kept fonts  {issue_median / kept_median:.2f}x")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--no-helper"]
    sys.exit(main(int(arguments[0]) if arguments else 30, helper="--no-helper" not in sys.argv))
