"""Languages: which one a request is answered in, the switcher, and helpers.

The locale of a request is, in order: an explicit ``?lang=`` on the address, the
signed-in user's saved preference, the choice made with the language switcher
(a cookie, so it survives signing in and out), the browser's Accept-Language,
else English.

User-facing strings are marked with ``_()`` (gettext, translated now: use it in
a request), ``_l()`` (lazy_gettext: translated when shown; use it at import
time and in schemas and services) or ``N_()`` (a marker only: the text stays
English where it is stored or sent to the API, and the page translates it with
the ``translate`` filter). ``pybabel extract -F babel.cfg`` finds all three.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, request
from flask_babel import get_locale as babel_locale
from flask_babel import get_translations, gettext, lazy_gettext, ngettext, refresh
from flask_login import current_user
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from core.extensions import babel, db
from core.forms import safe_next_url

SUPPORTED_LOCALES = ("en", "es")
DEFAULT_LOCALE = "en"
# The name of each language in that language: a switcher is read by people who
# do not understand the current page.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
LOCALE_COOKIE = "lang"
LOCALE_COOKIE_MAX_AGE = 365 * 24 * 3600
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

_ = gettext
_l = lazy_gettext

__all__ = [
    "LANGUAGE_NAMES",
    "N_",
    "SUPPORTED_LOCALES",
    "_",
    "_l",
    "current_locale",
    "init_app",
    "ngettext",
    "select_locale",
    "translate",
    "translate_errors",
]

bp = Blueprint("i18n", __name__)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it here."""
    return message


def translate(message: Any) -> str:
    """The current locale's translation of an English message, else the message.

    An exact catalogue entry wins. Otherwise a message built with an f-string in
    code that has to stay English (the API, stored records, jobs) is matched
    against the catalogue's entries with named placeholders, e.g. "Expired on
    %(date)s. The educator can renew it.", and shown in the reader's language
    with the same values. Placeholders named in ``NESTED`` are translated too.
    No ``%`` formatting is applied to a message without placeholders.
    """
    if message is None:
        return ""
    text = str(message)
    if not text or not has_request_context():
        return text
    translations = get_translations()
    found = translations.ugettext(text)
    if found != text or not text.strip():
        return found
    for pattern, msgid, numbers in _patterns(translations):
        match = pattern.fullmatch(text)
        if match is None:
            continue
        values: dict[str, Any] = {}
        for name, value in match.groupdict().items():
            if name in numbers:
                values[name] = int(value.replace(",", ""))
            else:
                values[name] = translate(value) if name in NESTED else value
        try:
            return translations.ugettext(msgid) % values
        except (KeyError, ValueError, TypeError):  # a broken translation: keep English
            return text
    return text


# Placeholder names whose values are themselves messages (a reason inside a verdict).
NESTED = frozenset({"reason", "problem", "status"})
_PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")
Pattern = tuple[re.Pattern[str], str, frozenset[str]]
_pattern_cache: dict[int, tuple[Any, list[Pattern]]] = {}


def _patterns(translations: Any) -> list[Pattern]:
    """The catalogue's messages with placeholders as regular expressions (cached per
    catalogue), each with the names of its number placeholders."""
    key = id(translations)
    cached = _pattern_cache.get(key)
    if cached is not None and cached[0] is translations:
        return cached[1]
    found = []
    catalog = getattr(translations, "_catalog", {}) or {}
    for msgid, msgstr in catalog.items():
        if not isinstance(msgid, str) or "%(" not in msgid or not msgstr:
            continue
        parts = _PLACEHOLDER.split(msgid)
        regex, names, numbers = "", set(), set()
        for index in range(0, len(parts), 3):
            regex += re.escape(parts[index].replace("%%", "%"))
            if index + 2 < len(parts):
                name, kind = parts[index + 1], parts[index + 2]
                group = (
                    f"(?P={name})"
                    if name in names
                    else (f"(?P<{name}>-?[0-9][0-9,]*)" if kind == "d" else f"(?P<{name}>.+?)")
                )
                names.add(name)
                if kind == "d":
                    numbers.add(name)
                regex += group
        found.append((re.compile(regex, re.DOTALL), msgid, frozenset(numbers)))
    # The most specific (longest literal text) first.
    found.sort(key=lambda item: -len(_PLACEHOLDER.sub("", item[1])))
    if len(_pattern_cache) > 16:
        _pattern_cache.clear()
    _pattern_cache[key] = (translations, found)
    return found


