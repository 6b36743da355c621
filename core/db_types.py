"""Column types shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

# Row ids are 32-bit integers on PostgreSQL; an id beyond that cannot exist.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (pass this callable as a default)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone; SQLite keeps naive text, so values are normalised
    to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store timezone-aware UTC times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class BoundedIntegerConverter(IntegerConverter):
    """The ``int`` URL converter of every route: an id beyond the database's integer
    range matches no route (404) instead of overflowing the query (500)."""

    def __init__(
        self,
        map: Any,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int = MAX_ROW_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
