"""Errors a person can act on: JSON ``{"code", "message", "errors"}`` for the API,
an HTML page that says what to do for everything else."""

from __future__ import annotations

import errno
import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify, render_template, request
from flask_smorest import Api
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from core.i18n import N_

log = logging.getLogger(__name__)

# What a person should do next, per status. Kept short and concrete.
HTML_ADVICE: dict[int, tuple[str, str]] = {
    400: (N_("We could not use what was sent"), N_("Check the form and try again.")),
    401: (N_("Please sign in"), N_("Sign in to continue; your work has not been changed.")),
    403: (
        N_("You do not have access to this page"),
        N_("If you think you should, ask your program administrator to grant the right role."),
    ),
    404: (N_("Page not found"), N_("Check the address, or go back to your home page.")),
    405: (N_("That action is not available here"), N_("Go back and use the buttons on the page.")),
    409: (
        N_("This changed while you were working"),
        N_("Reload the page to see the latest version."),
    ),
    413: (
        N_("The upload is too large"),
        N_("Make the file smaller (for example, compress a video) and try again."),
    ),
    415: (
        N_("That file type is not accepted"),
        N_("Use one of the file types listed on the page."),
    ),
    422: (
        N_("Some details need fixing"),
        N_("Correct the fields marked on the page and try again."),
    ),
    429: (
        N_("Too many attempts"),
        N_("Wait a minute before trying again. This protects your account."),
    ),
    500: (
        N_("Something went wrong on our side"),
        N_(
            "Nothing you sent was lost. Try again in a moment; if it keeps happening, contact support."
        ),
    ),
    503: (N_("The service is temporarily unavailable"), N_("Try again in a few minutes.")),
    507: (N_("The server is out of storage space"), N_("Nothing was saved. Try again later.")),
}


class ErrorSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "Machine-readable error code"})
    status = ma.fields.Integer(metadata={"description": "HTTP status"})
    message = ma.fields.String(metadata={"description": "What went wrong, for a person"})
    errors = ma.fields.Dict(metadata={"description": "Problems per field or JSON path"})


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def slug(name: str) -> str:
    return name.lower().replace(" ", "_").replace("'", "")


class MicrocredApi(Api):
    """flask-smorest Api whose error handler serves both the API and the pages."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        status = error.code or 500
        if status >= 500:
            original = getattr(error, "original_exception", None)
            if original is not None:
                log.error(
                    "unhandled error on %s %s", request.method, request.path, exc_info=original
                )
            error = InternalServerError() if status == 500 else error
        data: dict[str, Any] = getattr(error, "data", None) or {}
        if isinstance(error, CSRFError):
            message = N_(
                "The form expired or was not sent from this site. "
                "Reload the page and submit it again."
            )
            code = "csrf_failed"
        else:
            message = data.get("message") or (error.description or error.name)
            code = data.get("code") or slug(error.name)
        errors = data.get("errors") or data.get("messages") or {}
        if isinstance(errors, dict) and set(errors) <= {"json", "form", "query", "files"}:
            # webargs nests by location; a person wants the fields.
            flattened: dict[str, Any] = {}
            for location_errors in errors.values():
                if isinstance(location_errors, dict):
                    flattened.update(location_errors)
                else:  # e.g. {"json": ["Invalid JSON body."]}
                    flattened.setdefault("_schema", []).extend(location_errors)
            errors = flattened
        headers = dict(data.get("headers") or {})
        if isinstance(error, HTTPException) and error.response is None:
            headers.update(
                {k: v for k, v in error.get_headers() if k.lower() not in {"content-type"}}
            )
        if wants_json():
            response: Response = jsonify(
                {"code": code, "status": status, "message": message, "errors": errors}
            )
        else:
            title, advice = HTML_ADVICE.get(status, (error.name, N_("Go back and try again.")))
            response = Response(
                render_template(
                    "core/error.html",
                    status=status,
                    title=title,
                    advice=advice,
                    message=message,
                    errors=errors,
                ),
                mimetype="text/html",
            )
        response.status_code = status
        for key, value in headers.items():
            response.headers[key] = value
        return response


class ServiceError(Exception):
    """Raised by services for a request a person can correct; views and the API
    turn it into the matching 4xx answer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFoundError(ServiceError):
    status, code = 404, "not_found"


class ForbiddenError(ServiceError):
    status, code = 403, "forbidden"


class ConflictError(ServiceError):
    status, code = 409, "conflict"


class InvalidError(ServiceError):
    status, code = 422, "invalid"


STORAGE_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class InsufficientStorage(HTTPException):
    code = 507
    description = "The server has run out of storage space."


def db_rollback() -> None:
    """Roll back what the request began (best effort: the connection may be gone)."""
    from core.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection itself may be gone; the session is discarded anyway
        log.warning("rollback after a failed request failed", exc_info=True)


def outage_response(api: Api, status: int, code: str, message: str) -> Any:
    """A 503/507 a person can act on, after rolling back what the request began."""
    db_rollback()
    http_error = InsufficientStorage() if status == 507 else default_exceptions[status]()
    http_error.data = {
        "message": message,
        "code": code,
        "headers": {"Retry-After": "30"},
    }
    return api.handle_http_exception(http_error)


def register_outage_handlers(app: Flask) -> None:
    """A lost database connection is a 503 and a full disk a 507: both say that
    nothing was saved and to try again, never a 500 with a stack trace. Input nested
    too deeply to parse is a 400 that says so."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    api = app.extensions["microcred_api"]

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Any:
        log.error("database unavailable on %s %s: %s", request.method, request.path, error)
        return outage_response(
            api,
            503,
            "database_unavailable",
            "The database is unavailable for a moment, so nothing was saved. "
            "Try again in a minute.",
        )

    @app.errorhandler(DBAPIError)
    def _database_disconnected(error: DBAPIError) -> Any:
        if not error.connection_invalidated:
            raise error
        return _database_unavailable(error)  # type: ignore[arg-type]

    @app.errorhandler(RecursionError)
    def _nested_too_deeply(error: RecursionError) -> Any:
        # Python's JSON parser and every walk over a parsed document recurse: a body
        # nested thousands of levels deep is bad input, not a server fault.
        log.warning("input nested too deeply on %s %s", request.method, request.path)
        db_rollback()
        http_error = default_exceptions[400]()
        http_error.data = {
            "message": "The document is nested too deeply to be read; nothing was saved. "
            "No credential, form or file this service reads nests that deep.",
            "code": "nested_too_deeply",
        }
        return api.handle_http_exception(http_error)

    @app.errorhandler(OSError)
    def _storage_full(error: OSError) -> Any:
        if error.errno not in STORAGE_FULL_ERRNOS:
            raise error
        log.error("storage full on %s %s: %s", request.method, request.path, error)
        return outage_response(
            api,
            507,
            "storage_full",
            "The server has run out of storage space, so your file was not saved. "
            "Try again later; if it keeps happening, contact support.",
        )
