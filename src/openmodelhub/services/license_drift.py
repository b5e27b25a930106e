"""Effective licence and licence drift along `base_model` lineage (reference sections 6.2-6.5).

Pure: the caller gives every node of the subject's ancestry (its declared licence, its parents and the
relation to them) and the subject's own files; nothing here reads the database. The vocabulary:

- `conflict`: the ancestors' terms cannot all hold (two different licences that each require derivatives
  to stay under them).
- `drift`: the declared licence grants, or fails to carry, something an ancestor's licence requires.
- `lineage-cycle`, `lineage-unresolved`: the ancestry cannot be walked / a base is not known here.
- `needs-review`: a family id, an unknown licence or a lossy conversion under ND; never guessed.
- `obligations-unmet`: consistent, but a duty (licence copy, notice, naming, display) is not visibly met.
- `ok`.

`status` folds these into ok / drift / unknown.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from openmodelhub.services.licenses import LicenseEntry, ResolvedLicense, and_expression, knowledge_base

DERIVATIVE_RELATIONS = ("finetune", "adapter", "merge")
SEVERITY = [
    "conflict",
    "drift",
    "lineage-cycle",
    "needs-review",
    "lineage-unresolved",
    "obligations-unmet",
    "ok",
]
STATUS = {
    "conflict": "drift",
    "drift": "drift",
    "lineage-cycle": "unknown",
    "needs-review": "unknown",
    "lineage-unresolved": "unknown",
    "obligations-unmet": "ok",
    "ok": "ok",
}
MAX_DEPTH = 32


@dataclass
class LicenseNode:
    """One repo of a lineage, as the licence rules need it."""

    id: str
    on_hub: bool
    license: ResolvedLicense
    parents: list[str] = field(default_factory=list)
    relation: str | None = None  # relation of this node to its parents
    files: set[str] = field(default_factory=set)  # the subject's paths (for licence copy / notice checks)
    readme_body: str = ""
    notice_text: str = ""
    license_link: str | None = None


@dataclass
class Finding:
    verdict: str
    rule: str
    message: str
    ancestor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rule": self.rule,
            "message": self.message,
            "ancestor": self.ancestor,
        }


@dataclass
class Ancestor:
    id: str
    node: LicenseNode | None  # None: not resolvable on this hub
    relation: str  # the propagation relation along the path: a derivative relation or "quantized"
    depth: int
    via: str  # the child on the path that names this ancestor as base


@dataclass
class LicenseVerdict:
    verdict: str
    findings: list[Finding]
    effective_expression: str
    effective: dict[str, Any]
    ancestors: list[Ancestor]

    @property
    def status(self) -> str:
        return STATUS[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "status": self.status,
            "reasons": [f.to_json() for f in self.findings],
            "effectiveExpression": self.effective_expression,
            "effective": self.effective,
            "kbVersion": knowledge_base().version,
        }


def _combine(path_relation: str, edge: str) -> str:
    """The relation along a path: quantized only if every edge is; else the derivative relation."""
    if path_relation == "quantized":
        return edge
    if edge == "quantized":
        return path_relation
    return "merge" if "merge" in (path_relation, edge) else path_relation


def walk_ancestors(subject: str, nodes: dict[str, LicenseNode]) -> tuple[list[Ancestor], list[Finding]]:
    """Breadth-first over `base_model` links, de-duplicated, with cycle detection and a depth cap."""
    findings: list[Finding] = []
    out: list[Ancestor] = []
    seen = {subject}
    start = nodes[subject]
    queue: list[tuple[str, str, int, str]] = [
        (p, start.relation or "finetune", 1, subject) for p in start.parents
    ]
    while queue:
        node_id, relation, depth, via = queue.pop(0)
        if node_id == subject:
            findings.append(
                Finding("lineage-cycle", "6.1", f"{via} names {subject} as its base: a cycle", subject)
            )
            continue
        if node_id in seen:
            continue
        seen.add(node_id)
        node = nodes.get(node_id)
        out.append(Ancestor(node_id, node, relation, depth, via))
        if node is None or depth >= MAX_DEPTH:
            continue
        for parent in node.parents:
            queue.append((parent, _combine(relation, node.relation or "finetune"), depth + 1, node_id))
    return out, findings


def _same_terms(child: LicenseEntry, base: LicenseEntry) -> bool:
    return child.hub_id == base.hub_id or base.hub_id in child.compatible


def evaluate(subject: str, nodes: dict[str, LicenseNode]) -> LicenseVerdict:
    """The effective licence and the drift verdict of `subject`, given its ancestry in `nodes`."""
    kb = knowledge_base()
    me = nodes[subject]
    ancestors, findings = walk_ancestors(subject, nodes)
    declared = me.license.entry
    refs: list[str] = [me.license.ref] if me.license.ref else []
    restricted_base = False

    for anc in ancestors:
        if anc.node is None:
            findings.append(
                Finding(
                    "lineage-unresolved",
                    "6.1",
                    f"base {anc.id} is not on this hub: its licence is unknown",
                    anc.id,
                )
            )
            continue
        base = anc.node.license.entry
        if anc.node.license.ref:
            refs.append(anc.node.license.ref)
        if base is None or base.is_family or anc.node.license.status == "mismatch":
            findings.append(
                Finding(
                    "needs-review",
                    "6.4",
                    f"the licence of ancestor {anc.id} ({anc.node.license.declared or 'none'}) "
                    f"cannot be resolved: "
                    f"{anc.node.license.note or 'not in the knowledge base'}",
                    anc.id,
                )
            )
            continue
        if base.commercial in ("no", "capped") or base.requires_same_licence or base.use_restrictions:
            restricted_base = True
        findings.extend(_rules(anc, base, me.license))

    if me.license.entry is None or me.license.status in ("family", "mismatch"):
        if me.license.status == "missing":
            if restricted_base:
                findings.append(
                    Finding("obligations-unmet", "6.4", "no `license` on a derivative of a restricted base")
                )
        else:
            findings.append(
                Finding(
                    "needs-review",
                    "4.2",
                    f"declared licence {me.license.declared!r}: {me.license.note or 'not resolvable'}",
                )
            )
    findings.extend(_conflicts(ancestors))
    findings.extend(_obligations(me, declared, ancestors))

    verdict = "ok"
    for f in findings:
        if SEVERITY.index(f.verdict) < SEVERITY.index(verdict):
            verdict = f.verdict
    return LicenseVerdict(
        verdict=verdict,
        findings=findings,
        effective_expression=and_expression(refs),
        effective=_effective_flags(me, ancestors, kb.restriction_sets),
        ancestors=ancestors,
    )


def _rules(anc: Ancestor, base: LicenseEntry, child: ResolvedLicense) -> list[Finding]:
    """Drift rules 1-6 of reference 6.4 for one ancestor."""
    d = child.entry
    out: list[Finding] = []
    if d is None or d.is_family or child.status == "mismatch":
        return out  # the child's licence is unknown: never drift (reported as needs-review)
    derivative = anc.relation in DERIVATIVE_RELATIONS
    rel = f"{anc.relation} of {anc.id} [{base.hub_id}]"
    if base.commercial == "no" and d.commercial in ("yes", "capped"):
        out.append(Finding("drift", "1", f"{rel} forbids commercial use, but {d.hub_id} allows it", anc.id))
    if base.derivatives == "no":
        if derivative:
            out.append(Finding("drift", "2", f"{rel} forbids sharing adapted material (ND)", anc.id))
        elif d.hub_id != base.hub_id:
            out.append(Finding("drift", "2", f"{rel} (ND) may only be shared under {base.hub_id}", anc.id))
        else:
            out.append(
                Finding(
                    "needs-review", "2", f"{rel}: lossy quantization under a no-derivatives licence", anc.id
                )
            )
    if base.continuity and not _same_terms(d, base):
        if d.is_open_family:
            out.append(
                Finding(
                    "drift",
                    "3",
                    f"{rel} requires derivatives to stay under {base.hub_id}; "
                    f"{d.hub_id} does not carry its terms",
                    anc.id,
                )
            )
        else:
            out.append(
                Finding(
                    "needs-review",
                    "3",
                    f"{rel}: check that {d.hub_id} embeds the {base.hub_id} terms",
                    anc.id,
                )
            )
    if base.use_restrictions and d.use_restrictions is None and d.is_open_family:
        out.append(
            Finding(
                "drift",
                "4",
                f"{rel} carries use restrictions ({base.use_restrictions}) that {d.hub_id} drops",
                anc.id,
            )
        )
    if (
        base.share_alike in ("work", "strong", "network")
        and anc.relation in ("finetune", "quantized", "merge")
        and not _same_terms(d, base)
    ):
        out.append(
            Finding(
                "drift", "5", f"{rel} is share-alike/copyleft; {d.hub_id} is not the same licence", anc.id
            )
        )
    if anc.relation == "quantized" and d.hub_id != base.hub_id:
        if base.family in ("permissive", "public-domain"):
            if out:
                return out
            out.append(
                Finding(
                    "obligations-unmet",
                    "6",
                    f"{rel} relicensed as {d.hub_id}: keep the base's licence and notices",
                    anc.id,
                )
            )
        else:
            out.append(Finding("drift", "6", f"{rel} must carry the same licence, not {d.hub_id}", anc.id))
    return out


def _conflicts(ancestors: list[Ancestor]) -> list[Finding]:
    """Two different licences among the ancestors that each require derivatives under themselves."""
    sticky: dict[str, str] = {}
    for anc in ancestors:
        entry = anc.node.license.entry if anc.node else None
        if entry is not None and entry.requires_same_licence and anc.relation != "quantized":
            sticky.setdefault(entry.hub_id, anc.id)
    if len(sticky) < 2:
        return []
    ids = sorted(sticky)
    for a in ids:
        for b in ids:
            entry_a = knowledge_base().get(a)
            if a < b and entry_a is not None and b not in entry_a.compatible:
                return [
                    Finding(
                        "conflict",
                        "6.2",
                        f"{sticky[a]} [{a}] and {sticky[b]} [{b}] each require "
                        "derivatives under their own terms",
                        sticky[a],
                    )
                ]
    return []


def _has(me: LicenseNode, names: tuple[str, ...]) -> bool:
    return any(n in me.files for n in names)


def _obligations(me: LicenseNode, declared: LicenseEntry | None, ancestors: list[Ancestor]) -> list[Finding]:
    out: list[Finding] = []
    has_copy = _has(me, ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENSE-MODEL")) or bool(
        me.license_link
    )
    body = me.readme_body.lower()
    name = me.id.split("/", 1)[-1]
    for anc in ancestors:
        base = anc.node.license.entry if anc.node else None
        if base is None or base.is_family:
            continue
        if base.licence_copy and not has_copy:
            out.append(
                Finding(
                    "obligations-unmet",
                    "attribution",
                    f"{anc.id} [{base.hub_id}] requires a copy of its licence: "
                    "add a LICENSE file or license_link",
                    anc.id,
                )
            )
        if base.notice_file and base.notice and declared is not None and declared.hub_id == base.hub_id:
            notice = me.notice_text.lower()
            key = base.notice.lower()[:40]
            if key not in notice and key not in body:
                out.append(
                    Finding(
                        "obligations-unmet",
                        "notice",
                        f"{anc.id} [{base.hub_id}] requires the notice: {base.notice!r}",
                        anc.id,
                    )
                )
        if base.family in ("cc",) and anc.id.lower() not in body:
            out.append(
                Finding(
                    "obligations-unmet",
                    "attribution",
                    f"{anc.id} [{base.hub_id}] requires attribution: credit {anc.id} in the card",
                    anc.id,
                )
            )
        naming = base.naming
        if naming and anc.relation in naming.get("relations", []):
            pattern = naming.get("pattern")
            if pattern and not re.search(pattern, name, re.IGNORECASE):
                out.append(
                    Finding(
                        "obligations-unmet",
                        "naming",
                        f"{anc.id} [{base.hub_id}]: a derived model's name must match {pattern!r}",
                        anc.id,
                    )
                )
            display = naming.get("display")
            if display and display.lower() not in body:
                out.append(
                    Finding(
                        "obligations-unmet",
                        "display",
                        f"{anc.id} [{base.hub_id}]: the card must display {display!r}",
                        anc.id,
                    )
                )
    # Each duty once.
    unique: dict[str, Finding] = {}
    for f in out:
        unique.setdefault(f.message, f)
    return list(unique.values())


def _effective_flags(me: LicenseNode, ancestors: list[Ancestor], sets: dict[str, str]) -> dict[str, Any]:
    entries: list[tuple[str, LicenseEntry]] = []
    if me.license.entry is not None:
        entries.append((me.id, me.license.entry))
    for anc in ancestors:
        if anc.node is not None and anc.node.license.entry is not None:
            entries.append((anc.id, anc.node.license.entry))
    unknown = (
        any(a.node is None or a.node.license.entry is None for a in ancestors) or me.license.entry is None
    )
    commercial = "unknown" if unknown else "yes"
    for _, e in entries:
        if e.commercial == "no" or (e.commercial == "capped" and commercial != "no"):
            commercial = e.commercial
        elif e.commercial == "unknown" and commercial == "yes":
            commercial = "unknown"
    return {
        "commercial": commercial,
        "derivatives": "no"
        if any(e.derivatives == "no" for _, e in entries)
        else ("unknown" if unknown else "yes"),
        "shareAlike": sorted({e.hub_id for _, e in entries if e.share_alike != "none"}),
        "useRestrictions": sorted(
            {sets.get(e.use_restrictions, e.use_restrictions) for _, e in entries if e.use_restrictions}
        ),
        "obligations": [
            {"from": rid, "license": e.hub_id, "duties": list(e.attribution)}
            for rid, e in entries
            if e.attribution
        ],
        "caps": [{"from": rid, "cap": e.caps} for rid, e in entries if e.caps],
        "notices": [{"from": rid, "text": e.notice} for rid, e in entries if e.notice],
    }
