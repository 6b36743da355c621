"""Languages: English by default, Spanish from the browser or the switcher, and a
Spanish catalogue that covers the teacher and verifier pages."""

from __future__ import annotations

import io
import json
import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accounts.models import Role, User
from core.extensions import db
from core.i18n import LOCALE_COOKIE
from core.jobs import relay_outbox
from tests.conftest import csrf_from, make_user, run_jobs, sign_in

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "core" / "translations"
SPANISH_PO = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po"
SPANISH_MO = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.mo"
ES = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}

# The pages of the teacher and verifier journeys.
JOURNEY_TEMPLATES = [
    "base.html",
    "macros.html",
    "accounts/landing.html",
    "accounts/sign_in.html",
    "accounts/sign_up.html",
    "accounts/account.html",
    "accounts/forgot.html",
    "accounts/reset.html",
    "core/error.html",
    "credentials/catalog.html",
    "credentials/detail.html",
    "credentials/frameworks.html",
    "credentials/framework.html",
    "credentials/item.html",
    "evidence/portfolio.html",
    "evidence/submission.html",
    "reviews/notifications.html",
    "badges/badge.html",
    "badges/report.html",
    "badges/verify.html",
    "badges/bulk.html",
    "badges/bulk_status.html",
    "badges/issuer.html",
    "badges/transcript.html",
    "badges/transcript_lines.html",
    "badges/transcript_lookup.html",
    "badges/transcript_rule.html",
    "badges/transcript_pdf.html",
    "badges/certificate.html",
]
# The Python modules whose messages those pages show.
JOURNEY_MODULES = [
    "core/errors.py",
    "core/i18n.py",
    "core/i18n_defaults.py",
    "accounts/models.py",
    "accounts/policy.py",
    "accounts/schemas.py",
    "accounts/services.py",
    "accounts/views.py",
    "credentials/models.py",
    "evidence/filetypes.py",
    "evidence/models.py",
    "evidence/schemas.py",
    "evidence/services.py",
    "evidence/views.py",
    "badges/messages.py",
    "reviews/messages.py",
]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}


def _lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, html[:200]
    return match.group(1)


def _text(html: str) -> str:
    """The visible text, roughly, with entities unescaped: what a person reads."""
    import html as html_module

    without_tags = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html_module.unescape(without_tags))


# --- Locale selection --------------------------------------------------------------------


