"""The Jinja2 environment: templates under web/templates, autoescaped, with the filters pages use."""

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from openmodelhub.web import assets, urls


def filesize(n: int | None) -> str:
    """Bytes in decimal units, as the Hub shows them: 532 Bytes, 1.23 kB, 438 MB, 1.34 GB."""
    if n is None:
        return ""
    if n < 1000:
        return f"{n} Bytes" if n != 1 else "1 Byte"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 1000 or unit == "PB":
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def number(n: int | None) -> str:
    """Counts with thousands separators; parameter counts in M/B (110M, 7.24B)."""
    return f"{n or 0:,}"


def params(n: int) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def short(oid: str | None) -> str:
    return (oid or "")[:7]


def make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("openmodelhub.web", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filesize=filesize, number=number, params=params, when=when, short=short)
    globals_: dict[str, Any] = {"static": assets.url, "urls": urls}
    env.globals.update(globals_)
    return env