def translate_errors(errors: Any) -> Any:
    """``translate`` every message in a marshmallow-style error structure."""
    if isinstance(errors, dict):
        return {key: translate_errors(value) for key, value in errors.items()}
    if isinstance(errors, list | tuple):
        return [translate_errors(value) for value in errors]
    return translate(errors)


def _supported(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower().replace("_", "-")
    if value in SUPPORTED_LOCALES:
        return value
    base = value.split("-", 1)[0]
    return base if base in SUPPORTED_LOCALES else None


def select_locale() -> str | None:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    if not has_request_context():  # jobs rendering mail: the default
        return None
    chosen = _supported(request.args.get("lang"))
    if chosen:
        return chosen
    user = current_user._get_current_object() if current_user else None
    if user is not None and getattr(user, "is_authenticated", False):
        preferred = _supported(getattr(user, "locale", None))
        if preferred:
            return preferred
    chosen = _supported(request.cookies.get(LOCALE_COOKIE))
    if chosen:
        return chosen
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or DEFAULT_LOCALE


def current_locale() -> str:
    """The language code of this request, for ``<html lang>``."""
    locale = babel_locale() if has_request_context() else None
    return str(locale.language) if locale is not None else DEFAULT_LOCALE


def mail_locale(recipient: Any) -> str:
    """The language of mail to ``recipient``: the language saved on their account;
    else, when nobody else is signed in (they are signing up or asking for a reset
    link; a job has no user), the language of the current page; else English."""
    saved = _supported(getattr(recipient, "locale", None))
    if saved:
        return saved
    if not has_request_context():
        return DEFAULT_LOCALE
    user = current_user._get_current_object() if current_user else None
    other = (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "id", None) != getattr(recipient, "id", None)
    )
    return DEFAULT_LOCALE if other else current_locale()


class LanguageChoiceSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    locale = fields.String(
        required=True,
        validate=validate.OneOf(
            SUPPORTED_LOCALES,
            error="Choose one of the offered languages: " + ", ".join(SUPPORTED_LOCALES) + ".",
        ),
        error_messages={"required": "Choose a language."},
    )
    next = fields.String(load_default=None, validate=validate.Length(max=2000))


@bp.post("/language")
def set_language() -> Any:
    """The language switcher: remember the choice, go back to the page."""
    from core.errors import InvalidError  # core.errors marks its messages with N_ from here

    try:
        data = LanguageChoiceSchema().load(request.form.to_dict())
    except ValidationError as exc:
        raise InvalidError(
            _("Choose one of the offered languages and try again."),
            errors=translate_errors(exc.messages),
        ) from exc
    locale = data["locale"]
    user = current_user._get_current_object() if current_user else None
    if user is not None and getattr(user, "is_authenticated", False) and hasattr(user, "locale"):
        # The account keeps the preference too, so it follows the teacher to any device.
        user.locale = locale
        db.session.commit()
    response = redirect(safe_next_url(data.get("next")) or "/", code=303)
    response.set_cookie(
        LOCALE_COOKIE,
        locale,
        max_age=LOCALE_COOKIE_MAX_AGE,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )
    return response


def _refresh_locale() -> None:
    # A test client may reuse one app context for several requests; the locale
    # and translations cached on it must not leak from one request to the next.
    if "_flask_babel" in g:
        refresh()


def _vary(response: Any) -> Any:
    if response.mimetype == "text/html":  # pages differ by language; files do not
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        response.headers.setdefault("Content-Language", current_locale())
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(_refresh_locale)
    app.after_request(_vary)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        current_locale=current_locale,
        language_names=LANGUAGE_NAMES,
        supported_locales=SUPPORTED_LOCALES,
    )
    app.jinja_env.filters["translate"] = translate
