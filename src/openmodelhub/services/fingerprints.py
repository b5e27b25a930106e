"""Weight fingerprints: a compact, seeded sample of every floating-point tensor of a commit's
safetensors files, and the comparison that finds models sharing weights without declaring it (possible
undeclared derivation).

A fingerprint reads only the safetensors header and `SAMPLES` values per tensor, at positions chosen by a
PRNG seeded with the tensor's (canonical) name and shape, so the same tensor of two models is sampled at the
same positions whatever the dtype (F32, F16 and BF16 are converted to float32). Two models are *comparable*
when at least `MIN_SHARED` of the smaller model's tensors exist in the other with the same shape; their
similarity is the mean Pearson correlation of the sampled values over the shared tensors that vary (constant
tensors, such as freshly initialised LayerNorm weights, carry no identity and are skipped). Fine-tuning keeps
weights highly correlated (well above 0.9); independent random initialisations correlate around 0 (the mean
over a model's tensors has a spread of a few hundredths). A similarity of at least `STRONG_MATCH` is a strong
match.
"""

import hashlib
import json
import math
import random
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from openmodelhub.db.models import Ref, Repo, WeightFingerprint
from openmodelhub.protocol.names import DEFAULT_BRANCH
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.content import ContentService
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub

FINGERPRINT_VERSION = "1"
SAMPLES = 64
MIN_SHARED = 0.8  # share of the smaller model's tensors that must exist in the other with the same shape
MIN_TENSORS = 4  # varying shared tensors needed before a similarity is computed
STRONG_MATCH = 0.8  # mean correlation from which a match is reported
MAX_HEADER = 100 * 1024 * 1024
MAX_TENSORS = 20_000
READ_THROUGH = 1 << 20  # bytes read and dropped rather than seeked over, on remote stores
DTYPES = {"F32": (4, "<f"), "F16": (2, "<e"), "BF16": (2, "<H")}
# Wrapper prefixes that task heads add to the same backbone (`bert.encoder...` is `encoder...`).
PREFIXES = (
    "base_model.model.",
    "model.",
    "bert.",
    "roberta.",
    "transformer.",
    "distilbert.",
    "encoder_model.",
)