def test_english_is_the_default(seeded: Flask) -> None:
    client = seeded.test_client()
    page = client.get("/catalog")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert _lang(html) == "en"
    assert "Micro-credential catalog" in html
    assert "Catálogo de microcredenciales" not in html
    # A language nobody offers also gets English.
    other = client.get("/catalog", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert _lang(other.get_data(as_text=True)) == "en"
    assert page.headers["Content-Language"] == "en"
    assert "Accept-Language" in page.headers["Vary"]


def test_accept_language_spanish_renders_the_catalog_and_a_credential(seeded: Flask) -> None:
    client = seeded.test_client()
    catalog = client.get("/catalog", headers=ES)
    html = catalog.get_data(as_text=True)
    assert catalog.status_code == 200
    assert _lang(html) == "es"
    assert catalog.headers["Content-Language"] == "es"
    text = _text(html)
    assert "Catálogo de microcredenciales" in text
    assert "Mostrar microcredenciales" in text
    assert "Todos los temas" in text
    assert "Diseño Universal para el Aprendizaje" in text  # a theme label from the model
    assert re.search(r"\d+ microcredenciales", text)  # the plural form
    assert "Iniciar sesión" in text and "Crear una cuenta de docente" in text
    code = re.search(r'href="/catalog/([A-Z0-9-]+)"', html).group(1)

    detail = client.get(f"/catalog/{code}", headers=ES)
    text = _text(detail.get_data(as_text=True))
    assert detail.status_code == 200
    assert _lang(detail.get_data(as_text=True)) == "es"
    for phrase in (
        "Horas de desarrollo profesional",
        "Qué entregar",
        "Cómo se califica",
        "Dos evaluadores capacitados califican cada criterio sin ver su nombre.",
        "Proteja la privacidad de los estudiantes:",
        "Cree una cuenta de docente para comenzar",
    ):
        assert phrase in text, phrase


def test_sign_in_page_and_its_errors_are_in_spanish(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/sign-in", headers=ES)
    html = page.get_data(as_text=True)
    assert _lang(html) == "es"
    text = _text(html)
    assert "Correo electrónico" in text
    assert "Contraseña" in text
    assert "Mantener la sesión iniciada en este dispositivo" in text
    assert "¿Olvidó su contraseña?" in text
    make_user(app, "maestra@example.org", Role.TEACHER)
    token = csrf_from(client, "/sign-in")
    wrong = client.post(
        "/sign-in",
        data={"email": "maestra@example.org", "password": "not the password", "csrf_token": token},
        headers=ES,
    )
    assert wrong.status_code == 422
    assert "El correo electrónico o la contraseña no son correctos." in _text(
        wrong.get_data(as_text=True)
    )
    # marshmallow's own message and ours with a number in it
    short = client.post(
        "/sign-up",
        data={"email": "nueva@example.org", "password": "corta", "csrf_token": token},
        headers=ES,
    )
    text = _text(short.get_data(as_text=True))
    assert short.status_code == 422
    assert "Falta este dato obligatorio." in text
    assert "Use al menos 10 caracteres." in text
    assert "Missing data for required field." not in text


def test_verify_page_is_in_spanish(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/verify", headers=ES)
    html = page.get_data(as_text=True)
    assert _lang(html) == "es"
    text = _text(html)
    assert "Verificar una insignia" in text
    assert "Por identificador o dirección" in text
    assert "Certificado (.pdf) o archivo de credencial (.json)" in text
    token = csrf_from(client, "/verify")
    wrong = client.post("/verify", data={"badge": "not-a-badge", "csrf_token": token}, headers=ES)
    assert wrong.status_code == 422
    assert "Escriba el identificador de la insignia" in _text(wrong.get_data(as_text=True))


def test_the_switcher_sets_the_language_and_it_stays(app: Flask) -> None:
    client = app.test_client()
    english = client.get("/sign-in", headers={"Accept-Language": "en-US"})
    html = english.get_data(as_text=True)
    assert 'name="locale" value="es" lang="es"' in html  # the switcher is on every page
    token = csrf_from(client, "/sign-in")
    switched = client.post(
        "/language",
        data={"locale": "es", "next": "/verify", "csrf_token": token},
        headers={"Accept-Language": "en-US"},
    )
    assert switched.status_code == 303
    assert switched.headers["Location"].endswith("/verify")
    cookie = client.get_cookie(LOCALE_COOKIE)
    assert cookie is not None and cookie.value == "es" and cookie.http_only
    # The choice beats the browser's language, on the next pages too.
    for path in ("/verify", "/sign-in", "/catalog"):
        page = client.get(path, headers={"Accept-Language": "en-US"})
        assert _lang(page.get_data(as_text=True)) == "es", path
    back = client.post(
        "/language", data={"locale": "en", "next": "/sign-in", "csrf_token": token}, headers=ES
    )
    assert back.status_code == 303
    assert _lang(client.get("/sign-in", headers=ES).get_data(as_text=True)) == "en"


def test_the_switcher_refuses_other_languages_and_other_sites(app: Flask) -> None:
    client = app.test_client()
    token = csrf_from(client, "/sign-in")
    refused = client.post("/language", data={"locale": "xx", "csrf_token": token}, headers=ES)
    assert refused.status_code == 422
    text = _text(refused.get_data(as_text=True))
    assert "Elija uno de los idiomas ofrecidos" in text
    assert client.get_cookie(LOCALE_COOKIE) is None
    api = client.post(
        "/language", json={}, headers={"X-CSRFToken": token, "Accept": "application/json"}
    )
    assert api.status_code == 422
    assert api.get_json()["errors"]["locale"]
    elsewhere = client.post(
        "/language",
        data={"locale": "es", "next": "https://evil.example/", "csrf_token": token},
    )
    assert elsewhere.status_code == 303
    assert elsewhere.headers["Location"] == "/"


def test_a_signed_in_teacher_keeps_the_choice_on_every_device(app: Flask) -> None:
    laptop = app.test_client()
    make_user(app, "docente@example.org", Role.TEACHER)
    sign_in(laptop, "docente@example.org")
    token = csrf_from(laptop, "/account")
    laptop.post("/language", data={"locale": "es", "next": "/account", "csrf_token": token})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "docente@example.org"))
        assert user.locale == "es"
    phone = app.test_client()  # no cookie, an English browser
    signed = sign_in(phone, "docente@example.org")
    assert signed.status_code == 302
    page = phone.get("/portfolio", headers={"Accept-Language": "en-US"})
    text = _text(page.get_data(as_text=True))
    assert _lang(page.get_data(as_text=True)) == "es"
    assert "Mi portafolio" in text
    assert "Todavía no ha comenzado ninguna microcredencial." in text
    # The account page shows the saved preference and changes it back.
    assert 'value="es" selected' in phone.get("/account").get_data(as_text=True)


def test_error_pages_follow_the_language(app: Flask) -> None:
    page = app.test_client().get("/catalog/NO-SUCH-CODE", headers=ES)
    assert page.status_code == 404
    text = _text(page.get_data(as_text=True))
    assert _lang(page.get_data(as_text=True)) == "es"
    assert "No se encontró la página" in text
    assert "Ir a su página de inicio" in text


def test_a_returned_submission_explains_itself_in_spanish(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    from tests.evidence.helpers import TeacherSession, png_bytes, words
    from tests.evidence.test_submissions import _run_precheck

    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    teacher.text(submission["id"], "P1", words(400))  # over the 300-word limit
    teacher.upload(submission["id"], "A2", "photo.png", png_bytes())  # no alt text, 1 of 3
    assert teacher.submit(submission["id"]).get_json()["status"] == "submitted"
    _run_precheck(seeded)
    # The API and the stored record keep English ...
    english = [p["message"] for p in teacher.get(submission["id"])["precheck_problems"]]
    assert any("400 words; the limit is 300" in m for m in english)
    # ... and the page says it in the teacher's language.
    page = client.get(f"/submissions/{submission['id']}", headers=ES)
    html = page.get_data(as_text=True)
    text = _text(html)
    assert _lang(html) == "es"
    assert "Su entrega fue devuelta: falta algo" in text
    assert "400 palabras; el límite es 300." in text
    assert re.search(r"P2 .+: agregue evidencia\.", text)
    assert re.search(r"A2 .+: agregue al menos 3 elementos\.", text)
    assert "describa la imagen «photo.png» (texto alternativo)" in text
    assert "words; the limit" not in text
    assert "Subir un archivo" in text and "Enviar para evaluación" in text
    # The upload script gets its messages in Spanish too.
    assert 'data-message-done="Carga completa."' in html


def _mail(app: Flask) -> list[EmailMessage]:
    with app.app_context():
        relay_outbox()
    run_jobs(app)
    return [
        message_from_bytes(path.read_bytes(), policy=default)
        for path in sorted(Path(app.config["MAIL_OUTBOX_PATH"]).glob("*.eml"))
    ]


def test_mail_follows_the_language_the_teacher_signed_up_in(app: Flask) -> None:
    client = app.test_client()
    token = csrf_from(client, "/sign-up")
    signed_up = client.post(
        "/sign-up",
        data={
            "name": "Lucía Ramos",
            "email": "lucia@example.org",
            "password": "una frase larga y fácil",
            "password_confirm": "una frase larga y fácil",
            "csrf_token": token,
        },
        headers=ES,
    )
    assert signed_up.status_code == 302
    [welcome] = _mail(app)
    assert welcome["Subject"] == "Le damos la bienvenida a Microcred, Lucía Ramos"
    body = welcome.get_content()
    assert "Hola, Lucía Ramos:" in body and "Su cuenta de docente está lista." in body
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "lucia@example.org"))
        assert user.locale == "es"
    # Later mail, from an English page or from a job, keeps her language.
    other = app.test_client()
    other.post(
        "/password/forgot",
        data={"email": "lucia@example.org", "csrf_token": csrf_from(other, "/password/forgot")},
        headers={"Accept-Language": "en-US"},
    )
    [reset] = [m for m in _mail(app) if m["Subject"] != welcome["Subject"]]
    assert reset["To"] == "lucia@example.org"
    assert reset["Subject"] == "Restablezca su contraseña de Microcred"
    assert "El enlace funciona una sola vez." in reset.get_content()
    # Someone signing up in English gets English mail, as before.
    english = app.test_client()
    english.post(
        "/sign-up",
        data={
            "name": "Sam Lee",
            "email": "sam@example.org",
            "password": "a long and easy sentence",
            "password_confirm": "a long and easy sentence",
            "csrf_token": csrf_from(english, "/sign-up"),
        },
        headers={"Accept-Language": "en-US"},
    )
    [sam] = [m for m in _mail(app) if m["To"] == "sam@example.org"]
    assert sam["Subject"] == "Welcome to Microcred, Sam Lee"
    assert "Your teacher account is ready." in sam.get_content()


