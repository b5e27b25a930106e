"""No false positives on real model files: the shipped all-MiniLM-L6-v2 and checkpoints torch writes."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from openmodelhub.demo import minilm_dir
from openmodelhub.scanners import Verdict, scan_bytes, scan_file
from tests.scanners.fixtures import tiny_bert_state_dict, torch_save


def test_every_minilm_file_is_safe() -> None:
    root = minilm_dir()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert any(p.name == "model.safetensors" for p in files)
    for path in files:
        result = scan_file(path, path.relative_to(root).as_posix())
        assert result.verdict is Verdict.SAFE, (path, result.findings)
    st = scan_file(root / "model.safetensors")
    assert st.format == "safetensors" and st.findings == ()


def test_torch_state_dict_lists_only_allowlisted_imports() -> None:
    result = scan_bytes(torch_save(tiny_bert_state_dict()), "pytorch_model.bin")
    assert (result.verdict, result.format) == (Verdict.SAFE, "pytorch-zip")
    names = {(i.module, i.name) for i in result.pickle_imports}
    assert names == {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch", "FloatStorage"),
    }


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(
            lambda: {"p": torch.nn.Parameter(torch.ones(2)), "bf16": torch.ones(3, dtype=torch.bfloat16)},
            id="param-bf16",
        ),
        pytest.param(
            lambda: {"i8": torch.ones(2, dtype=torch.int8), "b": torch.zeros(2, dtype=torch.bool)},
            id="int8-bool",
        ),
        pytest.param(
            lambda: {"q": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.quint8)}, id="quantized"
        ),
        pytest.param(
            lambda: {"sizes": torch.Size([2, 3]), "dev": torch.device("cpu"), "s": {1, 2}},
            id="size-device-set",
        ),
        pytest.param(lambda: _optimizer_state(), id="adamw-state"),
        pytest.param(
            lambda: {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "cpu": torch.random.get_rng_state(),
            },
            id="rng-state-with-numpy",
        ),
    ],
)
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_checkpoints_torch_writes_are_safe(obj: object, legacy: bool) -> None:
    kw = {"_use_new_zipfile_serialization": False} if legacy else {}
    data = torch_save(obj(), **kw)  # type: ignore[operator]
    result = scan_bytes(data, "training_state.pt")
    assert result.verdict is Verdict.SAFE, result.findings
    assert result.format == ("pytorch-legacy" if legacy else "pytorch-zip")


def _optimizer_state() -> dict[str, object]:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return opt.state_dict()


def test_numpy_files_are_safe(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", a=a, b=np.ones(3))
    np.savez_compressed(tmp_path / "c.npz", a=a)
    for name in ("a.npy", "b.npz", "c.npz"):
        result = scan_file(tmp_path / name)
        assert result.verdict is Verdict.SAFE, (name, result.findings)
    assert scan_file(tmp_path / "b.npz").format == "npz"


def test_numpy_object_array_is_not_safe() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([1, "x"], dtype=object), allow_pickle=True)
    result = scan_bytes(buf.getvalue(), "a.npy")
    assert result.verdict is Verdict.SUSPICIOUS
    assert "npy.object_array" in {f.code for f in result.findings}
