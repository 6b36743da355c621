"""Reviews messages a teacher sees, for translation on the pages.

The code keeps these English (the API and the audit log use them); the pages
show them through the ``translate`` filter (``core.i18n.translate``), which
finds them here. Nothing imports this module at run time: it exists for
``pybabel extract``.
"""

from __future__ import annotations

from core.i18n import N_

TEACHER = (
    N_("Explain the appeal in at least 20 characters."),
    N_("Your appeal is sent. A fresh reviewer will look at your evidence."),
    N_("There is no decision to appeal yet."),
    N_("A decision can be appealed once, and this one already was."),
    N_("Your notification preference is saved."),
)

# Values the submission page shows through _(value): how a decision was made
# and where an appeal stands.
VALUES = (
    N_("agreement"),
    N_("adjudication"),
    N_("appeal"),
    N_("open"),
    N_("assigned"),
    N_("decided"),
)
