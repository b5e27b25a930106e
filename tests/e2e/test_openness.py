"""Openness, lineage and licence drift against a real `omh serve`, driven by stock huggingface_hub."""

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from safetensors.numpy import save

from tests.conftest import Accounts
from tests.support.server import HubServer

WORDS = " ".join(f"word{i}" for i in range(200))


def weights(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return save({"encoder.weight": rng.standard_normal((8, 4)).astype(np.float32)})


def card(meta: str, body: str = WORDS) -> bytes:
    return f"---\n{meta}\n---\n# Model\n\n{body}\n".encode()


def add(path: str, data: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=io.BytesIO(data))


def get(hub: HubServer, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{hub.url}{path}", headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def by_name(assessment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in assessment["components"]}


def test_minilm_gets_an_explained_assessment(
    hub: HubServer, accounts: Accounts, minilm_dir: Path, repo_name: str
) -> None:
    repo_id = f"sentence-transformers/{repo_name}"
    hub.cli("import", str(minilm_dir), repo_id)
    info = HfApi(endpoint=hub.url, token=accounts.alice).model_info(repo_id)
    assert info.card_data is not None and info.card_data["license"] == "apache-2.0"
    omh = info.omh  # type: ignore[attr-defined]
    assert omh["license"]["id"] == "apache-2.0" and omh["license"]["effective"]["verdict"] == "ok"
    a = omh["openness"]
    comps = by_name(a)
    assert a["license"]["spdx"] == "Apache-2.0"
    assert comps["Model card"]["state"] == "present-verified"
    assert comps["Model parameters (Final)"]["state"] == "present-verified"
    assert comps["Model parameters (Final)"]["evidence"] == [{"kind": "file", "path": "model.safetensors"}]
    assert comps["Model architecture"]["state"] == "present-library"
    # 21 datasets are named in the card, none is on this hub.
    assert comps["Datasets"]["state"] == "linked-unverified"
    assert comps["Datasets"]["note"].startswith("not on this hub: s2orc")
    assert comps["Data card"]["state"] == "linked-unverified"
    # The card says train_script.py is in the repository; it is not.
    assert comps["Training code"]["state"] == "claimed-in-card"
    assert comps["Evaluation results"]["state"] == "missing"
    assert comps["Technical report"]["state"] == "missing"
    # Class III needs evaluation results and a technical report: unclassified, verified and claimed.
    assert a["verifiedClass"] is None and a["claimedClass"] is None
    assert a["progress"]["verified"]["3"] == {"included": 3, "required": 6}
    assert a["progress"]["claimed"]["3"] == {"included": 4, "required": 6}
    assert set(a["unverifiedClaims"]) == {"Data card", "Training code", "Datasets"}
    assert "Evaluation results" in a["missing"] and "Technical report" in a["missing"]
    out = hub.cli("openness", repo_id).stdout
    assert "verified: Unclassified" in out and "claimed in card" in out and "Training code" in out
    # Stored per commit and served by the openness endpoint too.
    assert get(hub, f"/api/models/{repo_id}/openness")["components"] == a["components"]


def _class_one_files(ds_id: str) -> list[CommitOperationAdd]:
    meta = (
        f"license: apache-2.0\nlibrary_name: transformers\ndatasets: [{ds_id}]\n"
        "model-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
        f"    dataset: {{type: {ds_id}, name: DS}}\n    metrics: [{{type: accuracy, value: 0.91}}]\n"
    )
    return [
        add("README.md", card(meta)),
        add("config.json", b'{"model_type": "bert"}'),
        add("model.safetensors", weights(1)),
        add("checkpoint-100/model.safetensors", weights(2)),
        add("train.py", b"print('training')\n"),
        add("eval.py", b"print('evaluating')\n"),
        add("technical_report.pdf", b"%PDF-1.4\n% a technical report\n%%EOF\n"),
    ]


def _open_dataset(api: HfApi, ds_id: str) -> str:
    """A dataset repo with an openly licensed data card, data and preprocessing code."""
    api.create_repo(ds_id, repo_type="dataset")
    api.create_commit(
        ds_id,
        repo_type="dataset",
        commit_message="data",
        operations=[
            add("README.md", card("license: cc-by-4.0", "A dataset of sentences. " + WORDS[:400])),
            add("data/train.csv", b"text,label\nhello,1\n"),
            add("preprocess.py", b"print('cleaning')\n"),
        ],
    )
    return ds_id


def test_class_one_is_verified_and_drops_when_training_code_goes(
    hub: HubServer, accounts: Accounts, repo_name: str
) -> None:
    api = HfApi(endpoint=hub.url, token=accounts.alice)
    ds_id = _open_dataset(api, f"alice/{repo_name}-data")
    repo_id = f"alice/{repo_name}"
    api.create_repo(repo_id)
    api.create_commit(repo_id, commit_message="all", operations=_class_one_files(ds_id))
    a = get(hub, f"/api/models/{repo_id}/openness")
    comps = by_name(a)
    assert a["verifiedClass"] == 1, a["summary"]
    assert a["claimedClass"] == 1
    assert comps["Datasets"]["state"] == "present-verified" and comps["Datasets"]["license"] == "CC-BY-4.0"
    assert comps["Data preprocessing code"]["evidence"][0] == {
        "kind": "dataset-file",
        "id": ds_id,
        "path": "preprocess.py",
    }
    assert comps["Evaluation data"]["state"] == "present-verified"
    assert (
        comps["Model parameters (Intermediate)"]["evidence"][0]["path"] == "checkpoint-100/model.safetensors"
    )

    api.create_commit(repo_id, commit_message="drop", operations=[CommitOperationDelete("train.py")])
    b = get(hub, f"/api/models/{repo_id}/openness")
    assert b["revision"] != a["revision"]
    assert by_name(b)["Training code"]["state"] == "missing"
    assert b["verifiedClass"] == 3 and b["claimedClass"] == 3
    # The first commit keeps its own assessment.
    assert get(hub, f"/api/models/{repo_id}/openness/{a['revision']}")["verifiedClass"] == 1

    api.create_commit(
        repo_id,
        commit_message="relicense",
        operations=[add("train.py", b"print('training')\n"), add("README.md", card("license: cc-by-nc-4.0"))],
    )
    c = get(hub, f"/api/models/{repo_id}/openness")
    assert by_name(c)["Model parameters (Final)"]["state"] == "license-not-open"
    assert c["verifiedClass"] is None


def test_lineage_tags_tree_and_drift(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    api = HfApi(endpoint=hub.url, token=accounts.alice)
    base, ft, lora = f"alice/{repo_name}-base", f"alice/{repo_name}-ft", f"alice/{repo_name}-lora"
    for rid in (base, ft, lora):
        api.create_repo(rid)
    api.upload_file(path_or_fileobj=card("license: llama2"), path_in_repo="README.md", repo_id=base)
    api.upload_file(
        path_or_fileobj=card(f"license: apache-2.0\nbase_model: {base}"), path_in_repo="README.md", repo_id=ft
    )
    api.create_commit(
        lora,
        commit_message="adapter",
        operations=[
            add("README.md", card(f"license: llama2\nbase_model: {base}")),
            add("adapter_config.json", b'{"peft_type": "LORA"}'),
            add("LICENSE", b"LLAMA 2 COMMUNITY LICENSE AGREEMENT\n"),
        ],
    )
    # Stock client: card_data round-trips; list_models filters on the Hub-style lineage tags.
    info = api.model_info(ft)
    assert info.card_data is not None and info.card_data["base_model"] == base
    assert f"base_model:finetune:{base}" in (info.tags or [])
    assert {m.id for m in api.list_models(filter=f"base_model:{base}")} == {ft, lora}
    assert [m.id for m in api.list_models(filter=f"base_model:adapter:{base}")] == [lora]
    assert [m.id for m in api.list_models(filter=f"base_model:finetune:{base}")] == [ft]

    tree = get(hub, f"/api/models/{ft}/lineage")
    assert [a["id"] for a in tree["ancestors"]] == [base]
    assert tree["ancestors"][0]["onHub"] and tree["ancestors"][0]["license"]["id"] == "llama2"
    eff = tree["effectiveLicense"]
    assert eff["verdict"] == "drift" and eff["effectiveExpression"] == "Apache-2.0 AND LicenseRef-hf-llama2"
    assert {r["ancestor"] for r in eff["reasons"] if r["verdict"] == "drift"} == {base}
    down = get(hub, f"/api/models/{base}/lineage")
    kids = {d["id"]: d for d in down["descendants"]}
    assert set(kids) == {ft, lora}
    assert kids[ft]["effectiveLicense"]["status"] == "drift" and kids[lora]["relation"] == "adapter"
    assert kids[lora]["effectiveLicense"]["status"] == "ok"

    # Computed on read: relicensing the base changes the child's verdict at once.
    api.upload_file(path_or_fileobj=card("license: mit"), path_in_repo="README.md", repo_id=base)
    assert get(hub, f"/api/models/{ft}/lineage")["effectiveLicense"]["status"] == "ok"

    svg = hub.data_dir.parent / f"{repo_name}.svg"
    hub.cli("lineage", base, "--svg", str(svg))
    text = svg.read_text()
    assert text.startswith("<svg") and ft in text and lora in text


def test_validate_yaml_reports_errors_and_warnings(hub: HubServer) -> None:
    r = httpx.post(
        f"{hub.url}/api/validate-yaml",
        json={"content": "---\nlicense: other\nbase_model: a/b\n---\n", "repoType": "model"},
    )
    assert r.status_code == 200
    messages = [w["message"] for w in r.json()["warnings"]]
    assert any("license_name" in m for m in messages) and any("license_link" in m for m in messages)
    bad = httpx.post(
        f"{hub.url}/api/validate-yaml",
        json={"content": "---\nbase_model_relation: distilled\n---\n", "repoType": "model"},
    )
    assert bad.status_code == 400 and "base_model_relation" in bad.text


def test_listing_filters_by_openness_class_and_commercial_use(
    hub: HubServer, accounts: Accounts, repo_name: str
) -> None:
    api = HfApi(endpoint=hub.url, token=accounts.alice)
    ds_id = _open_dataset(api, f"alice/{repo_name}-data")
    one, three, nc_base, nc_child = (f"alice/{repo_name}-{k}" for k in ("one", "three", "ncbase", "ncchild"))
    for rid in (one, three, nc_base, nc_child):
        api.create_repo(rid)
    api.create_commit(one, commit_message="all", operations=_class_one_files(ds_id))
    api.create_commit(
        three,
        commit_message="no training code",
        operations=[op for op in _class_one_files(ds_id) if op.path_in_repo != "train.py"],
    )
    api.upload_file(path_or_fileobj=card("license: cc-by-nc-4.0"), path_in_repo="README.md", repo_id=nc_base)
    child_card = card(f"license: mit\nbase_model: {nc_base}")
    api.upload_file(path_or_fileobj=child_card, path_in_repo="README.md", repo_id=nc_child)

    def ids(**params: str) -> set[str]:
        r = httpx.get(f"{hub.url}/api/models", params={"search": repo_name, **params}, timeout=60)
        assert r.status_code == 200, r.text
        return {m["id"] for m in r.json()}

    assert ids() == {one, three, nc_base, nc_child}
    # "At least this open": a Class I model also satisfies II and III.
    assert ids(openness="I") == {one}
    assert ids(openness="II") == {one}
    assert ids(openness="III") == {one, three}
    assert ids(openness="class-iii") == {one, three}
    # Commercial use across the lineage: the MIT child of a non-commercial base is not.
    assert ids(commercial="true") == {one, three}
    assert ids(commercial="false") == {nc_base, nc_child}
    assert ids(commercial="true", openness="I") == {one}
    assert ids(commercial="true", filter=f"base_model:{nc_base}") == set()
    assert ids(limit="1", openness="III") < {one, three}
    for bad in ({"openness": "IV"}, {"commercial": "maybe"}):
        r = httpx.get(f"{hub.url}/api/models", params=bad, timeout=60)
        assert r.status_code == 400, r.text
    r = httpx.get(f"{hub.url}/api/datasets", params={"openness": "I"}, timeout=60)
    assert r.status_code == 400
