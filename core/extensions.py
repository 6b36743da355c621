"""The one place where Flask extensions are created (bound later in create_app)."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Schema objects made by hand in migrations, not described by the models (the
# SQLite FTS5 table and its shadow tables, the PostgreSQL full-text index).
UNMANAGED_SCHEMA_PREFIXES = ("credential_search", "ix_micro_credentials_fts")


def include_schema_name(name: str | None, _type: str, _parent: object) -> bool:
    """Alembic filter: leave the hand-made search objects alone."""
    return not (name or "").startswith(UNMANAGED_SCHEMA_PREFIXES)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True, include_name=include_schema_name)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, strategy="fixed-window")
