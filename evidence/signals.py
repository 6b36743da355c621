"""Signals other domains subscribe to (a lower layer never imports a higher one)."""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

# Sent with ``submission_id`` when the pre-check finds a submission complete.
submission_complete = signals.signal("submission-complete")
