"""The drift cases of openness-and-licenses.md section 6.5, each with its expected verdict and reason."""

from typing import Any

import pytest

from openmodelhub.services.license_drift import LicenseNode, LicenseVerdict, evaluate
from openmodelhub.services.licenses import knowledge_base, resolve_license
from openmodelhub.services.lineage import base_models, infer_relation, relation_tags

LLAMA2_LICENSE_TEXT = "LLAMA 2 COMMUNITY LICENSE AGREEMENT\nLlama 2 Version Release Date: July 18, 2023 ..."


def node(
    repo_id: str,
    license: Any = None,
    bases: list[str] | None = None,
    relation: str | None = None,
    *,
    files: tuple[str, ...] = (),
    body: str = "",
    notice: str = "",
    license_text: str | None = None,
) -> LicenseNode:
    meta: dict[str, Any] = {}
    if isinstance(license, dict):
        meta.update(license)
    elif license is not None:
        meta["license"] = license
    return LicenseNode(
        id=repo_id,
        on_hub=True,
        license=resolve_license(meta, license_text),
        parents=bases or [],
        relation=relation or ("finetune" if bases else None),
        files=set(files),
        readme_body=body,
        notice_text=notice,
    )


def run(*nodes: LicenseNode) -> LicenseVerdict:
    graph = {n.id: n for n in nodes}
    return evaluate(nodes[0].id, graph)


def rules(v: LicenseVerdict, verdict: str) -> set[str]:
    return {f.rule for f in v.findings if f.verdict == verdict}


def test_case_1_llama2_base_apache_finetune_is_drift() -> None:
    v = run(
        node("a/llama2-chat-ft", "apache-2.0", ["meta-llama/Llama-2-7b-hf"], files=("LICENSE",)),
        node("meta-llama/Llama-2-7b-hf", "llama2"),
    )
    assert v.verdict == "drift" and v.status == "drift"
    assert {"3", "4"} <= rules(v, "drift")
    assert v.effective_expression == "Apache-2.0 AND LicenseRef-hf-llama2"
    assert all(f.ancestor == "meta-llama/Llama-2-7b-hf" for f in v.findings if f.verdict == "drift")
    assert v.effective["commercial"] == "capped"


def test_case_2_noncommercial_base_apache_finetune_is_drift() -> None:
    v = run(node("a/nc-ft", "apache-2.0", ["b/base"], files=("LICENSE",)), node("b/base", "cc-by-nc-4.0"))
    assert v.verdict == "drift"
    assert rules(v, "drift") == {"1"}
    assert "commercial" in v.findings[0].message
    assert v.effective["commercial"] == "no"


def test_cc_by_nc_base_mit_finetune_is_drift() -> None:
    v = run(node("a/nc-mit", "mit", ["b/base"], files=("LICENSE",)), node("b/base", "cc-by-nc-4.0"))
    assert v.verdict == "drift" and rules(v, "drift") == {"1"}
    assert v.effective_expression == "MIT AND CC-BY-NC-4.0"


def test_case_3_more_restrictive_child_is_ok_with_attribution() -> None:
    v = run(
        node("a/nc-ft2", "cc-by-nc-sa-4.0", ["b/base"], body="Fine-tuned from b/base."),
        node("b/base", "cc-by-nc-4.0"),
    )
    assert v.verdict == "ok"
    no_credit = run(node("a/nc-ft2", "cc-by-nc-sa-4.0", ["b/base"]), node("b/base", "cc-by-nc-4.0"))
    assert no_credit.verdict == "obligations-unmet" and no_credit.status == "ok"


def test_case_4_apache_base_mit_finetune_is_ok_with_attribution_obligations() -> None:
    v = run(node("a/apache-ft", "mit", ["b/base"]), node("b/base", "apache-2.0"))
    assert v.verdict == "obligations-unmet" and v.status == "ok"
    assert not rules(v, "drift")
    assert any("copy of its licence" in f.message for f in v.findings)
    duties = {o["license"]: o["duties"] for o in v.effective["obligations"]}
    assert "carry the NOTICE file" in duties["apache-2.0"]
    with_copy = run(node("a/apache-ft", "mit", ["b/base"], files=("LICENSE",)), node("b/base", "apache-2.0"))
    assert with_copy.verdict == "ok"


