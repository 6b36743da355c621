"""Users, organizations, roles and API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db_types import UTCDateTime, utcnow
from core.extensions import db
from core.i18n import N_


class Role(StrEnum):
    TEACHER = "teacher"
    REVIEWER = "reviewer"
    PROGRAM_ADMIN = "program_admin"
    STATE_VERIFIER = "state_verifier"
    SITE_ADMIN = "site_admin"

    @property
    def label(self) -> str:
        return {
            Role.TEACHER: N_("Teacher"),
            Role.REVIEWER: N_("Reviewer"),
            Role.PROGRAM_ADMIN: N_("Program admin"),
            Role.STATE_VERIFIER: N_("State verifier"),
            Role.SITE_ADMIN: N_("Site admin"),
        }[self]


class OrganizationKind(StrEnum):
    DISTRICT = "district"
    SCHOOL = "school"
    PROVIDER = "provider"
    STATE_AGENCY = "state_agency"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def new_session_token() -> str:
    return secrets.token_urlsafe(16)


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    us_state: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=UserStatus.ACTIVE)
    license_number: Mapped[str | None] = mapped_column(String(40))
    license_state: Mapped[str | None] = mapped_column(String(2))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    locale: Mapped[str | None] = mapped_column(String(10))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of the login cookie; replaced when the password changes so that
    # every other session of the user ends.
    session_token: Mapped[str] = mapped_column(String(40), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization: Mapped[Organization | None] = relationship()
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        lazy="selectin",
        foreign_keys="UserRole.user_id",
    )

    @property
    def roles(self) -> set[Role]:
        return {Role(row.role) for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_active(self) -> bool:  # Flask-Login: disabled users cannot sign in
        return self.status == UserStatus.ACTIVE

    def get_id(self) -> str:
        return f"{self.id}.{self.session_token}"


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        # "every reviewer", "every program admin": found by role, not by scanning all users
        Index("ix_user_roles_role_user", "role", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(back_populates="role_rows", foreign_keys=[user_id])


class ApiToken(db.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None
