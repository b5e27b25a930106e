"""The licence knowledge base (data/licenses.yaml) and resolving a repo's declared licence against it.

A card declares `license: <hub id>` (or a list, or an SPDX expression), or `license: other` with
`license_name`/`license_link`. A known hub id resolves to its KB entry; `other` with a known `license_name`
alias (`deepseek`, `qwen`, ...) resolves to that entry (reference 6.4), and otherwise the LICENSE file is
recognised by distinctive phrases, else the licence is unknown.
"""

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from license_expression import ExpressionError, LicenseSymbol, Licensing

LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "LICENSE-MODEL", "COPYING")
NOTICE_FILES = ("NOTICE", "NOTICE.md", "NOTICE.txt")

COMMERCIAL_ORDER = {"no": 0, "unknown": 1, "capped": 2, "yes": 3}


@dataclass(frozen=True)
class LicenseEntry:
    hub_id: str
    spdx: str | None
    family: str
    osi: bool
    fsf_libre: bool
    mof_open: bool
    mof_types: tuple[str, ...]
    commercial: str
    derivatives: str
    attribution: tuple[str, ...]
    licence_copy: bool
    share_alike: str
    continuity: bool
    use_restrictions: str | None
    naming: dict[str, Any] | None
    caps: str | None
    notice: str | None
    notice_file: bool
    fingerprints: tuple[str, ...]
    aliases: tuple[str, ...]
    compatible: tuple[str, ...]
    source: str | None

    @property
    def ref(self) -> str:
        """The id used in SPDX expressions."""
        return self.spdx or f"LicenseRef-hf-{self.hub_id}"

    @property
    def is_family(self) -> bool:
        return self.family == "family"

    @property
    def requires_same_licence(self) -> bool:
        """Derivatives must stay under this licence (custom continuity or work-level copyleft)."""
        return self.continuity or self.share_alike in ("work", "strong", "network")

    @property
    def is_open_family(self) -> bool:
        """An OSI/CC/open-data style licence: known not to carry model use restrictions."""
        return self.family in (
            "permissive",
            "weak-copyleft",
            "strong-copyleft",
            "cc",
            "open-data",
            "public-domain",
        )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.hub_id,
            "spdx": self.ref,
            "family": self.family,
            "osi": self.osi,
            "mofOpen": self.mof_open,
            "mofTypes": list(self.mof_types),
            "commercial": self.commercial,
            "derivatives": self.derivatives,
            "shareAlike": self.share_alike,
            "useRestrictions": self.use_restrictions,
            "caps": self.caps,
            "source": self.source,
        }


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    version: str
    entries: dict[str, LicenseEntry]
    hub_ids: frozenset[str]
    libraries: dict[str, dict[str, str]]
    restriction_sets: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, hub_id: str | None) -> LicenseEntry | None:
        if not hub_id:
            return None
        return self.entries.get(hub_id.strip().lower())

    def by_alias(self, name: str | None) -> LicenseEntry | None:
        if not name:
            return None
        key = name.strip().lower()
        hub_id = self.aliases.get(key)
        return self.entries.get(hub_id) if hub_id else self.entries.get(key)

    def by_spdx(self, spdx: str) -> LicenseEntry | None:
        low = spdx.lower()
        for entry in self.entries.values():
            if entry.spdx and entry.spdx.lower() == low:
                return entry
        return None

    def library_license(self, library: str | None) -> LicenseEntry | None:
        lib = self.libraries.get(library or "")
        return self.get(lib["license"]) if lib else None

    def licensing(self) -> Licensing:
        return _licensing()

    def match_text(self, text: str) -> LicenseEntry | None:
        """The KB entry whose fingerprint phrases all occur in `text` (the most specific one), or None."""
        norm = normalise_text(text)
        best: tuple[int, LicenseEntry] | None = None
        for entry in self.entries.values():
            if not entry.fingerprints:
                continue
            if all(p in norm for p in entry.fingerprints):
                score = sum(len(p) for p in entry.fingerprints)
                if best is None or score > best[0]:
                    best = (score, entry)
        return best[1] if best else None


def normalise_text(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("\u2019", "'")).strip()


@functools.cache
def knowledge_base() -> KnowledgeBase:
    raw = yaml.safe_load(resources.files("openmodelhub").joinpath("data/licenses.yaml").read_text("utf-8"))
    defaults: dict[str, Any] = raw["defaults"]
    presets: dict[str, dict[str, Any]] = raw.get("presets", {})
    entries: dict[str, LicenseEntry] = {}
    aliases: dict[str, str] = {}
    for hub_id, spec in raw["licenses"].items():
        values = {**defaults, **presets.get(spec.get("preset", ""), {}), **spec}
        values.pop("preset", None)
        entry = LicenseEntry(
            hub_id=hub_id,
            spdx=values["spdx"],
            family=values["family"],
            osi=bool(values["osi"]),
            fsf_libre=bool(values["fsf_libre"]),
            mof_open=bool(values["mof_open"]),
            mof_types=tuple(values["mof_types"]),
            commercial=str(values["commercial"]),
            derivatives=str(values["derivatives"]),
            attribution=tuple(values["attribution"]),
            licence_copy=bool(values["licence_copy"]),
            share_alike=values["share_alike"],
            continuity=bool(values["continuity"]),
            use_restrictions=values["use_restrictions"],
            naming=values["naming"],
            caps=values["caps"],
            notice=values["notice"],
            notice_file=bool(values["notice_file"]),
            fingerprints=tuple(p.lower() for p in values["fingerprints"]),
            aliases=tuple(values["aliases"]),
            compatible=tuple(values.get("compatible", ())),
            source=values["source"],
        )
        entries[hub_id] = entry
        for alias in entry.aliases:
            aliases[alias.lower()] = hub_id
    return KnowledgeBase(
        version=str(raw["version"]),
        entries=entries,
        hub_ids=frozenset(raw["hub_ids"]),
        libraries=raw.get("libraries", {}),
        restriction_sets=raw.get("restriction_sets", {}),
        aliases=aliases,
    )


