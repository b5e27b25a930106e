"""Verified openness: the Model Openness Framework (MOF 1.0) assessment of one commit, from what is actually
in the repo (reference openness-and-licenses.md sections 1-2).

Each of the 17 MOF components gets an evidence state (present-verified / present-library / present-unverified
/ linked-unverified / claimed-in-card / missing) and a licence; a component whose licence is not open (MOF
sense) is `license-not-open`, one whose licence cannot be resolved `license-unknown`. The MOF class
algorithm then runs twice: counting only verified evidence (the class the repo verifiably reaches) and
counting claims too (the class it would reach if its claims were true).
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from openmodelhub.db.models import OpennessAssessment, Repo
from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.auth import Principal
from openmodelhub.services.cards import CardError, parse_card_metadata, split_front_matter
from openmodelhub.services.errors import BadRequest, HubError
from openmodelhub.services.hub import Hub
from openmodelhub.services.licenses import LicenseEntry, ResolvedLicense, knowledge_base, resolve_license
from openmodelhub.services.lineage import LineageService
from openmodelhub.services.repos import ListQuery, RepoService

ASSESSMENT_VERSION = "1"
FRAMEWORK = "MOF 1.0"
CLASS_LABELS = {
    1: "Class I - Open Science Model",
    2: "Class II - Open Tooling Model",
    3: "Class III - Open Model",
}
VERIFIED_STATES = ("present-verified", "present-library")
CLAIMED_STATES = (*VERIFIED_STATES, "present-unverified", "linked-unverified", "claimed-in-card")
MIN_CARD_WORDS = 150
MIN_DATA_CARD_WORDS = 30
TEMPLATE_MARK = "[More Information Needed]"
CLASS_NAMES = {"I": 1, "II": 2, "III": 3, "1": 1, "2": 2, "3": 3}


def parse_openness_class(value: str) -> int:
    """`I`, `II`, `III` (or 1-3, case-insensitive, optional `class` prefix) as the MOF class number."""
    key = value.strip().upper().removeprefix("CLASS").strip(" -_")
    if key not in CLASS_NAMES:
        raise BadRequest(f"unknown openness class {value!r}: use I, II or III")
    return CLASS_NAMES[key]


@dataclass(frozen=True)
class Component:
    id: int
    name: str
    type: str  # code | data | document
    level: int  # the class that first requires it (3, 2, 1)
    required: bool


COMPONENTS = (
    Component(9, "Model architecture", "code", 3, True),
    Component(10, "Model parameters (Final)", "data", 3, True),
    Component(12, "Evaluation results", "document", 3, True),
    Component(13, "Model card", "document", 3, True),
    Component(14, "Data card", "document", 3, True),
    Component(11, "Technical report", "document", 3, True),
    Component(20, "Sample model outputs", "document", 3, False),
    Component(7, "Training code", "code", 2, True),
    Component(8, "Inference code", "code", 2, True),
    Component(18, "Evaluation code", "code", 2, True),
    Component(19, "Evaluation data", "data", 2, True),
    Component(22, "Supporting libraries and tools", "code", 2, False),
    Component(15, "Datasets", "data", 1, True),
    Component(16, "Data preprocessing code", "code", 1, True),
    Component(24, "Model parameters (Intermediate)", "data", 1, True),
    Component(21, "Research paper", "document", 1, True),
    Component(17, "Model metadata", "data", 1, False),
)
TECHNICAL_REPORT, RESEARCH_PAPER = 11, 21

WEIGHT_SUFFIXES = (
    ".safetensors",
    ".gguf",
    ".bin",
    ".pt",
    ".pth",
    ".onnx",
    ".h5",
    ".keras",
    ".msgpack",
    ".ckpt",
)
NOT_WEIGHTS = re.compile(r"(^|/)(training_args\.bin|optimizer\.pt|scheduler\.pt|rng_state[^/]*\.pth)$")
CHECKPOINT_DIR = re.compile(r"(^|/)checkpoint[-_]\d+/")
CHECKPOINT_REF = re.compile(r"^refs/(heads|tags)/(step|ckpt|checkpoint|iter|revision)[-_]?\d+", re.IGNORECASE)
TRAINING_CODE = re.compile(
    r"(^|/)([^/]*train[^/]*\.(py|sh|ipynb)|finetune[^/]*\.py|fine_tune[^/]*\.py|mergekit_config\.ya?ml|"
    r"[^/]*(axolotl|sft|dpo|recipe)[^/]*\.ya?ml)$",
    re.IGNORECASE,
)
EVAL_CODE = re.compile(r"(^|/)([^/]*eval[^/]*\.(py|sh|ipynb)|benchmark[^/]*\.py)$", re.IGNORECASE)
INFERENCE_CODE = re.compile(r"(^|/)(inference|predict|generate|run_model|serve)[^/]*\.py$", re.IGNORECASE)
PREPROCESS_CODE = re.compile(
    r"(^|/)[^/]*(preprocess|prepare|process_data|clean|dedup|filter_data|tokenize_data)[^/]*\.(py|sh|ipynb)$",
    re.IGNORECASE,
)
PAPER_FILE = re.compile(r"\.(pdf|tex)$", re.IGNORECASE)
METADATA_FILE = re.compile(
    r"(^|/)(trainer_state\.json|training_args\.bin|optimizer\.pt|[^/]*training[^/]*config[^/]*\.(json|ya?ml))$"
)
URL = re.compile(r"https?://[^\s)\]>\"']+")
ARXIV = re.compile(r"arxiv\.org/(abs|pdf)/(\d{4}\.\d{4,5})")
HEADING = re.compile(r"^#{1,6}\s+(.*)$")


@dataclass
class DatasetFacts:
    id: str
    on_hub: bool
    readable: bool = False
    gated: bool = False
    paths: list[str] = field(default_factory=list)
    card_meta: dict[str, Any] = field(default_factory=dict)
    card_words: int = 0
    license: ResolvedLicense | None = None

    @property
    def has_data(self) -> bool:
        return any(p not in ("README.md", ".gitattributes") for p in self.paths)

    @property
    def has_card(self) -> bool:
        return bool(self.card_meta) and self.card_words >= MIN_DATA_CARD_WORDS


@dataclass
class Snapshot:
    """Everything the assessment reads, gathered by the service (or built by a test)."""

    repo_id: str
    commit: str | None
    paths: list[str]
    readme: str | None
    config: dict[str, Any] | None
    library: str | None
    license: ResolvedLicense
    datasets: dict[str, DatasetFacts] = field(default_factory=dict)
    checkpoint_refs: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    state: str
    items: list[dict[str, Any]] = field(default_factory=list)
    license: ResolvedLicense | None = None  # component-specific licence (else the repo's)
    license_source: str = "repo card"
    note: str = ""


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _sections(body: str) -> list[tuple[str, str]]:
    """(heading, text) pairs of a markdown body; text before the first heading has heading ''."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in body.splitlines():
        m = HEADING.match(line)
        if m:
            out.append((m.group(1).strip().lower(), []))
        else:
            out[-1][1].append(line)
    return [(h, "\n".join(lines)) for h, lines in out]