# --- A badge, verified in Spanish ----------------------------------------------------------


@pytest.fixture
def issued_badge(seeded: Flask) -> tuple[Flask, str]:
    from tests.badges.test_issuance import _badge, _passed

    _teacher, submission_id = _passed(seeded)
    return seeded, _badge(seeded, submission_id).id


def _verify_page(client: FlaskClient, badge_id: str) -> str:
    page = client.get(f"/badges/{badge_id}", headers=ES)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _lang(html) == "es"
    return _text(html)


def test_badge_verification_page_is_in_spanish_and_the_api_stays_stable(
    issued_badge: tuple[Flask, str],
) -> None:
    app, badge_id = issued_badge
    client = app.test_client()
    text = _verify_page(client, badge_id)
    assert "✓ Válida" in text
    assert re.search(r"Válida: .+, emitida a .+ el \d{4}-\d{2}-\d{2}", text), text
    for phrase in (
        "Qué se comprobó",
        "Firma",
        "Revocación",
        "Vencimiento",
        "La firma es válida: nada cambió desde la emisión.",
        "No está revocada.",
        "Certificado firmado (PDF)",
    ):
        assert phrase in text, phrase
    assert "The signature is valid" not in text
    # The JSON API keeps its check names and English reasons whatever the browser says.
    credential = client.get(f"/badges/{badge_id}/credential.json").get_data(as_text=True)
    body = client.post("/api/v1/verifications", json=json.loads(credential), headers=ES).get_json()
    assert body["valid"] is True
    names = {check["name"] for check in body["checks"]}
    assert {"format", "proof", "issuer", "revocation", "expiry"} <= names
    assert body["verdict"].startswith("Valid: ")

    # Revoked: the verdict and the failed check's reason are Spanish too.
    make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    admin = app.test_client()
    sign_in(admin, "admin@example.org")
    revoked = admin.post(
        f"/api/v1/badges/{badge_id}/revoke",
        json={"reason": "Evidence was not the educator's own"},
        headers={"X-CSRFToken": csrf_from(admin, "/admin")},
    )
    assert revoked.status_code == 200
    text = _verify_page(app.test_client(), badge_id)
    assert "✗ No válida" in text
    assert "No válida: El emisor revocó esta insignia." in text
    assert "REVOKED" in text  # the rejection code stays as it is