def test_case_5_llama31_naming_and_display() -> None:
    base = node("meta-llama/Llama-3.1-8B", "llama3.1")
    v = run(node("a/SuperChat-8B", "llama3.1", ["meta-llama/Llama-3.1-8B"], files=("LICENSE",)), base)
    assert v.verdict == "obligations-unmet"
    assert rules(v, "obligations-unmet") == {"naming", "display"}
    renamed = run(
        node(
            "a/Llama-3.1-SuperChat-8B",
            "llama3.1",
            ["meta-llama/Llama-3.1-8B"],
            files=("LICENSE",),
            body="Built with Llama",
        ),
        base,
    )
    assert renamed.verdict == "ok"


def test_case_6_llama3_naming_rule() -> None:
    v = run(
        node(
            "a/Llama3-SuperChat",
            "llama3",
            ["meta-llama/Meta-Llama-3-8B"],
            files=("LICENSE",),
            body="Built with Meta Llama 3",
        ),
        node("meta-llama/Meta-Llama-3-8B", "llama3"),
    )
    assert v.verdict == "ok"


def test_case_7_merge_with_a_llama3_parent_is_drift() -> None:
    v = run(
        node(
            "a/merge",
            "apache-2.0",
            ["mistralai/Mistral-7B-v0.1", "meta-llama/Meta-Llama-3-8B"],
            "merge",
            files=("LICENSE",),
        ),
        node("mistralai/Mistral-7B-v0.1", "apache-2.0"),
        node("meta-llama/Meta-Llama-3-8B", "llama3"),
    )
    assert v.verdict == "drift"
    assert {f.ancestor for f in v.findings if f.verdict == "drift"} == {"meta-llama/Meta-Llama-3-8B"}
    assert "3" in rules(v, "drift")


def test_case_8_merge_of_share_alike_and_llama2_is_conflict() -> None:
    v = run(
        node("a/merge2", "other", ["b/x", "meta-llama/Llama-2-7b-hf"], "merge"),
        node("b/x", "cc-by-sa-4.0"),
        node("meta-llama/Llama-2-7b-hf", "llama2"),
    )
    assert v.verdict == "conflict" and v.status == "drift"


def test_case_9_gemma_gguf() -> None:
    base = node("google/gemma-2-9b", "gemma")
    v = run(node("a/gemma-GGUF", "apache-2.0", ["google/gemma-2-9b"], "quantized", files=("LICENSE",)), base)
    assert v.verdict == "drift"
    assert {"4", "6"} <= rules(v, "drift")
    notice = knowledge_base().entries["gemma"].notice or ""
    ok = run(
        node(
            "a/gemma-GGUF",
            "gemma",
            ["google/gemma-2-9b"],
            "quantized",
            files=("LICENSE", "NOTICE"),
            notice=notice,
        ),
        base,
    )
    assert ok.verdict == "ok"
    no_notice = run(
        node("a/gemma-GGUF", "gemma", ["google/gemma-2-9b"], "quantized", files=("LICENSE",)), base
    )
    assert no_notice.verdict == "obligations-unmet" and rules(no_notice, "obligations-unmet") == {"notice"}


def test_case_10_rail_adapter() -> None:
    base = node("b/sd-base", "creativeml-openrail-m")
    v = run(node("a/lora", "mit", ["b/sd-base"], "adapter", files=("LICENSE",)), base)
    assert v.verdict == "drift" and rules(v, "drift") == {"4"}
    same = run(node("a/lora", "creativeml-openrail-m", ["b/sd-base"], "adapter", files=("LICENSE",)), base)
    assert same.verdict == "ok"
    family = run(node("a/lora", "openrail", ["b/sd-base"], "adapter", files=("LICENSE",)), base)
    assert family.verdict == "needs-review" and family.status == "unknown"