@functools.cache
def _licensing() -> Licensing:
    """A `Licensing` that knows every KB id: SPDX ids plus LicenseRef-hf-<id> for the others, with the hub
    ids as aliases (the bundled SPDX index rejects LicenseRef-* and OpenMDW, reference 4.4)."""
    kb = knowledge_base()
    symbols = []
    for entry in kb.entries.values():
        aliases = {entry.hub_id} if entry.hub_id.lower() != entry.ref.lower() else set()
        symbols.append(LicenseSymbol(entry.ref, aliases=tuple(sorted(aliases))))
    return Licensing(symbols)


def license_keys(expression: str) -> list[str] | None:
    """Licence ids (as KB refs) in an SPDX-style expression, or None when it does not parse."""
    lic = knowledge_base().licensing()
    try:
        parsed = lic.parse(expression, validate=True)
    except ExpressionError:
        return None
    if parsed is None:
        return None
    return [str(k) for k in lic.license_keys(parsed)]


def and_expression(refs: list[str]) -> str:
    """`A AND B AND ...` of distinct refs, in order, normalised by license-expression."""
    distinct = list(dict.fromkeys(refs))
    if not distinct:
        return ""
    text = " AND ".join(distinct)
    try:
        return str(knowledge_base().licensing().parse(text))
    except ExpressionError:
        return text


@dataclass(frozen=True)
class ResolvedLicense:
    """A repo's licence as the hub understands it. `entry` is None when unknown."""

    declared: str | None  # what the card says (`license`, or `other` + name)
    entry: LicenseEntry | None
    source: str  # "card" | "license_name" | "license-file" | "expression" | "none"
    status: str  # "known" | "family" | "unknown" | "missing" | "mismatch"
    note: str = ""

    @property
    def ref(self) -> str | None:
        if self.entry is not None:
            return self.entry.ref
        if self.declared:
            return f"LicenseRef-hf-{re.sub(r'[^A-Za-z0-9.-]+', '-', self.declared)}"
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "declared": self.declared,
            "id": self.entry.hub_id if self.entry else None,
            "spdx": self.ref,
            "source": self.source,
            "status": self.status,
        }
        if self.note:
            out["note"] = self.note
        if self.entry is not None:
            out["attributes"] = self.entry.summary()
        return out


def resolve_license(meta: dict[str, Any] | None, license_text: str | None = None) -> ResolvedLicense:
    """Resolve the card's licence fields (cross-checked with the LICENSE file text when there is one)."""
    kb = knowledge_base()
    meta = meta or {}
    raw = meta.get("license")
    if isinstance(raw, list):
        raw = " AND ".join(str(r) for r in raw if r) if len(raw) > 1 else (raw[0] if raw else None)
    from_text = kb.match_text(license_text) if license_text else None
    if raw is None or raw == "":
        if from_text is not None:
            return ResolvedLicense(None, from_text, "license-file", "known", "no `license` in the card")
        return ResolvedLicense(None, None, "none", "missing")
    raw = str(raw).strip()
    if raw.lower() in ("other", "unknown"):
        name = meta.get("license_name")
        declared = f"other:{name}" if name else raw.lower()
        entry = kb.by_alias(str(name)) if isinstance(name, str) else None
        if entry is not None:
            if from_text is not None and from_text.hub_id != entry.hub_id:
                return ResolvedLicense(
                    declared,
                    None,
                    "license_name",
                    "mismatch",
                    f"license_name {name!r} but the LICENSE file reads as {from_text.hub_id}",
                )
            return ResolvedLicense(declared, entry, "license_name", "known")
        if from_text is not None:
            return ResolvedLicense(
                declared, from_text, "license-file", "known", "recognised from the LICENSE file"
            )
        return ResolvedLicense(declared, None, "license_name", "unknown", "custom licence not recognised")
    entry = kb.get(raw)
    if entry is None and (" " in raw or kb.by_spdx(raw)):
        keys = license_keys(raw)
        if keys and len(keys) == 1:
            entry = kb.get(keys[0]) or kb.by_spdx(keys[0])
        elif keys:
            # A compound expression: treat as unknown for attributes, but keep the parsed form.
            return ResolvedLicense(raw, None, "expression", "unknown", "compound licence expression")
    if entry is None:
        return ResolvedLicense(raw, None, "card", "unknown", f"{raw!r} is not in the licence knowledge base")
    if entry.is_family:
        if from_text is not None and not from_text.is_family:
            return ResolvedLicense(
                raw, from_text, "license-file", "known", f"family id {raw!r} refined by LICENSE"
            )
        return ResolvedLicense(raw, entry, "card", "family", f"{raw!r} names a licence family")
    if from_text is not None and from_text.hub_id != entry.hub_id and from_text.family != entry.family:
        return ResolvedLicense(
            raw,
            entry,
            "card",
            "mismatch",
            f"the LICENSE file reads as {from_text.hub_id}, the card says {raw}",
        )
    return ResolvedLicense(raw, entry, "card", "known")
