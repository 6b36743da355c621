"""Sign-in, sign-up, password reset, account settings, role homes, admin pages."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from redis.exceptions import RedisError

from accounts import services
from accounts.models import Role
from accounts.policy import ADMIN_ROLES, login_required, roles_required
from accounts.schemas import (
    US_STATES,
    ApiTokenCreateSchema,
    PasswordResetRequestSchema,
    PasswordResetSchema,
    ProfileSchema,
    RolesUpdateSchema,
    SignInSchema,
    SignUpSchema,
)
from core import jobs
from core.errors import ServiceError
from core.extensions import limiter
from core.forms import flatten_messages, parse_form, safe_next_url
from core.i18n import DEFAULT_LOCALE, N_, _, current_locale, translate
from core.registry import role_home

bp = Blueprint("accounts", __name__)

NAV_LABELS = {
    Role.TEACHER: N_("My portfolio"),
    Role.REVIEWER: N_("My review queue"),
    Role.PROGRAM_ADMIN: N_("Catalog and operations"),
    Role.SITE_ADMIN: N_("Catalog and operations"),
    Role.STATE_VERIFIER: N_("Verify a badge"),
}
ROLE_ORDER = (Role.TEACHER, Role.REVIEWER, Role.PROGRAM_ADMIN, Role.SITE_ADMIN, Role.STATE_VERIFIER)


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _email_key() -> str:
    return "sign-in:" + request.form.get("email", "").strip().lower()[:254]


def home_url_for(role: Role) -> str:
    endpoint = role_home(current_app, str(role))
    return url_for(endpoint) if endpoint else url_for("accounts.index")


@bp.app_context_processor
def _navigation() -> dict[str, Any]:
    links: list[tuple[str, str]] = []
    if current_user and current_user.is_authenticated:  # None when a job renders mail
        for role in ROLE_ORDER:
            href = home_url_for(role) if role_home(current_app, str(role)) else None
            if role in current_user.roles and href and href not in {h for _l, h in links}:
                links.append((NAV_LABELS[role], href))
    return {
        "role_links": links,
        "Role": Role,
        "state_options": [(code, code) for code in US_STATES],
    }


@bp.get("/")
def index() -> Any:
    if current_user.is_authenticated:
        for role in ROLE_ORDER:
            if role in current_user.roles:
                return redirect(home_url_for(role))
    return render_template("accounts/landing.html")


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_email_key)
def sign_in() -> Any:
    errors: dict[str, Any] = {}
    form: dict[str, Any] = {"next": request.args.get("next", "")}
    if request.method == "POST":
        form = request.form.to_dict()
        data, errors = parse_form(SignInSchema())
        if data is not None:
            user = services.authenticate(data["email"], data["password"])
            if user is not None:
                session.clear()  # a fresh session: no fixation
                login_user(user, remember=data["remember"])
                flash(_("Signed in as %(name)s.", name=user.name), "success")
                return redirect(safe_next_url(data.get("next")) or url_for("accounts.index"))
            errors = {
                "_schema": [_("The email or password is not right. Check both and try again.")]
            }
    status = 422 if errors else 200
    return render_template("accounts/sign_in.html", form=form, errors=errors), status


@bp.post("/sign-out")
def sign_out() -> Any:
    logout_user()
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("accounts.index"))


@bp.route("/sign-up", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def sign_up() -> Any:
    errors: dict[str, Any] = {}
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        data, errors = parse_form(SignUpSchema())
        if data is not None:
            if current_locale() != DEFAULT_LOCALE:  # keep a non-default page language
                data["locale"] = current_locale()
            try:
                user = services.register_teacher(data)
            except ServiceError as exc:
                errors = exc.errors or {"_schema": [exc.message]}
            else:
                session.clear()
                login_user(user)
                flash(_("Welcome! Your teacher account is ready."), "success")
                return redirect(url_for("accounts.index"))
    status = 422 if errors else 200
    return render_template("accounts/sign_up.html", form=form, errors=errors), status


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password() -> Any:
    errors: dict[str, Any] = {}
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        data, errors = parse_form(PasswordResetRequestSchema())
        if data is not None:
            services.request_password_reset(data["email"])
            flash(
                _(
                    "If an account uses that email, a reset link is on its way. "
                    "It works once, within an hour."
                ),
                "success",
            )
            return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/forgot.html", form=form, errors=errors), (
        422 if errors else 200
    )


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token: str) -> Any:
    try:
        services.user_for_reset_token(token)
    except ServiceError as exc:
        flash(translate(exc.message), "error")
        return redirect(url_for("accounts.forgot_password"))
    errors: dict[str, Any] = {}
    if request.method == "POST":
        data, errors = parse_form(PasswordResetSchema())
        if data is not None:
            services.reset_password(token, data["password"])
            flash(_("Your password is changed. Sign in with the new one."), "success")
            return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/reset.html", errors=errors), (422 if errors else 200)


def _account_page(**context: Any) -> str:
    context.setdefault("errors", {})
    context.setdefault("token_errors", {})
    context.setdefault(
        "form",
        {
            "name": current_user.name,
            "license_number": current_user.license_number or "",
            "license_state": current_user.license_state or "",
            "locale": current_user.locale or "",
        },
    )
    return render_template(
        "accounts/account.html",
        tokens=services.list_api_tokens(current_user),
        **context,
    )


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Any:
    if request.method == "POST":
        data, errors = parse_form(ProfileSchema())
        if data is None:
            return _account_page(errors=errors, form=request.form.to_dict()), 422
        services.update_profile(current_user, data)
        flash(_("Your profile is saved."), "success")
        return redirect(url_for("accounts.account"))
    return _account_page()


@bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    data, errors = parse_form(ApiTokenCreateSchema())
    if data is None:
        return _account_page(token_errors=errors), 422
    token, secret = services.create_api_token(current_user, data["name"])
    return _account_page(new_token=secret, new_token_name=token.name)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    token = services.revoke_api_token(current_user, token_id)
    flash(_("Token “%(name)s” is revoked; it no longer works.", name=token.name), "success")
    return redirect(url_for("accounts.account"))


# --- Role homes (later domains take these over through core.registry) ---------


@bp.get("/admin")
@roles_required(*ADMIN_ROLES)
def admin_home() -> Any:
    try:
        failed = len(jobs.failed_jobs())
    except RedisError:
        failed = None
    return render_template(
        "accounts/home_admin.html",
        user_count=len(services.list_users()),
        outbox_pending=jobs.pending_outbox_count(),
        failed_count=failed,
    )


# --- Site administration -------------------------------------------------------


@bp.get("/admin/users")
@roles_required(Role.SITE_ADMIN)
def admin_users() -> Any:
    return render_template(
        "accounts/admin_users.html", users=services.list_users(), all_roles=list(Role)
    )


@bp.post("/admin/users/<int:user_id>/roles")
@roles_required(Role.SITE_ADMIN)
def admin_set_roles(user_id: int) -> Any:
    user = services.get_user(user_id)
    data, errors = parse_form(RolesUpdateSchema(), list_fields=("roles",))
    if data is None:
        flash(f"Roles for {user.name} not changed: " + "; ".join(flatten_messages(errors)), "error")
        return render_template(
            "accounts/admin_users.html", users=services.list_users(), all_roles=list(Role)
        ), 422
    services.set_roles(current_user, user, data["roles"])
    flash(f"Roles for {user.name} saved.", "success")
    return redirect(url_for("accounts.admin_users"))


@bp.get("/admin/jobs")
@roles_required(*ADMIN_ROLES)
def admin_jobs() -> Any:
    try:
        failed = jobs.failed_jobs()
        redis_error = None
    except RedisError as exc:
        failed, redis_error = [], str(exc)
    return render_template(
        "accounts/admin_jobs.html",
        failed=failed,
        redis_error=redis_error,
        outbox_pending=jobs.pending_outbox_count(),
    )


@bp.post("/admin/jobs/<job_id>/requeue")
@roles_required(*ADMIN_ROLES)
def admin_requeue_job(job_id: str) -> Any:
    try:
        jobs.requeue_failed(job_id)
    except LookupError:
        abort(404)
    flash("The job is queued again.", "success")
    return redirect(url_for("accounts.admin_jobs"))
