"""`omh openness` and `omh lineage`: the openness assessment and the model tree, read from the data dir."""

import json
from html import escape
from pathlib import Path
from typing import Any

import typer

from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.services.container import Services

STATE_MARK = {
    "present-verified": "✔ verified",
    "present-library": "✔ library",
    "present-unverified": "~ present, unverified",
    "linked-unverified": "~ linked",
    "claimed-in-card": "~ claimed in card",
    "missing": "✘ missing",
    "license-not-open": "✘ licence not open",
    "license-unknown": "? licence unknown",
}


def _repo(svc: Services, repo_id: str) -> Any:
    repo = svc.repos.find(RepoType.MODEL, repo_id)
    if repo is None:
        typer.echo(f"error: no model repo {repo_id}", err=True)
        raise typer.Exit(code=1)
    return repo


def openness(svc: Services, repo_id: str, revision: str, as_json: bool) -> None:
    repo = _repo(svc, repo_id)
    commit = svc.repos.resolve(repo, revision or DEFAULT_BRANCH)
    data = svc.openness.assessment(repo, commit)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    lic = data["license"]
    typer.echo(f"{repo_id}@{commit[:12]}  ({data['framework']})")
    typer.echo(f"licence: {lic['declared'] or 'none'} → {lic['spdx'] or 'unknown'} ({lic['status']})")
    typer.echo(f"verified: {data['verifiedLabel']}   claimed: {data['claimedLabel']}")
    typer.echo(data["summary"])
    for level in (3, 2, 1):
        typer.echo(f"-- Class {'I' * level if level < 3 else 'III'} --" if level != 1 else "-- Class I --")
        for c in data["components"]:
            if c["class"] != level:
                continue
            where = ", ".join(
                str(e.get("path") or e.get("url") or e.get("id") or e.get("section") or e.get("ref") or "")
                for e in c["evidence"][:3]
            )
            opt = "" if c["required"] else " (optional)"
            lic_text = f" [{c['license']}]" if c["license"] else ""
            note = f" — {c['note']}" if c.get("note") else ""
            typer.echo(
                f"  {STATE_MARK.get(c['state'], c['state']):24} {c['name']}{opt}{lic_text} {where}{note}"
            )
    for w in data["warnings"]:
        typer.echo(f"warning: {w}")


def lineage(svc: Services, repo_id: str, svg: Path | None, as_json: bool) -> None:
    repo = _repo(svc, repo_id)
    data = svc.lineage.lineage(None, repo)
    if svg is not None:
        svg.write_text(lineage_svg(data), encoding="utf-8")
        typer.echo(f"wrote {svg}")
    if as_json or svg is None:
        typer.echo(json.dumps(data, indent=2))
    if not as_json:
        for m in data.get("possibleDerivations") or []:
            typer.echo(
                f"warning: possible undeclared derivation: {data['id']} and {m['id']} ({m['direction']}) "
                f"have weight similarity {m['similarity']:.3f} over {m['comparedTensors']} tensors, "
                "but neither declares the other as base_model",
                err=True,
            )


VERDICT_COLOUR = {"ok": "#2e7d32", "drift": "#c62828", "unknown": "#9e9e9e"}
SUSPECT_COLOUR = "#ef6c00"


def lineage_svg(data: dict[str, Any]) -> str:
    """A hand-written SVG: ancestors above, the repo, descendants below; drift in red."""
    rows: list[list[dict[str, Any]]] = []
    by_depth: dict[int, list[dict[str, Any]]] = {}
    for a in data["ancestors"]:
        by_depth.setdefault(-a["depth"], []).append(a)
    eff = data["effectiveLicense"]
    me = {"id": data["id"], "onHub": True, "license": data["license"], "effectiveLicense": eff, "depth": 0}
    by_depth[0] = [me]
    for d in data["descendants"]:
        by_depth.setdefault(d["depth"], []).append(d)
    rows = [by_depth[k] for k in sorted(by_depth)]
    suspects = [
        {**m, "onHub": True, "suspect": True, "depth": None} for m in data.get("possibleDerivations") or []
    ]
    if suspects:
        rows.append(suspects)
    box_w, box_h, gap_x, gap_y = 260, 54, 30, 50
    width = max(len(r) for r in rows) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    pos: dict[str, tuple[int, int]] = {}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">'
    ]
    for i, row in enumerate(rows):
        for j, n in enumerate(row):
            pos[n["id"]] = (gap_x + j * (box_w + gap_x), gap_y + i * (box_h + gap_y))
    nodes = [n for r in rows for n in r]
    for n in nodes:
        parent_ids = n.get("parents") or []
        if n["id"] == data["id"]:
            parent_ids = [a["id"] for a in data["ancestors"] if a.get("child") == data["id"]]
        for p in parent_ids:
            if p in pos and n["id"] in pos:
                (x1, y1), (x2, y2) = pos[p], pos[n["id"]]
                status = (n.get("effectiveLicense") or {}).get("status")
                colour = "#c62828" if status == "drift" else "#555"
                parts.append(
                    f'<line x1="{x1 + box_w // 2}" y1="{y1 + box_h}" x2="{x2 + box_w // 2}" y2="{y2}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
    for n in suspects:
        (x1, y1), (x2, y2) = pos[data["id"]], pos[n["id"]]
        parts.append(
            f'<line x1="{x1 + box_w // 2}" y1="{y1 + box_h}" x2="{x2 + box_w // 2}" y2="{y2}" '
            f'stroke="{SUSPECT_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
    for n in nodes:
        x, y = pos[n["id"]]
        if n.get("suspect"):
            parts.append(
                f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#fff" '
                f'stroke="{SUSPECT_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
            )
            parts.append(f'<text x="{x + 8}" y="{y + 20}" font-weight="bold">{escape(n["id"])}</text>')
            label = f"possible undeclared derivation · similarity {n['similarity']:.3f}"
            parts.append(f'<text x="{x + 8}" y="{y + 40}">{escape(label)}</text>')
            continue
        status = (n.get("effectiveLicense") or {}).get("status") or "unknown"
        lic = (n.get("license") or {}).get("id") or (n.get("license") or {}).get("declared") or "?"
        dash = "" if n.get("onHub") else ' stroke-dasharray="4 3"'
        width_ = 3 if n["id"] == data["id"] else 1
        parts.append(
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#fff" '
            f'stroke="{VERDICT_COLOUR.get(status, "#9e9e9e")}" stroke-width="{width_}"{dash}/>'
        )
        parts.append(f'<text x="{x + 8}" y="{y + 20}" font-weight="bold">{escape(n["id"])}</text>')
        label = f"{lic} · {n.get('relation') or 'root'} · {status}" if n.get("onHub") else "not on this hub"
        parts.append(f'<text x="{x + 8}" y="{y + 40}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
