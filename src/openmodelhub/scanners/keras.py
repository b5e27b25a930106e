"""Keras model configs: Lambda layers carry Python bytecode, custom modules name arbitrary callables.

`.keras` files are zips whose `config.json` reaches `check_config` through the JSON scanner. Legacy `.h5`
files keep the same JSON in the HDF5 attribute `model_config`; rather than parse HDF5, the file's bytes are
searched for JSON objects starting `{"class_name"` (attributes are stored contiguously) and, failing that, for
the byte patterns of a serialized Lambda. A `__lambda__` / `function_type: lambda` layer runs its code on load
(CVE-2024-3660) → unsafe; a module outside Keras (CVE-2025-1550: `safe_mode` bypass by naming any module in
config.json) → suspicious, or unsafe for modules that run commands.
"""

from __future__ import annotations

import json
import re
from typing import Any

from openmodelhub.scanners import pickle_policy
from openmodelhub.scanners._report import Ctx, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.types import Verdict

KERAS_MODULES = (
    "keras",
    "tf_keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "tensorflow.keras",
    "tensorflow.python.keras",
)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_CONFIG_START = re.compile(rb'\{\s*"(class_name|keras_version|backend)"\s*:')
_LAMBDA_BYTES = re.compile(rb'"__lambda__"|"function_type"\s*:\s*"lambda"')
_LAMBDA_LAYER = re.compile(rb'"class_name"\s*:\s*"Lambda"')
_MARSHAL_B64 = re.compile(rb"4wEAAAAAAAAA|4wAAAAAAAAAA|YwAAAAAAAAAA")  # base64 of marshalled code objects
SCAN_CHUNK = 8 << 20
OVERLAP = 1 << 16


def is_hdf5(src: Source) -> bool:
    return any(src.read_at(off, 8) == HDF5_MAGIC for off in (0, 512, 1024, 2048))


def looks_like_config(obj: Any) -> bool:
    return isinstance(obj, dict) and "class_name" in obj and "config" in obj


def _is_keras_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in KERAS_MODULES)


def check_config(obj: Any, rep: Report, where: str) -> None:
    """Walk a Keras config tree (iteratively: configs can be deep) and add findings."""
    stack: list[tuple[Any, int]] = [(obj, 0)]
    visited = 0
    reported: set[int] = set()
    while stack:
        node, depth = stack.pop()
        visited += 1
        if depth > 500 or visited > 2_000_000:
            rep.add(
                Verdict.UNSCANNABLE, "keras.too_deep", "model config too deep or too large to review", where
            )
            return
        if isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend((v, depth + 1) for v in node.values())
        cls = node.get("class_name")
        cfg = node.get("config")
        layer = f"{where}: layer {cfg.get('name')!r}" if isinstance(cfg, dict) and cfg.get("name") else where
        fn = cfg.get("function") if isinstance(cfg, dict) else None
        if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
            reported.add(id(fn))  # reported here, with the layer's name, rather than again below
        code_lambda = (
            (isinstance(fn, dict) and fn.get("class_name") == "__lambda__")
            or (isinstance(cfg, dict) and cfg.get("function_type") == "lambda")
            or (cls == "__lambda__" and id(node) not in reported)
        )
        if code_lambda:
            rep.add(
                Verdict.UNSAFE,
                "keras.lambda",
                "a Lambda layer with serialized Python bytecode: loading the model runs it",
                layer,
            )
        elif cls == "Lambda":
            rep.add(
                Verdict.SUSPICIOUS,
                "keras.lambda_function",
                "a Lambda layer calling a Python function by name",
                layer,
            )
        module = node.get("module")
        if isinstance(module, str) and module and not _is_keras_module(module):
            top = module.split(".")[0]
            bad = (
                any(module == m or module.startswith(m + ".") for m in pickle_policy.DENY_MODULES)
                or top == "builtins"
            )
            rep.add(
                Verdict.UNSAFE if bad else Verdict.SUSPICIOUS,
                "keras.module",
                f"the config imports {module}.{cls} (outside Keras; safe_mode does not stop this)",
                layer,
                module=module,
            )
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            rep.add(
                Verdict.SUSPICIOUS,
                "keras.custom_object",
                f"a custom object {registered!r}: its code must come from somewhere else",
                layer,
            )


def _json_at(src: Source, pos: int, limit: int) -> tuple[Any, int]:
    """The JSON value starting at `pos` and its length in bytes, or (None, 0)."""
    raw = src.read_at(pos, limit)
    text = raw.decode("utf-8", "replace")
    try:
        obj, end = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return None, 0
    return obj, len(text[:end].encode("utf-8", "replace"))


def scan_embedded_configs(src: Source, ctx: Ctx, rep: Report) -> bool:
    """Find Keras JSON configs inside a binary file (HDF5 attributes, SavedModel metadata); True if any."""
    found = False
    lambda_bytes = lambda_layer = marshal = False
    parsed = 0
    covered = 0  # configs nest: a match inside an already parsed config is not a new one
    pos = 0
    while pos < src.size:
        ctx.check_time()
        chunk = src.read_at(pos, SCAN_CHUNK + OVERLAP)
        for m in _CONFIG_START.finditer(chunk):
            if m.start() >= SCAN_CHUNK and pos + SCAN_CHUNK < src.size:
                break  # the overlap is scanned with the next chunk
            if parsed >= 32:
                break
            at = pos + m.start()
            if at < covered:
                continue
            parsed += 1
            obj, length = _json_at(src, at, ctx.limits.max_json_bytes)
            if isinstance(obj, dict):
                found = True
                covered = at + length
                check_config(obj, rep, f"JSON at byte {at}")
        lambda_bytes = lambda_bytes or bool(_LAMBDA_BYTES.search(chunk))
        lambda_layer = lambda_layer or bool(_LAMBDA_LAYER.search(chunk))
        marshal = marshal or bool(_MARSHAL_B64.search(chunk))
        pos += SCAN_CHUNK
    if not found and (lambda_bytes or (lambda_layer and marshal)):
        rep.add(
            Verdict.UNSAFE,
            "keras.lambda",
            "contains a serialized Keras Lambda layer (Python bytecode that runs on load)",
        )
    elif not found and lambda_layer:
        rep.add(Verdict.SUSPICIOUS, "keras.lambda_function", "contains a Keras Lambda layer")
    return found or lambda_layer


def scan_hdf5(src: Source, ctx: Ctx, rep: Report) -> str:
    """HDF5: Keras legacy models (model_config attribute) are checked; other HDF5 data is plain data."""
    return "keras-h5" if scan_embedded_configs(src, ctx, rep) else "hdf5"
