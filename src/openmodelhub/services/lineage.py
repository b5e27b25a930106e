"""The model tree: `base_model` links between repos, the relation of each link, and the licence verdicts
computed on read from the current heads (so a change to an ancestor shows in every descendant at once).

At commit time `relation_tags` adds the public Hub's lineage tags (`base_model:<id>` and
`base_model:<relation>:<id>`), so listings filter on them like any tag.
"""

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from openmodelhub.db.models import Repo
from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.services.auth import AuthService, Principal
from openmodelhub.services.cards import CardError, split_front_matter
from openmodelhub.services.errors import HubError
from openmodelhub.services.files import FileService
from openmodelhub.services.fingerprints import STRONG_MATCH, FingerprintService
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.license_drift import LicenseNode, LicenseVerdict, evaluate
from openmodelhub.services.licenses import LICENSE_FILES, NOTICE_FILES, ResolvedLicense, resolve_license
from openmodelhub.services.repos import RepoService

RELATIONS = ("adapter", "merge", "quantized", "finetune")
MAX_TEXT = 256 * 1024
MAX_NODES = 200
ADAPTER_FILE = re.compile(r"(^|/)adapter_(config\.json|model\.(safetensors|bin))$")


def base_models(meta: dict[str, Any] | None) -> list[str]:
    """Distinct `base_model` ids in order (merge cards repeat ids; reference case 16)."""
    raw = (meta or {}).get("base_model")
    items = raw if isinstance(raw, list) else [raw]
    return list(dict.fromkeys(str(b).strip() for b in items if isinstance(b, str) and b.strip()))


def infer_relation(
    meta: dict[str, Any] | None, paths: list[str], config: dict[str, Any] | None
) -> tuple[str | None, bool]:
    """(relation to the bases, declared?) — declared `base_model_relation` wins; else inferred from
    files: adapter files → adapter; GGUF or `quantization_config` → quantized; several bases → merge;
    else finetune."""
    bases = base_models(meta)
    if not bases:
        return None, False
    declared = (meta or {}).get("base_model_relation")
    if isinstance(declared, str) and declared in RELATIONS:
        return declared, True
    if any(ADAPTER_FILE.search(p) for p in paths):
        return "adapter", False
    if any(p.lower().endswith(".gguf") for p in paths) or (config or {}).get("quantization_config"):
        return "quantized", False
    if len(bases) > 1 or "mergekit_config.yml" in paths:
        return "merge", False
    return "finetune", False


def relation_tags(meta: dict[str, Any] | None, paths: list[str], config: dict[str, Any] | None) -> list[str]:
    """`base_model:<relation>:<id>` for each base (the `base_model:<id>` tags come from the card facts)."""
    relation, _ = infer_relation(meta, paths, config)
    if relation is None:
        return []
    return [f"base_model:{relation}:{b}" for b in base_models(meta)]


def relation_from_tags(tags: list[str] | None) -> str | None:
    for tag in tags or []:
        parts = tag.split(":", 2)
        if len(parts) == 3 and parts[0] == "base_model" and parts[1] in RELATIONS:
            return parts[1]
    return None


@dataclass
class HeadFiles:
    """What the licence rules read from a repo's head."""

    commit: str | None
    paths: list[str]
    readme: str | None
    license_text: str | None
    notice_text: str | None