def _files(paths: list[str], pattern: re.Pattern[str]) -> list[dict[str, Any]]:
    return [{"kind": "file", "path": p} for p in paths if pattern.search(p)]


def _dataset_license(facts: list[DatasetFacts]) -> ResolvedLicense | None:
    """The least open licence among datasets on this hub (None if none is on the hub)."""
    worst: ResolvedLicense | None = None
    for f in facts:
        lic = f.license or ResolvedLicense(None, None, "none", "missing")
        if worst is None or (worst.entry is not None and (lic.entry is None or not lic.entry.mof_open)):
            worst = lic
    return worst


class Assessor:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.meta: dict[str, Any] = {}
        self.body = ""
        if snap.readme is not None:
            try:
                self.meta = parse_card_metadata(snap.readme)
                self.body = split_front_matter(snap.readme)[1]
            except CardError:
                self.body = snap.readme
        self.sections = _sections(self.body)
        self.library = snap.library or self.meta.get("library_name")
        if not isinstance(self.library, str):
            self.library = "transformers" if snap.config and snap.config.get("model_type") else None

    # -- evidence per component ----------------------------------------------------------------------------
    def _section_links(
        self, keywords: tuple[str, ...], line_words: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """URLs in sections whose heading has one of `keywords` (on lines with one of `line_words`)."""
        out: list[dict[str, Any]] = []
        for heading, text in self.sections:
            if not any(k in heading for k in keywords):
                continue
            for line in text.splitlines():
                if line_words and not any(w in line.lower() for w in line_words):
                    continue
                out.extend({"kind": "link", "url": u, "section": heading} for u in URL.findall(line))
        return out

    def _section(self, keywords: tuple[str, ...]) -> str | None:
        for heading, text in self.sections:
            if heading and any(k in heading for k in keywords) and text.strip():
                return heading
        return None

    def _library(self) -> Evidence | None:
        entry = knowledge_base().library_license(self.library)
        if entry is None or not (self.snap.config and self.snap.config.get("model_type")):
            return None
        lib = knowledge_base().libraries[self.library or ""]
        lic = ResolvedLicense(entry.hub_id, entry, "library", "known")
        return Evidence(
            "present-library",
            [{"kind": "library", "name": self.library, "url": lib.get("source"), "path": "config.json"}],
            lic,
            f"library {self.library}",
        )

    def architecture(self) -> Evidence:
        cfg = self.snap.config or {}
        auto_map = cfg.get("auto_map") if isinstance(cfg.get("auto_map"), dict) else {}
        modules = {str(v).split(".")[0] + ".py" for v in (auto_map or {}).values() if isinstance(v, str)}
        present = [m for m in modules if m in self.snap.paths]
        if present:
            return Evidence("present-verified", [{"kind": "file", "path": p} for p in sorted(present)])
        modeling = [p for p in self.snap.paths if re.search(r"(^|/)modeling_[^/]*\.py$", p)]
        if modeling:
            return Evidence("present-verified", [{"kind": "file", "path": p} for p in modeling])
        lib = self._library()
        if lib is not None:
            return lib
        links = self._section_links(("architecture", "model details", "code"))
        if links:
            return Evidence("linked-unverified", links)
        return Evidence("missing")

    def parameters(self) -> Evidence:
        files = [
            p
            for p in self.snap.paths
            if p.lower().endswith(WEIGHT_SUFFIXES)
            and not NOT_WEIGHTS.search(p)
            and not CHECKPOINT_DIR.search(p)
        ]
        if files:
            return Evidence("present-verified", [{"kind": "file", "path": p} for p in files])
        return Evidence("missing")

    def intermediate(self) -> Evidence:
        items = [
            {"kind": "file", "path": p}
            for p in self.snap.paths
            if CHECKPOINT_DIR.search(p) and p.lower().endswith(WEIGHT_SUFFIXES) and not NOT_WEIGHTS.search(p)
        ]
        items += [{"kind": "ref", "ref": r} for r in self.snap.checkpoint_refs]
        return Evidence("present-verified", items) if items else Evidence("missing")

    def eval_results(self) -> Evidence:
        index = self.meta.get("model-index")
        if isinstance(index, list) and any(isinstance(m, dict) and m.get("results") for m in index):
            return Evidence("present-verified", [{"kind": "card", "section": "model-index"}])
        files = [p for p in self.snap.paths if re.match(r"^\.eval_results/[^/]+\.ya?ml$", p)]
        if files:
            return Evidence("present-verified", [{"kind": "file", "path": p} for p in files])
        heading = self._section(("evaluation", "results", "benchmark", "performance"))
        if heading:
            return Evidence(
                "claimed-in-card", [{"kind": "card", "section": heading}], note="results only in prose"
            )
        return Evidence("missing")

    def model_card(self) -> Evidence:
        if self.snap.readme is None:
            return Evidence("missing")
        words = _words(self.body)
        templated = self.body.count(TEMPLATE_MARK) >= 3
        if self.meta and words >= MIN_CARD_WORDS and not templated:
            return Evidence("present-verified", [{"kind": "file", "path": "README.md", "words": words}])
        why = (
            "unfilled template"
            if templated
            else ("no YAML metadata" if not self.meta else f"only {words} words")
        )
        return Evidence(
            "present-unverified", [{"kind": "file", "path": "README.md", "words": words}], note=why
        )

    def _dataset_ids(self) -> list[str]:
        raw = self.meta.get("datasets")
        items = raw if isinstance(raw, list) else [raw]
        return [d for d in items if isinstance(d, str) and d]

    def data_card(self) -> Evidence:
        ids = self._dataset_ids()
        facts = [self.snap.datasets.get(d, DatasetFacts(d, False)) for d in ids]
        if facts and all(f.on_hub and f.readable and f.has_card for f in facts):
            return Evidence(
                "present-verified",
                [{"kind": "dataset", "id": f.id, "path": "README.md"} for f in facts],
                _dataset_license(facts),
                "dataset cards",
            )
        heading = self._section(("training data", "dataset", "data"))
        if facts:
            gaps = [f"{f.id}: {_dataset_gap(f)}" for f in facts if not (f.on_hub and f.has_card)]
            note = ", ".join(gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
            items = [{"kind": "dataset", "id": f.id, "onHub": f.on_hub} for f in facts]
            if heading:
                items.append({"kind": "card", "section": heading})
            return Evidence("linked-unverified", items, note=note)
        if heading:
            return Evidence("claimed-in-card", [{"kind": "card", "section": heading}])
        return Evidence("missing")

    def datasets(self) -> Evidence:
        ids = self._dataset_ids()
        if not ids:
            return Evidence("missing")
        facts = [self.snap.datasets.get(d, DatasetFacts(d, False)) for d in ids]
        items = [{"kind": "dataset", "id": f.id, "onHub": f.on_hub} for f in facts]
        lic = _dataset_license([f for f in facts if f.on_hub])
        if all(f.on_hub and f.readable and not f.gated and f.has_data for f in facts):
            return Evidence("present-verified", items, lic, "dataset cards")
        if all(f.on_hub for f in facts):
            note = ", ".join(f"{f.id}: {_dataset_gap(f)}" for f in facts)
            return Evidence("present-unverified", items, lic, "dataset cards", note)
        missing = [f.id for f in facts if not f.on_hub]
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return Evidence("linked-unverified", items, note=f"not on this hub: {', '.join(missing[:5])}{more}")

    def eval_data(self) -> Evidence:
        ids: list[str] = []
        for model in self.meta.get("model-index") or []:
            for result in (model or {}).get("results") or [] if isinstance(model, dict) else []:
                ds = result.get("dataset") if isinstance(result, dict) else None
                if isinstance(ds, dict) and isinstance(ds.get("type"), str):
                    ids.append(ds["type"])
        ids = list(dict.fromkeys(ids))
        if not ids:
            return Evidence("missing")
        facts = [self.snap.datasets.get(d, DatasetFacts(d, False)) for d in ids]
        items = [{"kind": "dataset", "id": f.id, "onHub": f.on_hub, "section": "model-index"} for f in facts]
        if all(f.on_hub and f.readable and f.has_data for f in facts):
            return Evidence("present-verified", items, _dataset_license(facts), "dataset cards")
        missing = [f.id for f in facts if not f.on_hub]
        return Evidence(
            "linked-unverified", items, note=f"not on this hub: {', '.join(missing)}" if missing else ""
        )

    def _code(
        self, pattern: re.Pattern[str], keywords: tuple[str, ...], mention: re.Pattern[str]
    ) -> Evidence:
        files = _files(self.snap.paths, pattern)
        if files:
            return Evidence("present-verified", files)
        links = [
            link
            for link in self._section_links(keywords, ("code", "script", "repository", "implementation"))
            if re.search(r"github|gitlab|bitbucket", link["url"])
        ]
        if links:
            return Evidence("linked-unverified", links)
        m = mention.search(self.body)
        if m:
            return Evidence(
                "claimed-in-card",
                [{"kind": "card", "quote": m.group(0)[:120]}],
                note=f"the card mentions {m.group(0)[:60]!r} but no such file is in the repo",
            )
        return Evidence("missing")

    def training_code(self) -> Evidence:
        return self._code(
            TRAINING_CODE,
            ("train", "fine-tun", "finetun"),
            re.compile(r"`?[\w./-]*train[\w./-]*\.(py|sh)`?|training (script|code)", re.IGNORECASE),
        )

    def eval_code(self) -> Evidence:
        return self._code(
            EVAL_CODE,
            ("evaluat",),
            re.compile(r"`?[\w./-]*eval[\w./-]*\.py`?|evaluation (script|code)", re.I),
        )

    def preprocess_code(self) -> Evidence:
        files = _files(self.snap.paths, PREPROCESS_CODE)
        for f in self.snap.datasets.values():
            if f.on_hub and f.readable:
                files += [
                    {"kind": "dataset-file", "id": f.id, "path": p}
                    for p in f.paths
                    if PREPROCESS_CODE.search(p)
                ]
        if files:
            return Evidence("present-verified", files)
        return self._code(
            PREPROCESS_CODE,
            ("preprocess", "data processing"),
            re.compile(r"preprocessing (script|code)", re.I),
        )

    def inference_code(self) -> Evidence:
        files = _files(self.snap.paths, INFERENCE_CODE)
        if files:
            return Evidence("present-verified", files)
        lib = self._library()
        return lib if lib is not None else Evidence("missing")

    def paper(self) -> Evidence:
        files = _files(self.snap.paths, PAPER_FILE)
        if files:
            return Evidence("present-verified", files)
        tags = self.meta.get("tags") if isinstance(self.meta.get("tags"), list) else []
        items: list[dict[str, Any]] = [
            {"kind": "link", "url": f"https://arxiv.org/abs/{t.split(':', 1)[1]}"}
            for t in tags or []
            if isinstance(t, str) and t.startswith("arxiv:")
        ]
        items += [
            link
            for link in self._section_links(("citation", "paper", "report", "publication", "reference"))
            if ARXIV.search(link["url"]) or link["url"].lower().endswith(".pdf")
        ]
        if items:
            # arXiv's default licence is not open; a linked paper's licence is unknown (reference 2.2).
            unknown = ResolvedLicense(None, None, "none", "unknown", "linked paper: licence unknown")
            return Evidence("linked-unverified", items, unknown, "linked paper")
        return Evidence("missing")

    def metadata(self) -> Evidence:
        files = _files(self.snap.paths, METADATA_FILE)
        return Evidence("present-verified", files) if files else Evidence("missing")

    def samples(self) -> Evidence:
        files = [
            {"kind": "file", "path": p} for p in self.snap.paths if p.startswith(("samples/", "examples/"))
        ]
        widget = self.meta.get("widget")
        if isinstance(widget, list) and any(isinstance(w, dict) and "output" in w for w in widget):
            files.append({"kind": "card", "section": "widget"})
        return Evidence("present-verified", files) if files else Evidence("missing")

    def libraries(self) -> Evidence:
        files = [{"kind": "file", "path": p} for p in self.snap.paths if p.endswith("requirements.txt")]
        if files:
            return Evidence("present-verified", files)
        lib = self._library()
        return lib if lib is not None else Evidence("missing")

    # -- the assessment ------------------------------------------------------------------------------------
    def evidence(self) -> dict[int, Evidence]:
        paper = self.paper()
        return {
            9: self.architecture(),
            10: self.parameters(),
            12: self.eval_results(),
            13: self.model_card(),
            14: self.data_card(),
            11: paper,
            20: self.samples(),
            7: self.training_code(),
            8: self.inference_code(),
            18: self.eval_code(),
            19: self.eval_data(),
            22: self.libraries(),
            15: self.datasets(),
            16: self.preprocess_code(),
            24: self.intermediate(),
            21: paper,
            17: self.metadata(),
        }


def _dataset_gap(f: DatasetFacts) -> str:
    if not f.on_hub:
        return "not on this hub"
    if not f.readable:
        return "not publicly readable"
    if f.gated:
        return "gated"
    if not f.has_card:
        return "no data card (YAML metadata and a described dataset)"
    if not f.has_data:
        return "no data files"
    return "ok"


def _component_json(comp: Component, ev: Evidence, repo_license: ResolvedLicense) -> dict[str, Any]:
    lic = ev.license if ev.license is not None else repo_license
    source = ev.license_source if ev.license is not None else "repo card"
    if ev.state in ("linked-unverified", "claimed-in-card") and ev.license is None:
        source = "repo card (claimed)"
    entry: LicenseEntry | None = lic.entry
    state = ev.state
    is_open = bool(entry and entry.mof_open and not entry.is_family)
    if state != "missing":
        if entry is None or entry.is_family:
            state = "license-unknown"
        elif not entry.mof_open:
            state = "license-not-open"
    out: dict[str, Any] = {
        "id": comp.id,
        "name": comp.name,
        "type": comp.type,
        "class": comp.level,
        "required": comp.required,
        "state": state,
        "evidenceState": ev.state,
        "license": lic.ref if state != "missing" else None,
        "licenseSource": source if state != "missing" else None,
        "open": is_open if state != "missing" else None,
        "typeAppropriate": bool(entry and comp.type in entry.mof_types) if state != "missing" else None,
        "evidence": ev.items,
    }
    if ev.note:
        out["note"] = ev.note
    return out


def mof_class(included: set[int]) -> tuple[int | None, dict[str, dict[str, int]]]:
    """The most open class whose required components are all included, and per-class counts."""
    if RESEARCH_PAPER in included:
        included = included | {TECHNICAL_REPORT}  # MOT: an included paper stands in for the report
    progress: dict[str, dict[str, int]] = {}
    reached: int | None = None
    for c in (3, 2, 1):
        required = [comp.id for comp in COMPONENTS if comp.required and comp.level >= c]
        have = sum(1 for r in required if r in included)
        progress[str(c)] = {"included": have, "required": len(required)}
        if have == len(required) and (reached is None or reached == c + 1):
            reached = c
    return reached, progress


def assess(snap: Snapshot) -> dict[str, Any]:
    """The openness assessment of a snapshot, as stored and served."""
    evidence = Assessor(snap).evidence()
    components = [_component_json(c, evidence[c.id], snap.license) for c in COMPONENTS]
    verified = {c["id"] for c in components if c["required"] and c["state"] in VERIFIED_STATES}
    claimed = {c["id"] for c in components if c["required"] and c["state"] in CLAIMED_STATES}
    verified_class, verified_progress = mof_class(verified)
    claimed_class, claimed_progress = mof_class(claimed)
    warnings = [
        f"{c['name']}: {c['license']} is open but not type-appropriate for {c['type']}"
        for c in components
        if c["open"] and c["typeAppropriate"] is False and c["state"] in CLAIMED_STATES
    ]
    gap = [c["name"] for c in components if c["required"] and c["id"] in claimed - verified]
    missing = [c["name"] for c in components if c["required"] and c["id"] not in claimed]
    return {
        "framework": FRAMEWORK,
        "version": f"{ASSESSMENT_VERSION}/{knowledge_base().version}",
        "revision": snap.commit,
        "license": snap.license.to_json(),
        "verifiedClass": verified_class,
        "verifiedLabel": CLASS_LABELS.get(verified_class or 0, "Unclassified"),
        "claimedClass": claimed_class,
        "claimedLabel": CLASS_LABELS.get(claimed_class or 0, "Unclassified"),
        "progress": {"verified": verified_progress, "claimed": claimed_progress},
        "components": components,
        "unverifiedClaims": gap,
        "missing": missing,
        "summary": _summary(verified_class, claimed_class, gap, missing),
        "warnings": warnings,
    }


def _summary(verified: int | None, claimed: int | None, gap: list[str], missing: list[str]) -> str:
    def label(c: int | None) -> str:
        return f"Class {'I' * (c or 0) if c != 3 else 'III'}" if c else "Unclassified"

    text = f"Verified {label(verified)} · Claimed {label(claimed)}"
    if gap:
        text += f" — {len(gap)} only claimed or linked ({', '.join(gap)})"
    if missing:
        text += f"; missing or not openly licensed: {', '.join(missing)}"
    return text


class OpennessService:
    """Gathers a commit's snapshot, assesses it once and stores the result per commit."""

    def __init__(self, hub: Hub, repos: RepoService, lineage: LineageService) -> None:
        self.hub = hub
        self.repos = repos
        self.lineage = lineage

    @property
    def version(self) -> str:
        return f"{ASSESSMENT_VERSION}/{knowledge_base().version}"

    def snapshot(self, repo: Repo, commit: str) -> Snapshot:
        files = self.lineage.files_at(commit)
        tree = self.lineage.git.commit_tree(commit)
        config = None
        text = self.lineage.read_text(tree, "config.json")
        if text:
            try:
                loaded = json.loads(text)
                config = loaded if isinstance(loaded, dict) else None
            except ValueError:
                config = None
        try:
            meta = parse_card_metadata(files.readme) if files.readme else {}
        except CardError:
            meta = {}
        ids: list[str] = []
        for key in ("datasets",):
            raw = meta.get(key)
            ids += [d for d in (raw if isinstance(raw, list) else [raw]) if isinstance(d, str)]
        for model in meta.get("model-index") or [] if isinstance(meta.get("model-index"), list) else []:
            for result in model.get("results") or [] if isinstance(model, dict) else []:
                ds = result.get("dataset") if isinstance(result, dict) else None
                if isinstance(ds, dict) and isinstance(ds.get("type"), str):
                    ids.append(ds["type"])
        datasets = {d: self._dataset(d) for d in dict.fromkeys(ids)}
        refs = [r.name for r in self.repos.refs(repo) if CHECKPOINT_REF.match(r.name)]
        return Snapshot(
            repo_id=f"{repo.namespace}/{repo.name}",
            commit=commit,
            paths=files.paths,
            readme=files.readme,
            config=config,
            library=repo.library_name,
            license=resolve_license(meta, files.license_text),
            datasets=datasets,
            checkpoint_refs=refs,
        )

    def _dataset(self, dataset_id: str) -> DatasetFacts:
        repo = self.repos.find(RepoType.DATASET, dataset_id)
        if repo is None or repo.private:
            # The assessment is the same for every caller (and stored): a private dataset must answer like
            # one that does not exist, or anyone could learn that it does (and is private).
            return DatasetFacts(dataset_id, False)
        files = self.lineage.head_files(repo)
        meta: dict[str, Any] = {}
        words = 0
        if files.readme:
            try:
                meta = parse_card_metadata(files.readme)
                words = _words(split_front_matter(files.readme)[1])
            except CardError:
                meta = {}
        return DatasetFacts(
            dataset_id,
            True,
            readable=True,
            gated=bool(repo.gated),
            paths=files.paths,
            card_meta=meta,
            card_words=words,
            license=resolve_license(meta, files.license_text),
        )

    def assessment(self, repo: Repo, commit: str) -> dict[str, Any]:
        """The stored assessment of `commit`, computed (and stored) on first use."""
        with self.hub.read() as s:
            row = s.get(OpennessAssessment, (repo.id, commit))
            if row is not None and row.version == self.version:
                return dict(row.data)
        data = assess(self.snapshot(repo, commit))
        self._store(repo, commit, data)
        return data

    def _store(self, repo: Repo, commit: str, data: dict[str, Any]) -> None:
        values = {
            "version": self.version,
            "verified_class": data["verifiedClass"],
            "claimed_class": data["claimedClass"],
            "data": data,
            "computed_at": utcnow().replace(tzinfo=None),
        }
        try:
            with self.hub.write.begin() as s:
                row = s.get(OpennessAssessment, (repo.id, commit))
                if row is None:
                    s.add(OpennessAssessment(repo_id=repo.id, commit_oid=commit, **values))
                elif row.version != self.version:
                    for k, v in values.items():
                        setattr(row, k, v)
                # else: stored meanwhile by a concurrent run; kept as it is (a re-run changes nothing)
        except Exception:
            return

    def assess_quietly(self, repo: Repo, commit: str) -> None:
        """Commit hook: compute and store, never raise (an assessment error must not fail a commit)."""
        try:
            self.assessment(repo, commit)
        except (HubError, Exception):
            return

    def stored_classes(self, repo_ids: list[int]) -> dict[int, tuple[int | None, int | None]]:
        """(verified, claimed) class of the newest stored assessment per repo (for listing filters)."""
        out: dict[int, tuple[int | None, int | None]] = {}
        with self.hub.read() as s:
            rows = s.scalars(
                select(OpennessAssessment)
                .where(OpennessAssessment.repo_id.in_(repo_ids))
                .order_by(OpennessAssessment.computed_at)
            ).all()
        for row in rows:
            out[row.repo_id] = (row.verified_class, row.claimed_class)
        return out

    # -- listing filters -----------------------------------------------------------------------------------
    def verified_class(self, repo: Repo) -> int | None:
        """The verified MOF class of the head of `main` (1 is the most open; None: unclassified)."""
        try:
            commit = self.repos.resolve(repo, DEFAULT_BRANCH)
        except HubError:
            return None
        cls = self.assessment(repo, commit).get("verifiedClass")
        return cls if isinstance(cls, int) else None

    def commercial_allowed(self, principal: Principal | None, repo: Repo) -> bool:
        """True when the effective licence across the lineage allows commercial use without a cap (every
        licence in the tree is known and none forbids or caps commercial use)."""
        verdict, _ = self.lineage.license_verdict(principal, repo)
        return verdict.effective.get("commercial") == "yes"

    def list_models(
        self,
        principal: Principal | None,
        q: ListQuery,
        *,
        min_class: int | None = None,
        commercial: bool | None = None,
    ) -> list[Repo]:
        """The repo listing with the openness filters: `min_class` keeps models whose *verified* class is at
        least that open (Class I also satisfies II and III); `commercial` keeps models whose lineage allows
        (True) or does not allow / cannot be shown to allow (False) commercial use."""
        if min_class is None and commercial is None:
            return self.repos.list(principal, q)
        if q.repo_type is not RepoType.MODEL:
            raise BadRequest("the openness and commercial filters apply to models")

        def keep(repo: Repo) -> bool:
            if min_class is not None:
                cls = self.verified_class(repo)
                if cls is None or cls > min_class:
                    return False
            return commercial is None or self.commercial_allowed(principal, repo) == commercial

        return self.repos.list(principal, q, keep)
