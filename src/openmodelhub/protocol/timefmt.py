"""Timestamps in the one form every Hub client parses: `YYYY-MM-DDTHH:MM:SS.fffZ`."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(value: datetime | int | float) -> str:
    """Format a datetime (naive = UTC) or a unix time as ISO-8601 with a `Z` suffix (never `+00:00`)."""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