class LineageService:
    def __init__(
        self,
        hub: Hub,
        git: GitStore,
        repos: RepoService,
        files: FileService,
        fingerprints: FingerprintService | None = None,
    ) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.files = files
        self.fingerprints = fingerprints

    # -- reading heads -------------------------------------------------------------------------------------
    def head_files(self, repo: Repo, revision: str = DEFAULT_BRANCH) -> HeadFiles:
        try:
            commit = self.repos.resolve(repo, revision)
        except HubError:
            return HeadFiles(None, [], None, None, None)
        return self.files_at(commit)

    def files_at(self, commit: str) -> HeadFiles:
        tree = self.git.commit_tree(commit)
        paths = [e.path for e in self.git.iter_tree(tree, recursive=True) if not e.is_dir]
        return HeadFiles(
            commit=commit,
            paths=paths,
            readme=self.read_text(tree, "README.md"),
            license_text=next((t for f in LICENSE_FILES if (t := self.read_text(tree, f))), None),
            notice_text=next((t for f in NOTICE_FILES if (t := self.read_text(tree, f))), None),
        )

    def read_text(self, tree: str, path: str, limit: int = MAX_TEXT) -> str | None:
        return self.files.read_text(tree, path, limit)

    # -- the graph -----------------------------------------------------------------------------------------
    def _visible(self, principal: Principal | None, repo_id: str) -> Repo | None:
        repo = self.repos.find(RepoType.MODEL, repo_id)
        if repo is None or not AuthService.can_read(principal, repo):
            return None
        return repo

    def node(self, repo: Repo, *, full: bool = False) -> LicenseNode:
        files = self.head_files(repo)
        meta = repo.card_data or {}
        lic: ResolvedLicense = resolve_license(meta, files.license_text)
        body = ""
        if files.readme:
            try:
                body = split_front_matter(files.readme)[1]
            except CardError:
                body = files.readme
        link = meta.get("license_link")
        return LicenseNode(
            id=f"{repo.namespace}/{repo.name}",
            on_hub=True,
            license=lic,
            parents=base_models(meta),
            relation=relation_from_tags(repo.tags) or ("finetune" if base_models(meta) else None),
            files=set(files.paths) if full else set(),
            readme_body=body if full else "",
            notice_text=(files.notice_text or "") if full else "",
            license_link=link if isinstance(link, str) else None,
        )

    def ancestry(self, principal: Principal | None, repo: Repo) -> dict[str, LicenseNode]:
        """The subject (with its files) and every ancestor readable on this hub."""
        subject = self.node(repo, full=True)
        nodes = {subject.id: subject}
        queue = list(subject.parents)
        while queue and len(nodes) < MAX_NODES:
            rid = queue.pop(0)
            if rid in nodes:
                continue
            found = self._visible(principal, rid)
            if found is None:
                continue
            n = self.node(found)
            nodes[rid] = n
            queue.extend(n.parents)
        return nodes

    def license_verdict(self, principal: Principal | None, repo: Repo) -> tuple[LicenseVerdict, LicenseNode]:
        nodes = self.ancestry(principal, repo)
        subject = f"{repo.namespace}/{repo.name}"
        return evaluate(subject, nodes), nodes[subject]

    def children(self, principal: Principal | None, repo_id: str) -> list[tuple[Repo, str | None]]:
        """Model repos naming `repo_id` as a base, with their relation."""
        tag = f"base_model:{repo_id}"
        out = []
        with self.hub.read() as s:
            for r in s.scalars(select(Repo).where(Repo.type == RepoType.MODEL.value)).yield_per(500):
                if tag in (r.tags or []) and AuthService.can_read(principal, r):
                    out.append((r, relation_from_tags(r.tags)))
        return out

    def lineage(self, principal: Principal | None, repo: Repo) -> dict[str, Any]:
        """`{"id", "license", "ancestors": [...], "descendants": [...]}` for the API and the CLI."""
        repo_id = f"{repo.namespace}/{repo.name}"
        verdict, subject = self.license_verdict(principal, repo)
        ancestors = []
        for anc in verdict.ancestors:
            ancestors.append(self._node_json(principal, anc.id, anc.depth, ("child", anc.via), anc.node))
        descendants: list[dict[str, Any]] = []
        seen = {repo_id}
        queue: list[tuple[str, int]] = [(repo_id, 1)]
        while queue and len(descendants) < MAX_NODES:
            parent, depth = queue.pop(0)
            for child, _relation in self.children(principal, parent):
                cid = f"{child.namespace}/{child.name}"
                if cid in seen:
                    continue
                seen.add(cid)
                descendants.append(
                    self._node_json(principal, cid, depth, ("parent", parent), self.node(child), child)
                )
                queue.append((cid, depth + 1))
        declared = {a["id"] for a in ancestors} | {d["id"] for d in descendants}
        return {
            "id": repo_id,
            "relation": subject.relation,
            "license": subject.license.to_json(),
            "effectiveLicense": verdict.to_json(),
            "ancestors": ancestors,
            "descendants": descendants,
            "possibleDerivations": self.possible_derivations(principal, repo, declared),
        }

    # -- weight similarity ---------------------------------------------------------------------------------
    def ancestor_ids(self, principal: Principal | None, repo: Repo) -> set[str]:
        """Every declared ancestor id (on this hub or external), from the stored card data."""
        seen: set[str] = set()
        queue = base_models(repo.card_data)
        while queue and len(seen) < MAX_NODES:
            rid = queue.pop(0)
            if rid in seen:
                continue
            seen.add(rid)
            found = self._visible(principal, rid)
            if found is not None:
                queue.extend(base_models(found.card_data))
        return seen

    def possible_derivations(
        self, principal: Principal | None, repo: Repo, declared: set[str]
    ) -> list[dict[str, Any]]:
        """Models whose weights strongly match this one's but that the `base_model` tree does not relate to
        it: not an ancestor, not a descendant, and sharing no declared ancestor (siblings are explained)."""
        if self.fingerprints is None:
            return []
        repo_id = f"{repo.namespace}/{repo.name}"
        with self.hub.read() as s:
            candidates = [
                r
                for r in s.scalars(
                    select(Repo).where(Repo.type == RepoType.MODEL.value, Repo.id != repo.id)
                ).all()
                if AuthService.can_read(principal, r) and f"{r.namespace}/{r.name}" not in declared
            ]
        mine = self.ancestor_ids(principal, repo)
        out: list[dict[str, Any]] = []
        for other, sim in self.fingerprints.matches(repo, candidates):
            other_id = f"{other.namespace}/{other.name}"
            theirs = self.ancestor_ids(principal, other)
            if repo_id in theirs or other_id in mine or mine & theirs:
                continue
            older = (other.created_at, other.id) < (repo.created_at, repo.id)
            out.append(
                {
                    "id": other_id,
                    "kind": "possible undeclared derivation",
                    "direction": "possible-base" if older else "possible-derivative",
                    **sim.to_json(),
                    "threshold": STRONG_MATCH,
                    "license": (other.card_data or {}).get("license"),
                }
            )
        return out

    def _node_json(
        self,
        principal: Principal | None,
        node_id: str,
        depth: int,
        link: tuple[str, str],
        node: LicenseNode | None,
        repo: Repo | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": node_id, "onHub": node is not None, "depth": depth, link[0]: link[1]}
        if node is None:
            out.update(relation=None, parents=[], license=None, effectiveLicense=None)
            return out
        if repo is None:
            repo = self._visible(principal, node_id)
        verdict = self.license_verdict(principal, repo)[0] if repo is not None else None
        out.update(
            relation=node.relation,
            parents=node.parents,
            license=node.license.to_json(),
            effectiveLicense=(
                {
                    "verdict": verdict.verdict,
                    "status": verdict.status,
                    "reasons": [f.to_json() for f in verdict.findings],
                }
                if verdict
                else None
            ),
        )
        return out
