"""Weight fingerprints against a real hub: a fine-tuned or fp16 copy of MiniLM uploaded without `base_model`
is reported as a possible undeclared derivation; a declared descendant is not."""

import shutil
from pathlib import Path

import httpx
import pytest
import torch
from huggingface_hub import HfApi
from transformers import AutoModel, AutoTokenizer

from tests.conftest import Accounts
from tests.support.server import HubServer

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
WORDS = " ".join(f"word{i}" for i in range(200))


def lineage(hub: HubServer, repo_id: str, token: str) -> dict:  # type: ignore[type-arg]
    r = httpx.get(
        f"{hub.url}/api/models/{repo_id}/lineage", headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def suspects(data: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {m["id"]: m for m in data["possibleDerivations"]}


@pytest.fixture(scope="module")
def variants(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """MiniLM fine-tuned for a few Adam steps on CPU, and an fp16 copy, saved as safetensors."""
    root = tmp_path_factory.mktemp("minilm-variants")
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(str(minilm_dir))
    tok = AutoTokenizer.from_pretrained(str(minilm_dir))
    batch = tok(["a tiny batch", "of two sentences"], return_tensors="pt", padding=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(3):
        loss = model(**batch).last_hidden_state.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = {"tuned": root / "tuned", "fp16": root / "fp16"}
    model.save_pretrained(out["tuned"], safe_serialization=True)
    AutoModel.from_pretrained(str(minilm_dir)).half().save_pretrained(out["fp16"], safe_serialization=True)
    for d in out.values():
        (d / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# A model\n\n{WORDS}\n")
    return out


def test_undeclared_derivations_are_detected(
    hub: HubServer, accounts: Accounts, minilm_dir: Path, variants: dict[str, Path], repo_name: str
) -> None:
    hub.cli("import", str(minilm_dir), MINILM)  # idempotent: other tests may have imported it already
    api = HfApi(endpoint=hub.url, token=accounts.alice)
    tuned, half, declared = (f"alice/{repo_name}-{k}" for k in ("tuned", "fp16", "declared"))
    for rid, folder in ((tuned, variants["tuned"]), (half, variants["fp16"])):
        api.create_repo(rid)
        api.upload_folder(repo_id=rid, folder_path=str(folder))
    decl_dir = variants["fp16"].parent / "declared"
    shutil.copytree(variants["fp16"], decl_dir, dirs_exist_ok=True)
    meta = f"license: apache-2.0\nbase_model: {MINILM}"
    (decl_dir / "README.md").write_text(f"---\n{meta}\n---\n# Mine\n{WORDS}\n")
    api.create_repo(declared)
    api.upload_folder(repo_id=declared, folder_path=str(decl_dir))

    # The fine-tuned copy, uploaded without base_model, is reported as derived from MiniLM.
    data = lineage(hub, tuned, accounts.alice)
    assert data["ancestors"] == []
    found = suspects(data)
    assert MINILM in found, data["possibleDerivations"]
    m = found[MINILM]
    assert m["kind"] == "possible undeclared derivation" and m["direction"] == "possible-base"
    assert 0.99 < m["similarity"] <= 1.0 and m["comparedTensors"] >= 50 and m["sharedShare"] == 1.0
    # So is the fp16 copy (its values are read as float32).
    assert suspects(lineage(hub, half, accounts.alice))[MINILM]["similarity"] > 0.99

    # A declared descendant is not undeclared: neither in its own view nor in MiniLM's.
    mine = lineage(hub, declared, accounts.alice)
    assert [a["id"] for a in mine["ancestors"]] == [MINILM]
    assert MINILM not in suspects(mine)
    base_view = lineage(hub, MINILM, accounts.alice)
    assert declared in {d["id"] for d in base_view["descendants"]}
    assert declared not in suspects(base_view)
    assert {tuned, half} <= set(suspects(base_view))
    assert suspects(base_view)[tuned]["direction"] == "possible-derivative"

    # The CLI shows it too.
    out = hub.cli("lineage", tuned)
    assert "possible undeclared derivation" in out.stderr and MINILM in out.stderr
    svg = hub.data_dir.parent / f"{repo_name}.svg"
    hub.cli("lineage", tuned, "--svg", str(svg))
    assert "possible undeclared derivation" in svg.read_text()


def test_a_broken_safetensors_file_never_fails_a_commit(
    hub: HubServer, accounts: Accounts, repo_name: str
) -> None:
    api = HfApi(endpoint=hub.url, token=accounts.alice)
    rid = f"alice/{repo_name}"
    api.create_repo(rid)
    header = b'{"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}'
    broken = len(header).to_bytes(8, "little") + header + b"\0" * 16  # truncated tensor data
    commit = api.upload_file(path_or_fileobj=broken, path_in_repo="model.safetensors", repo_id=rid)
    assert commit.oid
    assert lineage(hub, rid, accounts.alice)["possibleDerivations"] == []
