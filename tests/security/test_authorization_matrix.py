"""Every route of the pages and the API, for every role and for anonymous visitors.

The expectations are written out below: a new route that is not listed here fails
the test, so nobody can add one without deciding who may use it. Object ids in the
URLs do not exist, so this is about the role gate (ownership is tested per domain);
nothing may answer 5xx.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from accounts.models import Role
from tests.conftest import csrf_from, make_user, sign_in

EXPECTED: dict[tuple[str, str], str] = {
    ("accounts.account", "GET"): "signed_in",
    ("accounts.account", "POST"): "signed_in",
    ("accounts.admin_home", "GET"): "program_admin|site_admin",
    ("accounts.admin_jobs", "GET"): "program_admin|site_admin",
    ("accounts.admin_requeue_job", "POST"): "program_admin|site_admin",
    ("accounts.admin_set_roles", "POST"): "site_admin",
    ("accounts.admin_users", "GET"): "site_admin",
    ("accounts.create_token", "POST"): "signed_in",
    ("accounts.forgot_password", "GET"): "public",
    ("accounts.forgot_password", "POST"): "public",
    ("accounts.index", "GET"): "public",
    ("accounts.reset_password", "GET"): "public",
    ("accounts.reset_password", "POST"): "public",
    ("accounts.revoke_token", "POST"): "signed_in",
    ("accounts.sign_in", "GET"): "public",
    ("accounts.sign_in", "POST"): "public",
    ("accounts.sign_out", "POST"): "public",
    ("accounts.sign_up", "GET"): "public",
    ("accounts.sign_up", "POST"): "public",
    ("accounts_api.Me", "GET"): "signed_in",
    ("accounts_api.TokenById", "DELETE"): "signed_in",
    ("accounts_api.Tokens", "GET"): "signed_in",
    ("accounts_api.Tokens", "POST"): "signed_in",
    ("accounts_api.UserRoles", "PUT"): "site_admin",
    ("accounts_api.Users", "GET"): "site_admin",
    ("api-docs.openapi_json", "GET"): "public",
    ("api-docs.openapi_swagger_ui", "GET"): "public",
    ("badges.badge_image", "GET"): "public",
    ("badges.badge_page", "GET"): "public",
    ("badges.badge_png", "GET"): "public",
    ("badges.certificate_pdf", "GET"): "public",
    ("badges.certificate_pem", "GET"): "public",
    ("badges.credential_json", "GET"): "public",
    ("badges.credential_jwt", "GET"): "public",
    ("badges.did_json", "GET"): "public",
    ("badges.issuer_page", "GET"): "public",
    ("badges.revoke", "POST"): "program_admin|site_admin",
    ("badges.status_list", "GET"): "public",
    ("badges.verifier_home", "GET"): "state_verifier",
    ("badges.verify", "GET"): "public",
    ("badges.verify", "POST"): "public",
    ("badges.visibility", "POST"): "signed_in",
    ("badges_api.BadgeById", "PATCH"): "signed_in",
    ("badges_api.MyBadges", "GET"): "signed_in",
    ("badges_api.Revoke", "POST"): "program_admin|site_admin",
    ("badges_api.verifications", "POST"): "public",
    ("credentials.admin_catalog", "GET"): "program_admin|site_admin",
    ("credentials.admin_diff", "GET"): "program_admin|site_admin",
    ("credentials.admin_edit", "GET"): "program_admin|site_admin",
    ("credentials.admin_edit", "POST"): "program_admin|site_admin",
    ("credentials.admin_new", "GET"): "program_admin|site_admin",
    ("credentials.admin_new", "POST"): "program_admin|site_admin",
    ("credentials.admin_new_version", "POST"): "program_admin|site_admin",
    ("credentials.admin_preview", "GET"): "program_admin|site_admin",
    ("credentials.admin_publish", "POST"): "program_admin|site_admin",
    ("credentials.admin_retire", "POST"): "program_admin|site_admin",
    ("credentials.catalog", "GET"): "public",
    ("credentials.detail", "GET"): "public",
    ("credentials.framework", "GET"): "public",
    ("credentials.framework_item", "GET"): "public",
    ("credentials.frameworks", "GET"): "public",
    ("credentials_api.Catalog", "GET"): "public",
    ("credentials_api.Diff", "GET"): "program_admin|site_admin",
    ("credentials_api.MicroCredentialByCode", "GET"): "public",
    ("credentials_api.MicroCredentials", "POST"): "program_admin|site_admin",
    ("credentials_api.Publish", "POST"): "program_admin|site_admin",
    ("credentials_api.Retire", "POST"): "program_admin|site_admin",
    ("credentials_api.Stacks", "GET"): "public",
    ("credentials_api.VersionByNumber", "GET"): "program_admin|site_admin",
    ("credentials_api.VersionByNumber", "PUT"): "program_admin|site_admin",
    ("credentials_api.Versions", "GET"): "program_admin|site_admin",
    ("credentials_api.Versions", "POST"): "program_admin|site_admin",
    ("evidence.accessibility", "POST"): "teacher",
    ("evidence.add_link", "POST"): "teacher",
    ("evidence.add_text", "POST"): "teacher",
    ("evidence.delete", "POST"): "teacher",
    ("evidence.download", "GET"): "signed_in",
    ("evidence.export", "GET"): "signed_in",
    ("evidence.portfolio", "GET"): "teacher",
    ("evidence.remove_item", "POST"): "teacher",
    ("evidence.start", "POST"): "teacher",
    ("evidence.submission", "GET"): "teacher",
    ("evidence.submit", "POST"): "teacher",
    ("evidence.upload_file", "POST"): "teacher",
    ("evidence.withdraw", "POST"): "teacher",
    ("evidence_api.ItemById", "DELETE"): "teacher",
    ("evidence_api.ItemById", "PATCH"): "teacher",
    ("evidence_api.LinkItems", "POST"): "teacher",
    ("evidence_api.SubmissionById", "DELETE"): "teacher",
    ("evidence_api.SubmissionById", "GET"): "signed_in",
    ("evidence_api.Submissions", "GET"): "teacher",
    ("evidence_api.Submissions", "POST"): "teacher",
    ("evidence_api.Submit", "POST"): "teacher",
    ("evidence_api.TextItems", "POST"): "teacher",
    ("evidence_api.Uploads", "POST"): "teacher",
    ("evidence_api.Withdraw", "POST"): "teacher",
    ("evidence_api.download", "GET"): "signed_in",
    ("evidence_api.export", "GET"): "signed_in",
    ("evidence_api.upload_bytes", "DELETE"): "teacher",
    ("evidence_api.upload_bytes", "PATCH"): "teacher",
    ("evidence_api.upload_file", "POST"): "teacher",
    ("health.healthz", "GET"): "public",
    ("i18n.set_language", "POST"): "public",
    ("reviews.appeal", "POST"): "teacher",
    ("reviews.assign", "POST"): "program_admin|site_admin",
    ("reviews.assign_appeal", "POST"): "program_admin|site_admin",
    ("reviews.dashboard", "GET"): "program_admin|site_admin",
    ("reviews.declare_conflict", "GET"): "reviewer",
    ("reviews.declare_conflict", "POST"): "reviewer",
    ("reviews.evidence_file", "GET"): "reviewer",
    ("reviews.extra_attempt", "POST"): "program_admin|site_admin",
    ("reviews.notification_preference", "GET"): "signed_in",
    ("reviews.notification_preference", "POST"): "signed_in",
    ("reviews.profile", "POST"): "program_admin|site_admin",
    ("reviews.queue", "GET"): "reviewer",
    ("reviews.reassign", "POST"): "program_admin|site_admin",
    ("reviews.score", "GET"): "reviewer",
    ("reviews.score", "POST"): "reviewer",
    ("reviews_api.AppealSubmission", "POST"): "teacher",
    ("reviews_api.AssignAppeal", "POST"): "program_admin|site_admin",
    ("reviews_api.AssignmentById", "GET"): "reviewer",
    ("reviews_api.Assignments", "GET"): "reviewer",
    ("reviews_api.Dashboard", "GET"): "program_admin|site_admin",
    ("reviews_api.DecisionForSubmission", "GET"): "program_admin|site_admin|teacher",
    ("reviews_api.ExtraAttempts", "POST"): "program_admin|site_admin",
    ("reviews_api.ManualAssign", "POST"): "program_admin|site_admin",
    ("reviews_api.MyConflicts", "POST"): "reviewer",
    ("reviews_api.Profile", "PUT"): "program_admin|site_admin",
    ("reviews_api.Reassign", "POST"): "program_admin|site_admin",
    ("reviews_api.Scores", "PUT"): "reviewer",
    ("reviews_api.SubmitScores", "POST"): "reviewer",
    ("reviews_calibration.admin_calibration", "GET"): "program_admin|site_admin",
    ("reviews_calibration.admin_mark_anchor", "POST"): "program_admin|site_admin",
    ("reviews_calibration.admin_reliability", "GET"): "program_admin|site_admin",
    ("reviews_calibration.admin_reliability_csv", "GET"): "program_admin|site_admin",
    ("reviews_calibration.reviewer_calibration", "GET"): "reviewer",
    ("reviews_calibration.reviewer_evidence_file", "GET"): "reviewer",
    ("reviews_calibration.reviewer_score", "GET"): "reviewer",
    ("reviews_calibration.reviewer_score", "POST"): "reviewer",
    ("reviews_calibration_api.AnchorScores", "POST"): "reviewer",
    ("reviews_calibration_api.Anchors", "GET"): "program_admin|reviewer|site_admin",
    ("reviews_calibration_api.Anchors", "POST"): "program_admin|site_admin",
    ("reviews_calibration_api.MyCalibration", "GET"): "reviewer",
    ("reviews_calibration_api.Reliability", "GET"): "program_admin|site_admin",
    ("reviews_calibration_api.ReliabilityCsv", "GET"): "program_admin|site_admin",
    ("rubrics_api.Diff", "GET"): "public",
    ("rubrics_api.Publish", "POST"): "program_admin|site_admin",
    ("rubrics_api.Rubrics", "GET"): "public",
    ("rubrics_api.Rubrics", "POST"): "program_admin|site_admin",
    ("rubrics_api.VersionByNumber", "GET"): "public",
    ("rubrics_api.VersionByNumber", "PUT"): "program_admin|site_admin",
    ("rubrics_api.Versions", "POST"): "program_admin|site_admin",
    ("badges_bulk.example_csv", "GET"): "public",
    ("badges_bulk.result_page", "GET"): "state_verifier|program_admin|site_admin",
    ("badges_bulk.status_page", "GET"): "state_verifier|program_admin|site_admin",
    ("badges_bulk.upload", "GET"): "state_verifier|program_admin|site_admin",
    ("badges_bulk.upload", "POST"): "state_verifier|program_admin|site_admin",
    ("badges_bulk_api.BulkStatus", "GET"): "state_verifier|program_admin|site_admin",
    ("badges_bulk_api.bulk_result", "GET"): "state_verifier|program_admin|site_admin",
    ("badges_bulk_api.start_bulk", "POST"): "state_verifier|program_admin|site_admin",
    ("badges_transcripts.my_transcript", "GET"): "signed_in",
    ("badges_transcripts.my_export", "GET"): "signed_in",
    ("badges_transcripts.educator", "GET"): "signed_in",
    ("badges_transcripts.educator_export", "GET"): "signed_in",
    ("badges_transcripts.share", "POST"): "signed_in",
    ("badges_transcripts.create_link", "POST"): "signed_in",
    ("badges_transcripts.revoke_link", "POST"): "signed_in",
    ("badges_transcripts.lookup", "GET"): "program_admin|site_admin|state_verifier",
    ("badges_transcripts.shared", "GET"): "public",
    ("badges_transcripts.shared_export", "GET"): "public",
    ("badges_transcripts_api.Lookup", "GET"): "program_admin|site_admin|state_verifier",
    ("badges_transcripts_api.Mine", "GET"): "signed_in",
    ("badges_transcripts_api.MyShare", "PUT"): "signed_in",
    ("badges_transcripts_api.MyShare", "DELETE"): "signed_in",
    ("badges_transcripts_api.MyLinks", "GET"): "signed_in",
    ("badges_transcripts_api.MyLinks", "POST"): "signed_in",
    ("badges_transcripts_api.MyLink", "DELETE"): "signed_in",
    ("badges_transcripts_api.ByEducator", "GET"): "signed_in",
    ("badges_transcripts_api.Shared", "GET"): "public",
    ("case_api.FrameworkPackage", "GET"): "public",
    ("case_api.Frameworks", "GET"): "public",
    ("case_api.PackageUpload", "POST"): "program_admin|site_admin",
    ("case_api.Packages", "POST"): "program_admin|site_admin",
    ("case_uris.cf_document", "GET"): "public",
    ("case_uris.cf_item", "GET"): "public",
    ("case_uris.cf_package", "GET"): "public",
    ("case_uris.cf_rubric", "GET"): "public",
}
SKIPPED_ENDPOINTS = {"static", "swagger_ui_static"}
IDENTITIES = ["anonymous", *[role.value for role in Role]]
PLACEHOLDERS = {
    "int": "987654",
    "path": "none/such",
    "default": "00000000-0000-0000-0000-000000000000",
}


def _routes(app: Flask) -> list[tuple[Rule, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule, method))
    return found


def _url(rule: Rule) -> str:
    url = rule.rule
    for argument in rule.arguments:
        kind = type(rule._converters[argument]).__name__.lower()
        value = (
            PLACEHOLDERS["int"]
            if "integer" in kind
            else PLACEHOLDERS["path"]
            if "path" in kind
            else PLACEHOLDERS["default"]
        )
        url = url.replace(f"<{argument}>", value)
        for prefix in ("int", "path", "string"):
            url = url.replace(f"<{prefix}:{argument}>", value)
    return url


def test_every_route_has_an_expectation(app: Flask) -> None:
    listed = {(rule.endpoint, method) for rule, method in _routes(app)}
    missing = sorted(listed - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - listed)
    assert not missing, f"routes without an authorization expectation: {missing}"
    assert not stale, f"expectations for routes that no longer exist: {stale}"


def _allowed(access: str, identity: str) -> bool:
    if access == "public":
        return True
    if identity == "anonymous":
        return False
    return access == "signed_in" or identity in access.split("|")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_role_gates_on_every_route(app: Flask, identity: str) -> None:
    client = app.test_client()
    headers: dict[str, str] = {}
    if identity != "anonymous":
        make_user(app, f"{identity}@example.org", Role(identity))
        assert sign_in(client, f"{identity}@example.org").status_code == 302
    headers["X-CSRFToken"] = (
        csrf_from(client, "/sign-in") if identity == "anonymous" else csrf_from(client, "/account")
    )
    problems: list[str] = []
    for rule, method in _routes(app):
        if (rule.endpoint, method) in {("accounts.sign_out", "POST")}:
            continue  # would end this client's session for the rest of the loop
        access = EXPECTED[(rule.endpoint, method)]
        url = _url(rule)
        kwargs: dict[str, Any] = {"headers": headers}
        if method != "GET":
            kwargs["json"] = {}
        response = client.open(url, method=method, **kwargs)
        status = response.status_code
        is_api = url.startswith("/api/")
        if status >= 500 and (rule.endpoint, status) != ("health.healthz", 503):  # no worker here
            problems.append(f"{method} {url}: {status}")
        elif _allowed(access, identity):
            if status in (401, 403) or (
                status == 302 and "/sign-in" in response.headers.get("Location", "")
            ):
                problems.append(f"{method} {url}: {identity} should pass the gate, got {status}")
        elif identity == "anonymous":
            expected = 401 if is_api else 302
            if status != expected:
                problems.append(f"{method} {url}: anonymous should get {expected}, got {status}")
        elif status != 403:
            problems.append(f"{method} {url}: {identity} should get 403, got {status}")
    assert not problems, "\n".join(problems)
