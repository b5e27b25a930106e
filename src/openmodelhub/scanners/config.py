"""JSON files that make loaders run code: `auto_map` (trust_remote_code), chat templates, Keras configs,
notebooks.

`auto_map` in `config.json` / `tokenizer_config.json` / `preprocessor_config.json` makes transformers import
the repo's (or another repo's, `org/repo--module.Class`) Python when the user passes `trust_remote_code=True`.
That is legitimate, but it must be visible: suspicious, with the classes named. JSON is recognised by content;
the file name is only used to decide whether a JSON file too large to parse is worth a finding.
"""

from __future__ import annotations

import json
from typing import Any

from openmodelhub.scanners import containers, keras, python, templates
from openmodelhub.scanners._report import Ctx, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.types import Verdict


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def check_object(obj: Any, rep: Report, ctx: Ctx) -> str:
    """Findings for a parsed JSON document; returns the format label."""
    if not isinstance(obj, dict):
        return "json"
    fmt = "json"
    auto_map = obj.get("auto_map")
    if isinstance(auto_map, dict) and auto_map:
        refs = sorted({f"{k} → {r}" for k, v in auto_map.items() for r in _refs(v)})
        rep.add(
            Verdict.SUSPICIOUS,
            "config.auto_map",
            "repo code runs with trust_remote_code: " + ", ".join(refs[:20]),
            "auto_map",
            classes=refs,
        )
        remote = sorted({r.split("--", 1)[0] for v in auto_map.values() for r in _refs(v) if "--" in r})
        if remote:
            rep.add(
                Verdict.SUSPICIOUS,
                "config.auto_map_remote",
                "auto_map loads code from other repos: " + ", ".join(remote[:20]),
                "auto_map",
                repos=remote,
            )
    weight_map = obj.get("weight_map")
    if isinstance(weight_map, dict):
        # sharded-checkpoint index: loaders join each shard name to the model folder
        for shard in sorted({v for v in weight_map.values() if isinstance(v, str)}):
            why = containers.bad_path(shard)
            if why:
                rep.add(
                    Verdict.UNSAFE,
                    "index.path_traversal",
                    f"the shard {shard!r} lies outside the model folder ({why})",
                    "weight_map",
                )
    if obj.get("custom_pipelines"):
        rep.add(
            Verdict.SUSPICIOUS,
            "config.custom_pipelines",
            "custom_pipelines: pipeline code from the repo runs with trust_remote_code",
            "custom_pipelines",
        )
    chat = obj.get("chat_template")
    limit = ctx.limits.max_template_bytes
    if isinstance(chat, str):
        templates.check(chat, rep, "chat_template", limit)
    elif isinstance(chat, list):
        for i, t in enumerate(chat):
            if isinstance(t, dict) and isinstance(t.get("template"), str):
                templates.check(t["template"], rep, f"chat_template[{i}] {t.get('name', '')!r}", limit)
    if keras.looks_like_config(obj):
        keras.check_config(obj, rep, "config")
        fmt = "keras-config"
    cells = obj.get("cells")
    if isinstance(cells, list) and "nbformat" in obj:
        fmt = "notebook"
        for i, cell in enumerate(cells):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                src = cell.get("source")
                code = "".join(src) if isinstance(src, list) else src if isinstance(src, str) else ""
                # IPython magics and shell escapes are not Python; comment them out so the rest still parses.
                lines = ["# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in code.splitlines()]
                python.scan_source("\n".join(lines).encode(), rep, f"cell {i}")
    return fmt


def scan_json(src: Source, name: str | None, ctx: Ctx, rep: Report) -> str | None:
    """Parse a text file as JSON; None if it is not JSON (then it is plain text)."""
    lname = (name or "").lower()
    if src.size > ctx.limits.max_json_bytes:
        if lname.endswith("config.json"):
            rep.add(
                Verdict.UNSCANNABLE,
                "config.too_large",
                f"config file larger than {ctx.limits.max_json_bytes}",
            )
            return "json"
        return None
    try:
        obj = json.loads(src.read_at(0, src.size).decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    return check_object(obj, rep, ctx)