# --- The catalogue ---------------------------------------------------------------------------


def _spanish() -> object:
    with SPANISH_PO.open("rb") as handle:
        return read_po(handle, locale="es")


def _journey_messages() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for name in JOURNEY_TEMPLATES:
        path = ROOT / "templates" / name
        for _line, message, _comments, _context in extract_from_file(
            "jinja2", str(path), keywords=KEYWORDS
        ):
            found.add(message)
    for name in JOURNEY_MODULES:
        for _line, message, _comments, _context in extract_from_file(
            "python", str(ROOT / name), keywords=KEYWORDS
        ):
            found.add(message)
    return found


def test_every_teacher_and_verifier_message_has_a_spanish_translation() -> None:
    catalog = _spanish()
    found = _journey_messages()
    assert len(found) > 400  # the extraction really ran over the pages
    problems = []
    for message in sorted(found, key=str):
        entry = catalog.get(message)
        if entry is None:
            problems.append(f"not in the .po (run the extract/update commands): {message!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {message!r}")
        elif not all(entry.string if isinstance(entry.string, tuple) else (entry.string,)):
            problems.append(f"untranslated: {message!r}")
    assert not problems, "\n".join(problems)


def test_spanish_translations_keep_their_placeholders() -> None:
    placeholder = re.compile(r"%\(\w+\)[sd]")
    problems = []
    for entry in _spanish():
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = sorted(set(placeholder.findall(ids[-1])))
        for string in strings:
            if string and sorted(set(placeholder.findall(string))) != wanted:
                problems.append(f"{entry.id!r} -> {string!r}")
    assert not problems, "\n".join(problems)


def _entries(catalog: object) -> dict[object, object]:
    def frozen(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(m.id): frozen(m.string) for m in catalog if m.id}


def test_the_committed_mo_file_matches_the_po_file() -> None:
    catalog = _spanish()
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    expected = _entries(read_mo(compiled))
    with SPANISH_MO.open("rb") as handle:
        committed = _entries(read_mo(handle))
    assert len(committed) > 400
    assert committed == expected, (
        "core/translations/es/LC_MESSAGES/messages.mo is stale: run "
        "pybabel compile -d core/translations"
    )
