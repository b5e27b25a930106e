"""Weight fingerprints without a server: sampling, dtype conversion and the similarity thresholds."""

import io
import struct

import pytest
import torch
from safetensors.torch import save
from transformers import BertConfig, BertModel

from openmodelhub.services.fingerprints import (
    SAMPLES,
    STRONG_MATCH,
    canonical_name,
    compare,
    correlation,
    fingerprint_safetensors,
    sample_positions,
)

TINY = BertConfig(
    vocab_size=512,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    max_position_embeddings=64,
)


def tiny_model(seed: int) -> BertModel:
    torch.manual_seed(seed)
    return BertModel(TINY)


def fp(state: dict[str, torch.Tensor]) -> dict[str, dict[str, object]]:
    data = save({k: v.detach().contiguous() for k, v in state.items()})
    return fingerprint_safetensors(io.BytesIO(data))


def test_positions_are_fixed_by_name_and_shape() -> None:
    a = sample_positions("encoder.layer.0.attention.self.query.weight", [64, 64])
    assert a == sample_positions("bert.encoder.layer.0.attention.self.query.weight", [64, 64])
    assert len(a) == SAMPLES and a == sorted(set(a)) and max(a) < 64 * 64
    assert a != sample_positions("encoder.layer.1.attention.self.query.weight", [64, 64])
    assert sample_positions("x", [3, 5]) == list(range(15))
    assert canonical_name("bert.pooler.dense.bias") == "pooler.dense.bias"


def test_correlation_skips_constant_tensors() -> None:
    assert correlation([1.0] * 8, [0.5, 1, 2, 3, 4, 5, 6, 7]) is None
    assert correlation([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_dtypes_are_read_as_float32() -> None:
    t = torch.linspace(-2, 2, 100).reshape(10, 10)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        got = fp({"w": t.to(dtype), "ids": torch.arange(4)})
        assert set(got) == {"w"} and got["w"]["shape"] == [10, 10]
        flat = t.to(dtype).float().flatten().tolist()
        want = [flat[i] for i in sample_positions("w", [10, 10])]
        assert got["w"]["values"] == pytest.approx(want, abs=1e-6)


def test_truncated_or_garbage_files_raise_value_error() -> None:
    with pytest.raises(ValueError):
        fingerprint_safetensors(io.BytesIO(b"\x01\x02"))
    with pytest.raises(ValueError):
        fingerprint_safetensors(io.BytesIO(struct.pack("<Q", 1 << 40)))
    header = b'{"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}'
    with pytest.raises(ValueError):
        fingerprint_safetensors(io.BytesIO(struct.pack("<Q", len(header)) + header + b"\0" * 16))


def test_independent_random_inits_never_match() -> None:
    """0 false positives over 20 seeded pairs of independently initialised models of one config."""
    sims = []
    for seed in range(20):
        a, b = fp(tiny_model(2 * seed).state_dict()), fp(tiny_model(2 * seed + 1).state_dict())
        sim = compare(a, b)
        assert sim is not None and sim.shared == len(a)  # comparable: same names and shapes
        sims.append(sim.similarity)
    assert max(abs(s) for s in sims) < 0.25 < STRONG_MATCH, sims


def test_fine_tuned_and_fp16_copies_match() -> None:
    base = tiny_model(7)
    ref = fp(base.state_dict())
    tuned = tiny_model(7)
    opt = torch.optim.Adam(tuned.parameters(), lr=1e-3)
    ids = torch.randint(0, TINY.vocab_size, (4, 16))
    for _ in range(5):
        loss = tuned(input_ids=ids).last_hidden_state.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for state in (
        tuned.state_dict(),
        {k: v.half() for k, v in base.state_dict().items()},
        {k: v.bfloat16() for k, v in base.state_dict().items()},
        {f"bert.{k}": v for k, v in tuned.state_dict().items()},  # a task head's prefix
    ):
        sim = compare(ref, fp(state))
        assert sim is not None and sim.strong and sim.similarity > 0.95, sim


def test_different_architectures_are_not_compared() -> None:
    other = BertConfig(**{**TINY.to_dict(), "hidden_size": 32, "intermediate_size": 64})
    torch.manual_seed(0)
    assert compare(fp(tiny_model(0).state_dict()), fp(BertModel(other).state_dict())) is None
    assert compare({}, fp(tiny_model(0).state_dict())) is None
