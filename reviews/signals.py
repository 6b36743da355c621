"""Signals the reviews domain sends (badges subscribe to ``decision_made``)."""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

# Sent with ``submission_id`` and ``outcome`` ("passed" or "not_yet") after a decision.
decision_made = signals.signal("decision-made")
