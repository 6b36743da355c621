"""``microcred verify`` (offline, exit 1 on any failure) and ``microcred keys rotate``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from flask.cli import ScriptInfo

from core.cli import cli
from tests.badges.test_issuance import issued  # noqa: F401 - fixture


def _run(app, *args: str):
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_verify_command_reports_each_file(issued, tmp_path: Path) -> None:  # noqa: F811
    app, _teacher, badge = issued
    good = tmp_path / "good.json"
    good.write_text(badge.credential_json)
    forged = json.loads(badge.credential_json)
    forged["credentialSubject"]["creditsEarned"] = 99
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(forged))
    ok = _run(app, "verify", str(good))
    assert ok.exit_code == 0, ok.output
    assert "Valid: Options for Expression and Communication" in ok.output
    both = _run(app, "verify", "--json", str(good), str(bad))
    assert both.exit_code == 1
    results = json.loads(both.output)
    assert [r["valid"] for r in results] == [True, False]


def test_keys_rotate_keeps_old_badges_verifying(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    result = _run(app, "keys", "rotate")
    assert result.exit_code == 0 and "#key-2" in result.output
    with app.test_request_context():
        from badges.verification import verify_credential

        assert verify_credential(json.loads(badge.credential_json)).valid


def test_verify_command_reads_jwts_and_baked_images(issued, tmp_path: Path) -> None:  # noqa: F811
    app, _teacher, badge = issued
    token = tmp_path / "badge.jwt"
    token.write_text(badge.credential_jwt)
    image = tmp_path / "badge.png"
    image.write_bytes(app.test_client().get(f"/badges/{badge.id}/image.png").data)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\xff not a credential")
    result = _run(app, "verify", "--json", str(token), str(image), str(junk))
    assert result.exit_code == 1
    assert [r["valid"] for r in json.loads(result.output)] == [True, True, False]
