"""Validation of model/dataset card metadata against the Hub card spec (huggingface/hub-docs `modelcard.md`,
`docs/hub/model-cards.md`, `docs/hub/repositories-licenses.md`).

Errors are what the Hub would reject (wrong types, malformed `model-index`, invalid relation); warnings are
what is accepted but probably not meant (unknown licence id, `license: other` without a name or link).
"""

from typing import Any

from openmodelhub.services.licenses import knowledge_base, license_keys

RELATIONS = ("adapter", "merge", "quantized", "finetune")
GATING_KEYS = (
    "extra_gated_prompt",
    "extra_gated_heading",
    "extra_gated_description",
    "extra_gated_button_content",
)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _str_or_list(meta: dict[str, Any], key: str, errors: list[str]) -> None:
    value = meta.get(key)
    if value is None:
        return
    if not isinstance(value, str) and not _is_str_list(value):
        errors.append(f"'{key}' must be a string or a list of strings")


def _check_license(meta: dict[str, Any], errors: list[str], warnings: list[str]) -> None:
    kb = knowledge_base()
    value = meta.get("license")
    if value is None:
        if meta.get("license_name") or meta.get("license_link"):
            warnings.append(
                "'license_name'/'license_link' are set but 'license' is not: use 'license: other'"
            )
        return
    ids = [value] if isinstance(value, str) else value if _is_str_list(value) else None
    if ids is None:
        errors.append("'license' must be a string or a list of strings")
        return
    for lic in ids:
        low = lic.strip().lower()
        if low in kb.hub_ids:
            if kb.get(low) is not None and kb.get(low).is_family:  # type: ignore[union-attr]
                warnings.append(
                    f"license '{lic}' names a licence family, not one licence: its terms need review"
                )
            continue
        if license_keys(lic) is not None:
            warnings.append(f"license '{lic}' is an SPDX expression, not a Hub licence id")
        else:
            warnings.append(
                f"license '{lic}' is not a known Hub licence id; use 'license: other' with "
                "'license_name' and 'license_link' for a custom licence"
            )
    if any(i.strip().lower() == "other" for i in ids):
        name, link = meta.get("license_name"), meta.get("license_link")
        if not name:
            warnings.append(
                "'license: other' should come with a 'license_name' (an id such as my-license-1.0)"
            )
        if not link:
            warnings.append(
                "'license: other' should come with a 'license_link' (LICENSE, LICENSE.md or a URL)"
            )
        if isinstance(name, str) and name and kb.by_alias(name) is None:
            warnings.append(
                f"license_name '{name}' is not in this hub's licence knowledge base: its terms count as "
                "unknown unless the LICENSE file is recognised"
            )


def _check_base_model(meta: dict[str, Any], errors: list[str], warnings: list[str]) -> None:
    base = meta.get("base_model")
    if base is not None:
        items = [base] if isinstance(base, str) else base if _is_str_list(base) else None
        if items is None:
            errors.append("'base_model' must be a repo id or a list of repo ids")
        else:
            for b in items:
                if b.count("/") > 1 or not b.strip() or " " in b.strip():
                    errors.append(f"base_model '{b}' is not a repo id (namespace/name)")
    relation = meta.get("base_model_relation")
    if relation is not None:
        if relation not in RELATIONS:
            errors.append(f"'base_model_relation' must be one of {', '.join(RELATIONS)}")
        elif base is None:
            warnings.append("'base_model_relation' is set but 'base_model' is not")
        elif relation == "merge" and isinstance(base, str):
            warnings.append("'base_model_relation: merge' usually lists several base models")


def _check_model_index(meta: dict[str, Any], errors: list[str]) -> None:
    index = meta.get("model-index")
    if index is None:
        return
    if not isinstance(index, list):
        errors.append("'model-index' must be a list of {name, results}")
        return
    for i, model in enumerate(index):
        where = f"model-index[{i}]"
        if not isinstance(model, dict):
            errors.append(f"{where} must be a mapping with 'name' and 'results'")
            continue
        if not isinstance(model.get("name"), str):
            errors.append(f"{where}.name must be a string")
        results = model.get("results")
        if not isinstance(results, list):
            errors.append(f"{where}.results must be a list")
            continue
        for j, result in enumerate(results):
            rw = f"{where}.results[{j}]"
            if not isinstance(result, dict):
                errors.append(f"{rw} must be a mapping with 'task', 'dataset' and 'metrics'")
                continue
            task = result.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append(f"{rw}.task.type must be a string")
            dataset = result.get("dataset")
            if not isinstance(dataset, dict) or not isinstance(dataset.get("type"), str):
                errors.append(f"{rw}.dataset needs 'type' (a dataset id) and 'name'")
            elif not isinstance(dataset.get("name"), str):
                errors.append(f"{rw}.dataset.name must be a string")
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f"{rw}.metrics must be a non-empty list")
                continue
            for k, metric in enumerate(metrics):
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
                    errors.append(f"{rw}.metrics[{k}] needs a 'type' string")
                elif "value" not in metric:
                    errors.append(f"{rw}.metrics[{k}] needs a 'value'")
            source = result.get("source")
            if source is not None and (
                not isinstance(source, dict) or not isinstance(source.get("url"), str)
            ):
                errors.append(f"{rw}.source must be a mapping with a 'url'")


def _check_gating(meta: dict[str, Any], errors: list[str]) -> None:
    for key in GATING_KEYS:
        if key in meta and not isinstance(meta[key], str):
            errors.append(f"'{key}' must be a string")
    fields = meta.get("extra_gated_fields")
    if fields is not None and not isinstance(fields, dict):
        errors.append("'extra_gated_fields' must be a mapping of field label to type")
    gated = meta.get("gated")
    if gated is not None and gated not in (True, False, "auto", "manual"):
        errors.append("'gated' must be true, false, 'auto' or 'manual'")


def validate_metadata(meta: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, warnings) for parsed card metadata."""
    errors: list[str] = []
    warnings: list[str] = []
    for key in ("language", "tags", "datasets", "metrics"):
        _str_or_list(meta, key, errors)
    for key in ("pipeline_tag", "library_name", "license_name", "license_link", "new_version"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(f"'{key}' must be a string")
    _check_license(meta, errors, warnings)
    _check_base_model(meta, errors, warnings)
    _check_model_index(meta, errors)
    _check_gating(meta, errors)
    datasets = meta.get("datasets")
    ids: list[str] = []
    if isinstance(datasets, str):
        ids = [datasets]
    elif isinstance(datasets, list):
        ids = [d for d in datasets if isinstance(d, str)]
    for d in ids:
        if d.count("/") > 1:
            errors.append(f"dataset '{d}' is not a dataset id")
    return errors, warnings
