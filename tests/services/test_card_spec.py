"""Card metadata validation (what `/api/validate-yaml` reports)."""

from openmodelhub.services.cards import validate_card


def card(yaml_text: str) -> str:
    return f"---\n{yaml_text}\n---\n# Model\n"


def test_valid_card_has_no_errors_or_warnings() -> None:
    errors, warnings = validate_card(
        card(
            "license: apache-2.0\nbase_model: a/b\nbase_model_relation: finetune\ndatasets: [x/y]\n"
            "language: [en]\npipeline_tag: text-classification\nlibrary_name: transformers\ntags: [t]\n"
            "model-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
            "    dataset: {type: x/y, name: Y}\n    metrics: [{type: accuracy, value: 0.9}]\n"
        )
    )
    assert errors == [] and warnings == []


def test_errors() -> None:
    errors, _ = validate_card(
        card(
            "license: 3\nbase_model: {a: b}\nbase_model_relation: distilled\npipeline_tag: [x]\n"
            "model-index:\n- name: m\n  results:\n  - task: {}\n    dataset: x\n    metrics: []\n"
            "gated: sometimes\nextra_gated_fields: [a]"
        )
    )
    text = " | ".join(errors)
    for part in (
        "'license' must be",
        "'base_model' must be",
        "'base_model_relation' must be one of",
        "'pipeline_tag' must be a string",
        "task.type",
        "dataset needs",
        "metrics must be a non-empty list",
        "'gated' must be",
        "'extra_gated_fields'",
    ):
        assert part in text, part


def test_warnings() -> None:
    errors, warnings = validate_card(card("license: not-a-licence"))
    assert errors == [] and "not a known Hub licence id" in warnings[0]
    errors, warnings = validate_card(card("license: other"))
    assert (
        errors == []
        and any("license_name" in w for w in warnings)
        and any("license_link" in w for w in warnings)
    )
    _, warnings = validate_card(card("license: other\nlicense_name: deepseek\nlicense_link: LICENSE"))
    assert warnings == []
    _, warnings = validate_card(card("license: openrail"))
    assert "family" in warnings[0]
    _, warnings = validate_card(card("license: llama2\nbase_model_relation: adapter"))
    assert any("'base_model' is not" in w for w in warnings)