def canonical_name(name: str) -> str:
    for prefix in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def sample_positions(name: str, shape: list[int], n: int = SAMPLES) -> list[int]:
    """`n` fixed element positions of a tensor, from a PRNG seeded with its canonical name and shape."""
    numel = math.prod(shape) if shape else 1
    if numel <= n:
        return list(range(numel))
    seed = hashlib.sha256(f"{canonical_name(name)}|{'x'.join(map(str, shape))}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "little"))
    return sorted(rng.sample(range(numel), n))


def _decode(raw: bytes, dtype: str) -> float:
    size, fmt = DTYPES[dtype]
    value = struct.unpack(fmt, raw[:size])[0]
    if dtype == "BF16":
        value = struct.unpack("<f", struct.pack("<I", value << 16))[0]
    return float(value)


def _skip(f: BinaryIO, n: int) -> None:
    while n > 0:
        got = len(f.read(min(n, 1 << 20)))
        if not got:
            return
        n -= got


def fingerprint_safetensors(f: BinaryIO, read_through: int = 0) -> dict[str, dict[str, Any]]:
    """`{canonical tensor name: {"shape": [...], "dtype": "F32", "values": [...]}}` for float tensors.

    Samples are read in file order; a gap of up to `read_through` bytes to the next sample is read and
    dropped rather than seeked over, so a remote store (S3) serves many samples from one ranged GET instead of
    one GET per sample."""
    head = f.read(8)
    if len(head) != 8:
        raise ValueError("not a safetensors file")
    n = struct.unpack("<Q", head)[0]
    if n > MAX_HEADER:
        raise ValueError("safetensors header too large")
    header = json.loads(f.read(n))
    if not isinstance(header, dict):
        raise ValueError("safetensors header is not an object")
    base = 8 + n
    out: dict[str, dict[str, Any]] = {}
    # (offset, tensor name, dtype, values to fill, index), read in offset order below
    plan: list[tuple[int, str, str, list[float], int]] = []
    for name, info in list(header.items())[:MAX_TENSORS]:
        if name == "__metadata__" or not isinstance(info, dict) or info.get("dtype") not in DTYPES:
            continue
        shape = [int(d) for d in info.get("shape") or []]
        start = int((info.get("data_offsets") or [0])[0])
        size = DTYPES[info["dtype"]][0]
        positions = sample_positions(name, shape)
        values = [0.0] * len(positions)
        plan += [(base + start + p * size, name, info["dtype"], values, i) for i, p in enumerate(positions)]
        out[canonical_name(name)] = {"shape": shape, "dtype": info["dtype"], "values": values}
    at = base
    for offset, name, dtype, values, i in sorted(plan, key=lambda e: e[0]):
        if at <= offset <= at + read_through:
            _skip(f, offset - at)
        else:
            f.seek(offset)
        size = DTYPES[dtype][0]
        raw = f.read(size)
        if len(raw) != size:
            raise ValueError(f"tensor {name} is truncated")
        at = offset + size
        v = _decode(raw, dtype)
        values[i] = round(v, 7) if math.isfinite(v) else 0.0
    return out


# -- comparison ----------------------------------------------------------------------------------------------
def correlation(a: list[float], b: list[float]) -> float | None:
    """Pearson correlation; None when either side is (nearly) constant."""
    n = min(len(a), len(b))
    if n < 2:
        return None
    ma, mb = sum(a[:n]) / n, sum(b[:n]) / n
    da = [x - ma for x in a[:n]]
    db = [y - mb for y in b[:n]]
    va, vb = sum(x * x for x in da), sum(y * y for y in db)
    scale = max(max(abs(x) for x in a[:n]), max(abs(y) for y in b[:n]), 1e-30)
    if va <= (1e-6 * scale) ** 2 * n or vb <= (1e-6 * scale) ** 2 * n:
        return None
    return max(-1.0, min(1.0, sum(x * y for x, y in zip(da, db, strict=True)) / math.sqrt(va * vb)))


@dataclass(frozen=True)
class Similarity:
    similarity: float  # mean correlation over the compared tensors
    compared: int  # tensors whose values were correlated
    shared: int  # tensors with the same name and shape
    share: float  # shared / tensors of the smaller model

    @property
    def strong(self) -> bool:
        return self.similarity >= STRONG_MATCH

    def to_json(self) -> dict[str, Any]:
        return {
            "similarity": round(self.similarity, 4),
            "comparedTensors": self.compared,
            "sharedTensors": self.shared,
            "sharedShare": round(self.share, 4),
        }


def compare(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> Similarity | None:
    """The similarity of two fingerprints; None when they are not comparable (different architectures)."""
    if not a or not b:
        return None
    shared = [k for k, t in a.items() if k in b and list(b[k]["shape"]) == list(t["shape"])]
    share = len(shared) / min(len(a), len(b))
    if share < MIN_SHARED:
        return None
    scores = [c for k in shared if (c := correlation(a[k]["values"], b[k]["values"])) is not None]
    if len(scores) < MIN_TENSORS:
        return None  # too little evidence (toy models, or only constant tensors)
    return Similarity(sum(scores) / len(scores), len(scores), len(shared), share)


# -- the service ---------------------------------------------------------------------------------------------
class FingerprintService:
    """Computes one fingerprint per commit (all its safetensors files) and finds strong matches."""

    def __init__(self, hub: Hub, git: GitStore) -> None:
        self.hub = hub
        self.git = git

    def compute(self, commit: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """(tensors, files) of a commit: every `*.safetensors` file, merged (sharded models are one model)."""
        tree = self.git.commit_tree(commit)
        entries = [
            e
            for e in self.git.iter_tree(tree, recursive=True)
            if not e.is_dir and e.path.lower().endswith(".safetensors") and "checkpoint" not in e.path
        ]
        metas = self.git.blob_metas([e.oid for e in entries])
        tensors: dict[str, dict[str, Any]] = {}
        files: list[dict[str, Any]] = []
        for e in sorted(entries, key=lambda x: x.path):
            meta = metas.get(e.oid)
            if meta is None:
                continue
            try:
                # A local file is seeked sample by sample; a remote one read through gaps up to 1 MiB.
                gap = 0 if self.hub.blobs.local_path(meta.sha256) is not None else READ_THROUGH
                with ContentService.of(self.hub).open(meta.sha256) as f:
                    found = fingerprint_safetensors(f, read_through=gap)
            except (ValueError, OSError, KeyError, TypeError, struct.error) as exc:
                files.append({"path": e.path, "sha256": meta.sha256, "error": str(exc)[:200]})
                continue
            files.append({"path": e.path, "sha256": meta.sha256, "tensors": len(found)})
            for name, t in found.items():
                tensors.setdefault(name, t)
        return tensors, files

    def fingerprint(self, repo: Repo, commit: str) -> WeightFingerprint:
        """The stored fingerprint of `commit`, computed (and stored) on first use."""
        with self.hub.read() as s:
            row = s.get(WeightFingerprint, (repo.id, commit))
        if row is not None and row.version == FINGERPRINT_VERSION:
            return row
        tensors, files = self.compute(commit)
        values = {
            "version": FINGERPRINT_VERSION,
            "tensor_count": len(tensors),
            "files": files,
            "tensors": tensors,
            "computed_at": utcnow().replace(tzinfo=None),
        }
        try:
            with self.hub.write.begin() as s:
                row = s.get(WeightFingerprint, (repo.id, commit))
                if row is None:
                    row = WeightFingerprint(repo_id=repo.id, commit_oid=commit, **values)
                    s.add(row)
                elif row.version != FINGERPRINT_VERSION:
                    for k, v in values.items():
                        setattr(row, k, v)
                # else: stored meanwhile by a concurrent run (same commit, same values); kept as it is
        except IntegrityError:  # a concurrent run inserted it first
            with self.hub.read() as s:
                row = s.get(WeightFingerprint, (repo.id, commit))
            if row is None:
                raise
        return row

    def record_quietly(self, repo: Repo, commit: str) -> None:
        """Commit hook: compute and store, never raise (a fingerprint error must not fail a commit)."""
        try:
            self.fingerprint(repo, commit)
        except Exception:  # failure-tolerant by design: computed lazily on read instead
            return

    def heads(self, repos: Iterable[Repo]) -> dict[int, WeightFingerprint]:
        """Fingerprints of the `main` heads of `repos` (computing the missing ones)."""
        by_id = {r.id: r for r in repos}
        if not by_id:
            return {}
        with self.hub.read() as s:
            heads = dict(
                s.execute(
                    select(Ref.repo_id, Ref.target).where(
                        Ref.repo_id.in_(list(by_id)), Ref.name == "refs/heads/" + DEFAULT_BRANCH
                    )
                ).all()
            )
            rows = {
                row.repo_id: row
                for row in s.scalars(
                    select(WeightFingerprint).where(WeightFingerprint.repo_id.in_(list(by_id)))
                )
                if heads.get(row.repo_id) == row.commit_oid and row.version == FINGERPRINT_VERSION
            }
        for repo_id, commit in heads.items():
            if repo_id not in rows:
                try:
                    rows[repo_id] = self.fingerprint(by_id[repo_id], commit)
                except Exception:  # an unreadable repo is simply not compared
                    continue
        return rows

    def matches(self, subject: Repo, candidates: list[Repo]) -> list[tuple[Repo, Similarity]]:
        """Candidates whose head weights strongly match the subject's head weights, best first."""
        rows = self.heads([subject, *candidates])
        mine = rows.get(subject.id)
        if mine is None or not mine.tensor_count:
            return []
        out: list[tuple[Repo, Similarity]] = []
        for repo in candidates:
            other = rows.get(repo.id)
            if repo.id == subject.id or other is None or not other.tensor_count:
                continue
            sim = compare(mine.tensors, other.tensors)
            if sim is not None and sim.strong:
                out.append((repo, sim))
        out.sort(key=lambda m: (-m[1].similarity, m[0].namespace, m[0].name))
        return out