def test_case_11_no_derivatives() -> None:
    base = node("b/base", "cc-by-nd-4.0")
    ft = run(node("a/nd-ft", "cc-by-nd-4.0", ["b/base"], body="b/base"), base)
    assert ft.verdict == "drift" and rules(ft, "drift") == {"2"}
    q = run(node("a/nd-q", "cc-by-nd-4.0", ["b/base"], "quantized", body="b/base"), base)
    assert q.verdict == "needs-review"


def test_case_12_drift_is_inherited_through_two_hops() -> None:
    llama = node("meta-llama/Llama-2-7b-hf", "llama2")
    ft = node("b/ft", "llama2", ["meta-llama/Llama-2-7b-hf"], files=("LICENSE",))
    q = node("c/q", "mit", ["b/ft"], "quantized", files=("LICENSE",))
    assert run(ft, llama).verdict == "ok"
    v = run(q, ft, llama)
    assert v.verdict == "drift"
    assert {f.ancestor for f in v.findings if f.verdict == "drift"} == {"b/ft", "meta-llama/Llama-2-7b-hf"}


def test_case_13_unresolvable_base() -> None:
    v = run(node("a/ft", "apache-2.0", ["ghost/missing-model"], files=("LICENSE",)))
    assert v.verdict == "lineage-unresolved" and v.status == "unknown"
    assert v.findings[0].ancestor == "ghost/missing-model"


def test_case_14_deepseek_license_name() -> None:
    v = run(
        node("a/coder-ft", "apache-2.0", ["deepseek-ai/deepseek-coder-6.7b-base"], files=("LICENSE",)),
        node("deepseek-ai/deepseek-coder-6.7b-base", {"license": "other", "license_name": "deepseek"}),
    )
    assert v.verdict == "drift" and {"3", "4"} <= rules(v, "drift")


def test_case_15_permissive_base_never_drifts() -> None:
    v = run(
        node("a/r1-distill", "mit", ["Qwen/Qwen2.5-Math-1.5B"], files=("LICENSE",)),
        node("Qwen/Qwen2.5-Math-1.5B", "apache-2.0"),
    )
    assert v.verdict == "ok"


def test_case_16_repeated_bases_are_one_parent() -> None:
    meta = {"base_model": ["x/y", "x/y", "x/y"]}
    assert base_models(meta) == ["x/y"]
    assert infer_relation(meta, [], None) == ("finetune", False)
    assert infer_relation({"base_model": ["x/y", "z/w"]}, [], None) == ("merge", False)


def test_case_17_cycles() -> None:
    v = run(node("a/b", "mit", ["a/b"]))
    assert v.verdict == "lineage-cycle"
    v2 = run(node("a/b", "mit", ["c/d"], files=("LICENSE",)), node("c/d", "mit", ["a/b"]))
    assert v2.verdict == "lineage-cycle"


@pytest.mark.parametrize(
    ("paths", "config", "expected"),
    [
        (["adapter_config.json", "adapter_model.safetensors"], None, "adapter"),
        (["model-Q4_K_M.gguf"], None, "quantized"),
        (["model.safetensors"], {"quantization_config": {"bits": 4}}, "quantized"),
        (["model.safetensors"], {"model_type": "bert"}, "finetune"),
    ],
)
def test_relation_inference(paths: list[str], config: dict[str, Any] | None, expected: str) -> None:
    meta = {"base_model": "x/y"}
    assert infer_relation(meta, paths, config) == (expected, False)
    assert relation_tags(meta, paths, config) == [f"base_model:{expected}:x/y"]
    assert infer_relation({**meta, "base_model_relation": "merge"}, paths, config) == ("merge", True)


def test_custom_licence_resolution() -> None:
    unknown = resolve_license({"license": "other", "license_name": "my-licence-1.0"})
    assert unknown.entry is None and unknown.status == "unknown"
    from_file = resolve_license({"license": "other", "license_name": "my-licence-1.0"}, LLAMA2_LICENSE_TEXT)
    assert from_file.entry is not None and from_file.entry.hub_id == "llama2"
    assert from_file.source == "license-file"
    mismatch = resolve_license({"license": "mit"}, LLAMA2_LICENSE_TEXT)
    assert mismatch.status == "mismatch"
    assert resolve_license({"license": "apache-2.0 AND mit"}).source == "expression"
