"""Streaming evidence files to the people allowed to see them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Response, after_this_request, send_file

from accounts.models import User
from core.errors import NotFoundError
from core.extensions import db
from core.storage import attachment_response
from evidence import services
from evidence.access import can_view
from evidence.models import EvidenceItem, StoredFile


def file_response(user: User, item_id: int) -> Response:
    """The file as an attachment; 404 for anyone without access (no hint it exists)."""
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.file is None or not can_view(user, item.submission):
        raise NotFoundError("No such file.")
    return stream_file(item.file, item.file.original_name)


def stream_file(stored: StoredFile, name: str) -> Response:
    """Stream a stored evidence file as an attachment called ``name``."""
    return attachment_response(stored.sha256, stored.media_type, name, stored.size)


def export_response(user: User) -> Response:
    """A zip of everything held about ``user``, removed from disk once sent."""
    handle = tempfile.NamedTemporaryFile(suffix=".zip", delete=False)  # noqa: SIM115 - removed below
    handle.close()
    path = Path(handle.name)
    services.export_user_data(user, path)

    @after_this_request
    def _remove(response: Response) -> Response:
        path.unlink(missing_ok=True)
        return response

    return send_file(
        path, mimetype="application/zip", as_attachment=True, download_name="microcred-my-data.zip"
    )
