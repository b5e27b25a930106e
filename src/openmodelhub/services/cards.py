"""Repo cards: the YAML front matter of README.md, and what the listing needs from it."""

from dataclasses import dataclass, field
from typing import Any

import yaml

from openmodelhub.services.card_spec import validate_metadata


class CardError(ValueError):
    pass


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(yaml text or None, body) of a card."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise CardError("the YAML front matter starts with '---' but is never closed by a '---' line")


def parse_card_metadata(text: str) -> dict[str, Any]:
    """The card's metadata as a dict ({} when there is none). Raises CardError for invalid YAML."""
    raw, _ = split_front_matter(text)
    if raw is None or not raw.strip():
        return {}
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise CardError(f"invalid YAML in the card metadata: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError("the card metadata must be a YAML mapping (key: value lines)")
    return data


@dataclass
class CardFacts:
    card_data: dict[str, Any] | None
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def card_facts(readme: str | None, config: dict[str, Any] | None) -> CardFacts:
    """Tags and headline fields as listings show them, from the card and config.json."""
    try:
        meta = parse_card_metadata(readme) if readme is not None else {}
    except CardError:
        meta = {}
    tags: list[str] = []

    def add(tag: str) -> None:
        if tag and tag not in tags:
            tags.append(tag)

    library = meta.get("library_name")
    pipeline = meta.get("pipeline_tag")
    if library is None and config is not None:
        library = "transformers"
    if isinstance(library, str):
        add(library)
    for t in _as_list(meta.get("tags")):
        add(t)
    if config is not None and isinstance(config.get("model_type"), str):
        add(config["model_type"])
    if isinstance(pipeline, str):
        add(pipeline)
    for d in _as_list(meta.get("datasets")):
        add(f"dataset:{d}")
    for lang in _as_list(meta.get("language")):
        add(lang)
    for lic in _as_list(meta.get("license")):
        add(f"license:{lic}")
    for base in _as_list(meta.get("base_model")):
        add(f"base_model:{base}")
    return CardFacts(
        card_data=meta or None,
        tags=tags,
        pipeline_tag=pipeline if isinstance(pipeline, str) else None,
        library_name=library if isinstance(library, str) else None,
    )


def validate_card(content: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a README's metadata, as `/api/validate-yaml` reports them."""
    try:
        meta = parse_card_metadata(content)
    except CardError as exc:
        return [str(exc)], []
    return validate_metadata(meta)
