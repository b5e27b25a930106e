"""Synthetic malicious, malformed and benign model files, built in the test (never downloaded).

Payloads are inert even if something executed them by mistake: the shell command `true`, the Python `pass`.
Nothing here loads a fixture (no pickle.load, torch.load, joblib.load, np.load(allow_pickle=True)). torch,
numpy, joblib, py7zr, onnx, h5py and gguf are used only to WRITE files the way real tools write them.
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmodelhub.scanners import Verdict

SAFE, SUSPICIOUS, UNSAFE, UNSCANNABLE = Verdict.SAFE, Verdict.SUSPICIOUS, Verdict.UNSAFE, Verdict.UNSCANNABLE
INERT_P0 = b"cos\nsystem\n(S'true'\ntR."  # protocol 0: GLOBAL os.system + REDUCE("true")
BENIGN_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {"a": 1}


class Payload:
    """Pickles to `os.system("true")` through __reduce__, as real malicious checkpoints do."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("true",))


@dataclass(frozen=True)
class Case:
    id: str
    expected: Verdict
    build: Callable[[], bytes] | None = None
    name: str | None = None  # path inside the repo: a hint only
    code: str | None = None  # a finding code the result must contain
    write: Callable[[Path], None] | None = None  # for files too large for memory (sparse)

    def materialize(self, folder: Path) -> Path:
        path = folder / (self.name or self.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.write is not None:
            self.write(path)
        else:
            assert self.build is not None
            path.write_bytes(self.build())
        return path


# -- helpers -----------------------------------------------------------------------------------------------


def torch_like_zip(data_pkl: bytes, prefix: str = "archive", pkl_name: str = "data.pkl") -> bytes:
    """Minimal PyTorch-zip layout (stored members), no torch needed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/{pkl_name}", data_pkl)
        z.writestr(f"{prefix}/byteorder", b"little")
        z.writestr(f"{prefix}/version", b"3\n")
    return buf.getvalue()


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def torch_save(obj: Any, **kw: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def tiny_bert_state_dict() -> dict[str, Any]:
    """A real transformers BertModel state dict, from a tiny config (built, never downloaded)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    return dict(BertModel(cfg).state_dict())


def safetensors_bytes(header: Any, data: bytes = b"", raw: bytes | None = None) -> bytes:
    h = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def _gs(x: str | bytes) -> bytes:
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def gguf_bytes(kv: list[tuple[str, int, bytes]], tensors: bytes = b"", n_tensors: int = 0) -> bytes:
    """GGUF v3 by hand: (key, value type, encoded value) pairs."""
    body = b"".join(_gs(k) + struct.pack("<I", t) + v for k, t, v in kv)
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kv)) + body + tensors


def gguf_str(key: str, value: str) -> tuple[str, int, bytes]:
    return (key, 8, _gs(value))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_len(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def pb_int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def saved_model_pb(ops: list[str], fn_ops: list[str] = ()) -> bytes:  # type: ignore[assignment]
    """A SavedModel protobuf with a GraphDef of the given ops and a function library, by hand."""
    nodes = b"".join(
        pb_len(1, pb_len(1, f"n{i}".encode()) + pb_len(2, op.encode())) for i, op in enumerate(ops)
    )
    fn_nodes = b"".join(
        pb_len(3, pb_len(1, f"f{i}".encode()) + pb_len(2, op.encode())) for i, op in enumerate(fn_ops)
    )
    library = pb_len(2, pb_len(1, pb_len(1, pb_len(1, b"fn")) + fn_nodes)) if fn_ops else b""
    meta = pb_len(2, nodes + library)
    return pb_int(1, 1) + pb_len(2, meta)


def onnx_model(location: str | None = None, domain: str = "") -> bytes:
    import onnx
    from onnx import TensorProto, helper

    t = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    if location is not None:
        t.ClearField("float_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", "0"), ("length", "4")):
            e = t.external_data.add()
            e.key, e.value = k, v
    node = helper.make_node("Identity" if not domain else "Evil", ["w"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], initializer=[t]
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    out: bytes = model.SerializeToString()
    onnx.ModelProto().ParseFromString(out)  # the bytes are a real ModelProto
    return out


def keras_zip(layers: list[dict[str, Any]]) -> bytes:
    cfg = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": layers},
        "registered_name": None,
    }
    return zip_of(
        {
            "config.json": json.dumps(cfg).encode(),
            "metadata.json": json.dumps({"keras_version": "3.9.0", "date_saved": "2026-01-01"}).encode(),
            "model.weights.h5": b"",
        }
    )


DENSE = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {
        "name": "dense",
        "units": 2,
        "activation": "relu",
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {}},
    },
    "registered_name": None,
}
LAMBDA3 = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {
        "name": "lambda",
        "function": {
            "class_name": "__lambda__",
            "config": {"code": "AAAA", "defaults": None, "closure": None},
        },
    },
}
# Keras 2 Lambda: base64 of a marshalled code object (of `lambda x: x + 1`), as model.save("m.h5") writes it.
LAMBDA2 = {
    "class_name": "Lambda",
    "config": {
        "name": "lambda",
        "function": [
            "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARcAUwApAk7pAQAAAKkAKQHaAXhyAgAAAHICAAAA",
            None,
            None,
        ],
        "function_type": "lambda",
        "module": "__main__",
    },
}


def h5_with_config(layers: list[dict[str, Any]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import h5py
        import numpy as np

        cfg = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
        with h5py.File(path, "w") as f:
            f.attrs["keras_version"] = "2.13.1"
            f.attrs["backend"] = "tensorflow"
            f.attrs["model_config"] = json.dumps(cfg)
            f.create_group("model_weights").create_dataset("kernel", data=np.ones((4, 2), np.float32))

    return write


def legacy_forged_magic() -> bytes:
    """A legacy torch file whose magic-number pickle is replaced by a payload (reference fixture 20)."""
    data = torch_save({"w": _tensor()}, _use_new_zipfile_serialization=False)
    f = io.BytesIO(data)
    for _ in pickletools.genops(f):
        pass
    return INERT_P0 + data[f.tell() :]


def _tensor() -> Any:
    import torch

    return torch.arange(6, dtype=torch.float32)


def corrupt_central_crc(data: bytes) -> bytes:
    b = bytearray(data)
    i = b.find(b"PK\x01\x02") + 16
    b[i : i + 4] = bytes(x ^ 0xFF for x in b[i : i + 4])
    return bytes(b)


def corrupt_local_crc(data: bytes) -> bytes:
    b = bytearray(data)
    b[14:18] = bytes(x ^ 0xFF for x in b[14:18])  # first member's local header
    return bytes(b)


def rename_local(data: bytes) -> bytes:
    return data.replace(b"archive/data.pkl", b"archive/data.pkX", 1)


def joblib_bytes(obj: Any, **kw: Any) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf, **kw)
    return buf.getvalue()


def npy_bytes(header: dict[str, Any], body: bytes) -> bytes:
    import numpy as np

    h = io.BytesIO()
    np.lib.format.write_array_header_1_0(h, header)
    return h.getvalue() + body


def seven_zip(members: dict[str, bytes]) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(data, name)
    return buf.getvalue()


def tar_of(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                t.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                t.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def symlink_tarinfo(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def zip_with_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        zi = zipfile.ZipInfo("link")
        zi.create_system = 3
        zi.external_attr = 0o120777 << 16
        z.writestr(zi, "/etc/passwd")
    return buf.getvalue()


def sparse_safetensors(header_len: int, file_len: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", header_len) + b'{"a": ')
            f.truncate(file_len)

    return write


def ten_gb_safetensors(path: Path) -> None:
    """A valid 4-byte-tensor header followed by a 10 GB hole (sparse: costs no disk)."""
    h = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0\0\0\0")
        f.truncate(10 * 1024**3)


ST_OK = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% set ns = namespace(system='') %}{% for message in loop_messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] | trim %}{% endif %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if tools is defined %}{{ 'Use the tools. Respond in JSON.' }}"
    "{{ raise_exception('Tools are not supported') if tools|length > 10 }}{% endif %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
SSTI = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
SSTI_GLOBALS = "{{ cycler.__init__.__globals__.os.popen('true').read() }}"
SSTI_ESCAPED = "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}"

MODELING_SUBPROCESS = b'''"""A custom model."""
import subprocess

import torch
from torch import nn


class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        subprocess.run(["true"], check=False)
        self.linear = nn.Linear(2, 2)
'''
MODELING_OBFUSCATED = b"""import base64
exec(base64.b64decode("cGFzcw=="))
"""
MODELING_BENIGN = b"""import math

import torch
from torch import nn


class TinyModel(nn.Module):
    def forward(self, x):
        return torch.tanh(x) * math.pi
"""


def gguf_benign_writer(path: Path) -> None:
    """A GGUF written by the official `gguf` package, with an ordinary chat template and two tensor types."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny")
    w.add_chat_template(LLAMA3)
    w.add_token_list(["<s>", "</s>", "hello"])
    w.add_tensor("tok_embd.weight", np.ones((4, 32), dtype=np.float32))
    w.add_tensor("out.weight", np.zeros((2, 8), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def bomb_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (64 * 1024**2))
    return buf.getvalue()


def _gguf_tensor_info(name: str, dims: list[int], gtype: int, offset: int) -> bytes:
    return (
        _gs(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", gtype, offset)
    )


# -- the catalogue -----------------------------------------------------------------------------------------

MALICIOUS: list[Case] = [
    # pickles
    Case(
        "reduce-os-system-p0", UNSAFE, lambda: __import__("pickle").dumps(Payload(), protocol=0), "model.pkl"
    ),
    Case(
        "reduce-os-system-p2", UNSAFE, lambda: __import__("pickle").dumps(Payload(), protocol=2), "model.pkl"
    ),
    Case(
        "reduce-os-system-p5", UNSAFE, lambda: __import__("pickle").dumps(Payload(), protocol=5), "model.pkl"
    ),
    Case("inert-p0", UNSAFE, lambda: INERT_P0, code="pickle.dangerous_global"),
    Case("pickle-named-py", UNSAFE, lambda: INERT_P0, "modeling_x.py", "pickle.dangerous_global"),
    Case(
        "stack-global-exec",
        UNSAFE,
        lambda: b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93\x8c\x04pass\x85R.",
        code="pickle.dangerous_global",
    ),
    Case(
        "stack-global-memo-obfuscated",
        UNSAFE,
        lambda: b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x8c\x04true\x940h\x00h\x01\x93h\x02\x85R.",
        code="pickle.dangerous_global",
    ),
    Case(
        "stack-global-unresolvable",
        UNSAFE,
        lambda: b"\x80\x04K\x01\x8c\x04exec\x93.",
        code="pickle.unresolved_global",
    ),
    Case(
        "stack-global-dotted-name",
        UNSAFE,
        lambda: b"\x80\x04\x8c\x13torch.serialization\x8c\tos.system\x93\x8c\x04true\x85R.",
    ),
    Case("inst-opcode", UNSAFE, lambda: b"(S'true'\nios\nsystem\n."),
    Case("py2-builtin-eval", UNSAFE, lambda: b"c__builtin__\neval\n(S'1'\ntR."),
    Case("getattr-gadget", UNSAFE, lambda: b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__class__'\ntR."),
    Case("ext1-opcode", UNSAFE, lambda: b"\x80\x02\x82\x01)R.", code="pickle.extension_opcode"),
    Case(
        "broken-after-payload",
        UNSAFE,
        lambda: b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93\x8c\x04pass\x85R\xff\xfe garbage",
        code="pickle.broken_after_payload",
    ),
    Case(
        "pickle-in-pickle",
        UNSAFE,
        lambda: (
            b"\x80\x02ctorch.storage\n_load_from_bytes\nq\x00C"
            + bytes([len(INERT_P0)])
            + INERT_P0
            + b"\x85R."
        ),
    ),
    Case("newobj-popen", UNSAFE, lambda: b"\x80\x02csubprocess\nPopen\n)\x81."),
    Case("unknown-global", SUSPICIOUS, lambda: b"cmylib.models\nMyModel\n)R.", code="pickle.unknown_global"),
    Case("second-pickle-payload", UNSAFE, lambda: BENIGN_PICKLE + INERT_P0),
    # torch
    Case("torch-zip-inert", UNSAFE, lambda: torch_like_zip(INERT_P0), "pytorch_model.bin"),
    Case("torch-zip-odd-name", UNSAFE, lambda: torch_like_zip(INERT_P0), "weights.txt"),
    Case(
        "torch-zip-odd-member", UNSAFE, lambda: torch_like_zip(INERT_P0, pkl_name="data.weights"), "model.pt"
    ),
    Case(
        "torch-save-payload",
        UNSAFE,
        lambda: torch_save({"w": _tensor(), "x": Payload()}),
        "pytorch_model.bin",
    ),
    Case(
        "torch-legacy-payload",
        UNSAFE,
        lambda: torch_save({"w": _tensor(), "x": Payload()}, _use_new_zipfile_serialization=False),
        "pytorch_model.bin",
    ),
    Case("torch-legacy-forged-magic", UNSAFE, legacy_forged_magic, "pytorch_model.bin"),
    Case(
        "torch-whole-module", SUSPICIOUS, lambda: torch_save(__import__("torch").nn.Linear(3, 2)), "model.pt"
    ),
    Case("pickle-zip-polyglot", UNSAFE, lambda: INERT_P0 + torch_like_zip(BENIGN_PICKLE), "model.pt"),
    Case("zip-central-crc", UNSAFE, lambda: corrupt_central_crc(torch_like_zip(INERT_P0)), "model.pt"),
    Case("zip-local-crc", UNSAFE, lambda: corrupt_local_crc(torch_like_zip(INERT_P0)), "model.pt"),
    Case(
        "zip-crc-benign",
        UNSCANNABLE,
        lambda: corrupt_central_crc(torch_like_zip(BENIGN_PICKLE)),
        code="zip.crc",
    ),
    Case("zip-name-mismatch", UNSAFE, lambda: rename_local(torch_like_zip(INERT_P0)), "model.pt"),
    # wrappers and archives
    Case("7z-wrapped-pickle", UNSAFE, lambda: seven_zip({"archive/data.pkl": INERT_P0}), "model.bin"),
    Case("zlib-wrapped-pickle", UNSAFE, lambda: zlib.compress(INERT_P0), "model.bin"),
    Case("gzip-wrapped-torch-zip", UNSAFE, lambda: __import__("gzip").compress(torch_like_zip(INERT_P0))),
    Case("bz2-wrapped-pickle", UNSAFE, lambda: __import__("bz2").compress(INERT_P0), "model.pkl.bz2"),
    Case("xz-wrapped-pickle", UNSAFE, lambda: __import__("lzma").compress(INERT_P0), "model.pkl.xz"),
    Case("zip-lzma-member", UNSAFE, lambda: zip_of({"a/data.pkl": INERT_P0}, zipfile.ZIP_LZMA)),
    Case("zip-bzip2-member", UNSAFE, lambda: zip_of({"a/data.pkl": INERT_P0}, zipfile.ZIP_BZIP2)),
    Case("nested-zip", UNSAFE, lambda: zip_of({"inner.zip": zip_of({"model.pt": torch_like_zip(INERT_P0)})})),
    Case("zip-slip", UNSAFE, lambda: zip_of({"../../outside.txt": b"x"}), code="archive.path_traversal"),
    Case("zip-symlink", UNSAFE, zip_with_symlink, code="archive.symlink"),
    Case(
        "tar-symlink",
        UNSAFE,
        lambda: tar_of([symlink_tarinfo("model.bin", "/etc/passwd")]),
        code="archive.symlink",
    ),
    Case("tar-slip", UNSAFE, lambda: tar_of([("../evil.txt", b"x")]), code="archive.path_traversal"),
    Case("zip-bomb", UNSCANNABLE, bomb_zip, code="zip.bomb"),
    Case("lz4-joblib", UNSCANNABLE, lambda: b"\x04\x22\x4d\x18" + b"\x00" * 32, "model.joblib"),
    # numpy / joblib
    Case(
        "npy-object-payload",
        UNSAFE,
        lambda: npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, INERT_P0),
    ),
    Case(
        "npy-trailing-data",
        UNSCANNABLE,
        lambda: npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (2,)}, b"\0" * 8 + INERT_P0),
        code="npy.size_mismatch",
    ),
    Case(
        "npz-object-payload",
        UNSAFE,
        lambda: zip_of(
            {"a.npy": npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, INERT_P0)}
        ),
    ),
    Case(
        "joblib-payload",
        UNSAFE,
        lambda: joblib_bytes({"a": __import__("numpy").arange(3.0), "x": Payload()}),
        "model.joblib",
    ),
    Case(
        "joblib-zlib-payload",
        UNSAFE,
        lambda: joblib_bytes({"a": __import__("numpy").arange(3.0), "x": Payload()}, compress=3),
        "model.joblib",
    ),
    # safetensors
    Case(
        "st-overlap",
        UNSCANNABLE,
        lambda: safetensors_bytes(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
        ),
        "model.safetensors",
        "safetensors.overlap",
    ),
    Case(
        "st-header-beyond-file",
        UNSCANNABLE,
        lambda: struct.pack("<Q", 10**6) + json.dumps(ST_OK).encode() + b"\0" * 8,
        code="safetensors.header_length",
    ),
    Case(
        "st-200mb-header",
        UNSCANNABLE,
        write=sparse_safetensors(200 * 1024**2, 200 * 1024**2 + 64),
        name="big.safetensors",
        code="safetensors.header_too_large",
    ),
    Case("st-huge-length", UNSCANNABLE, lambda: struct.pack("<Q", 2**63) + b"{}", "x.safetensors"),
    Case(
        "st-non-utf8",
        UNSCANNABLE,
        lambda: safetensors_bytes(None, raw=b'{"\xff":1}'),
        "model.safetensors",
        "safetensors.utf8",
    ),
    Case(
        "st-dtype-shape-mismatch",
        UNSCANNABLE,
        lambda: safetensors_bytes({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
        code="safetensors.size_mismatch",
    ),
    Case(
        "st-trailing-bytes",
        UNSCANNABLE,
        lambda: safetensors_bytes(ST_OK, b"\0" * 8 + INERT_P0),
        code="safetensors.trailing_data",
    ),
    Case(
        "st-negative-shape",
        UNSCANNABLE,
        lambda: safetensors_bytes({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
        code="safetensors.shape",
    ),
    Case(
        "st-huge-shape",
        UNSCANNABLE,
        lambda: safetensors_bytes(
            {"w": {"dtype": "F32", "shape": [2**32] * 3, "data_offsets": [0, 4]}}, b"\0" * 4
        ),
        code="safetensors.shape",
    ),
    Case(
        "st-float-shape",
        UNSCANNABLE,
        lambda: safetensors_bytes({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, b"\0" * 8),
    ),
    Case(
        "st-duplicate-key",
        UNSCANNABLE,
        lambda: (
            safetensors_bytes(
                None,
                raw=b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
                b'"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}',
            )
            + b"\0"
        ),
        code="safetensors.duplicate_key",
    ),
    Case("st-nan-token", UNSCANNABLE, lambda: safetensors_bytes(None, raw=b'{"__metadata__": {"a": NaN}}')),
    Case(
        "st-unknown-dtype",
        UNSCANNABLE,
        lambda: safetensors_bytes({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        code="safetensors.dtype",
    ),
    Case(
        "st-gap",
        UNSCANNABLE,
        lambda: safetensors_bytes({"w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}, b"\0\0"),
        code="safetensors.gap",
    ),
    Case(
        "st-metadata-not-str",
        UNSCANNABLE,
        lambda: safetensors_bytes({"__metadata__": {"a": 1}}),
        code="safetensors.metadata",
    ),
    Case(
        "st-leading-space",
        UNSCANNABLE,
        lambda: safetensors_bytes(None, raw=b' {"__metadata__": {}}'),
        "m.safetensors",
    ),
    Case(
        "st-extra-key",
        SUSPICIOUS,
        lambda: safetensors_bytes(
            {"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 1}}, b"\0"
        ),
        code="safetensors.extra_key",
    ),
    Case("st-too-small", UNSCANNABLE, lambda: b"\x01\x02\x03", "model.safetensors"),
    # GGUF
    Case(
        "gguf-ssti-template",
        UNSAFE,
        lambda: gguf_bytes(
            [gguf_str("general.architecture", "llama"), gguf_str("tokenizer.chat_template", SSTI)]
        ),
        "model.gguf",
        "template.ssti",
    ),
    Case(
        "gguf-ssti-globals",
        UNSAFE,
        lambda: gguf_bytes(
            [
                gguf_str("general.architecture", "llama"),
                gguf_str("tokenizer.chat_template.tool_use", SSTI_GLOBALS),
            ]
        ),
        code="template.ssti",
    ),
    Case(
        "gguf-ssti-escaped",
        UNSAFE,
        lambda: gguf_bytes([gguf_str("tokenizer.chat_template", SSTI_ESCAPED)]),
        code="template.ssti",
    ),
    Case(
        "gguf-truncated-header",
        UNSCANNABLE,
        lambda: b"GGUF" + struct.pack("<IQ", 3, 0),
        code="gguf.truncated",
    ),
    Case(
        "gguf-truncated-kv",
        UNSCANNABLE,
        lambda: gguf_bytes([gguf_str("general.architecture", "llama"), gguf_str("general.name", "x")])[:-3],
        code="gguf.truncated",
    ),
    Case(
        "gguf-lying-count", UNSCANNABLE, lambda: b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0), code="gguf.count"
    ),
    Case(
        "gguf-huge-string",
        UNSCANNABLE,
        lambda: b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**63) + b"key" + b"\0" * 16,
        code="gguf.length",
    ),
    Case(
        "gguf-removed-type",
        UNSCANNABLE,
        lambda: gguf_bytes(
            [gguf_str("general.architecture", "llama")], _gguf_tensor_info("t", [32], 4, 0), 1
        ),
        code="gguf.ggml_type",
    ),
    Case(
        "gguf-too-many-dims",
        UNSCANNABLE,
        lambda: gguf_bytes([], _gguf_tensor_info("t", [1] * 9, 0, 0), 1),
        code="gguf.dims",
    ),
    # other formats and code
    Case("keras-lambda", UNSAFE, lambda: keras_zip([DENSE, LAMBDA3]), "model.keras", "keras.lambda"),
    Case(
        "keras-os-module",
        UNSAFE,
        lambda: keras_zip(
            [{"module": "os", "class_name": "system", "config": {"command": "true"}, "registered_name": None}]
        ),
        "model.keras",
        "keras.module",
    ),
    Case("keras-h5-lambda", UNSAFE, write=h5_with_config([LAMBDA2]), name="model.h5", code="keras.lambda"),
    Case(
        "onnx-external-escape",
        UNSAFE,
        lambda: onnx_model("../../etc/passwd"),
        "model.onnx",
        "onnx.external_data_escape",
    ),
    Case(
        "onnx-external-absolute",
        UNSAFE,
        lambda: onnx_model("/etc/passwd"),
        "model.onnx",
        "onnx.external_data_escape",
    ),
    Case(
        "onnx-custom-domain",
        SUSPICIOUS,
        lambda: onnx_model(domain="com.evil"),
        "model.onnx",
        "onnx.custom_op",
    ),
    Case(
        "savedmodel-readfile",
        UNSAFE,
        lambda: saved_model_pb(["Const", "ReadFile", "WriteFile"]),
        "saved_model.pb",
        "savedmodel.op",
    ),
    Case(
        "savedmodel-pyfunc-in-function",
        UNSAFE,
        lambda: saved_model_pb(["Const"], ["EagerPyFunc"]),
        "saved_model.pb",
        "savedmodel.op",
    ),
    Case(
        "frozen-graphdef-writefile",
        UNSAFE,
        lambda: pb_len(1, pb_len(1, b"w") + pb_len(2, b"WriteFile")) + pb_len(4, pb_int(1, 27)),
        "frozen_graph.pb",
        "savedmodel.op",
    ),
    Case("modeling-subprocess", SUSPICIOUS, lambda: MODELING_SUBPROCESS, "modeling_evil.py", "python.import"),
    Case(
        "modeling-obfuscated-exec",
        UNSAFE,
        lambda: MODELING_OBFUSCATED,
        "modeling_x.py",
        "python.obfuscated_exec",
    ),
    Case(
        "config-auto-map",
        SUSPICIOUS,
        lambda: json.dumps(
            {"model_type": "evil", "auto_map": {"AutoModel": "modeling_evil.EvilModel"}}
        ).encode(),
        "config.json",
        "config.auto_map",
    ),
    Case(
        "config-auto-map-remote",
        SUSPICIOUS,
        lambda: json.dumps({"auto_map": {"AutoModel": "other-org/other-repo--modeling.X"}}).encode(),
        "config.json",
        "config.auto_map_remote",
    ),
    Case(
        "tokenizer-config-ssti",
        UNSAFE,
        lambda: json.dumps({"chat_template": SSTI}).encode(),
        "tokenizer_config.json",
        "template.ssti",
    ),
    Case(
        "index-shard-outside",
        UNSAFE,
        lambda: json.dumps({"metadata": {}, "weight_map": {"w": "../../x.safetensors"}}).encode(),
        "model.safetensors.index.json",
        "index.path_traversal",
    ),
    Case(
        "notebook-subprocess",
        SUSPICIOUS,
        lambda: json.dumps(
            {
                "nbformat": 4,
                "cells": [{"cell_type": "code", "source": ["!pip install x\n", "import subprocess\n"]}],
            }
        ).encode(),
        "demo.ipynb",
        "python.import",
    ),
    Case(
        "targz-with-payload",
        UNSAFE,
        lambda: __import__("gzip").compress(tar_of([("m/model.pt", torch_like_zip(INERT_P0))])),
    ),
    Case("elf-binary", SUSPICIOUS, lambda: b"\x7fELF\x02\x01\x01" + b"\0" * 57, "custom_op.so", "executable"),
    # scanner DoS
    Case("dos-nested-marks", UNSCANNABLE, lambda: b"(" * 10**6 + b".", code="scan.limit"),
    Case(
        "dos-huge-memo-index",
        UNSCANNABLE,
        lambda: b"\x80\x02N" + b"r\xff\xff\xff\xff" + b".",
        code="pickle.memo_index",
    ),
    Case(
        "dos-binunicode-too-long",
        UNSCANNABLE,
        lambda: b"\x80\x02X\xff\xff\xff\x7fabc.",
        code="pickle.malformed",
    ),
]

BENIGN: list[Case] = [
    Case("bert-zip", SAFE, lambda: torch_save(tiny_bert_state_dict()), "pytorch_model.bin"),
    Case(
        "bert-legacy",
        SAFE,
        lambda: torch_save(tiny_bert_state_dict(), _use_new_zipfile_serialization=False),
        "pytorch_model.bin",
    ),
    Case(
        "bert-protocol4",
        SAFE,
        lambda: torch_save(tiny_bert_state_dict(), pickle_protocol=4),
        "pytorch_model.bin",
    ),
    Case(
        "numpy-floats",
        SAFE,
        lambda: npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}, b"\0" * 16),
        "a.npy",
    ),
    Case("gguf-ordinary-template", SAFE, write=gguf_benign_writer, name="model.gguf"),
    Case(
        "gguf-chatml-by-hand",
        SAFE,
        lambda: gguf_bytes(
            [gguf_str("general.architecture", "llama"), gguf_str("tokenizer.chat_template", CHATML)]
        ),
    ),
    Case("plain-text", SAFE, lambda: b"# My model\n\nSome words about it.\n", "README.md"),
    Case("text-starting-like-pickle", SAFE, lambda: b"cat\ndog\nemu\n", "vocab.txt"),
    Case(
        "json",
        SAFE,
        lambda: json.dumps({"architectures": ["BertModel"], "hidden_size": 16}).encode(),
        "config.json",
    ),
    Case(
        "tokenizer-config",
        SAFE,
        lambda: json.dumps({"chat_template": LLAMA3, "bos_token": "<s>"}).encode(),
        "tokenizer_config.json",
    ),
    Case("chat-template-jinja", SAFE, lambda: CHATML.encode(), "chat_template.jinja"),
    Case("python-benign", SAFE, lambda: MODELING_BENIGN, "modeling_tiny.py"),
    Case("keras-dense", SAFE, lambda: keras_zip([DENSE]), "model.keras"),
    Case(
        "keras-h5-dense",
        SAFE,
        write=h5_with_config([{"class_name": "Dense", "config": {"name": "d", "units": 2}}]),
        name="model.h5",
    ),
    Case("onnx-internal", SAFE, lambda: onnx_model(), "model.onnx"),
    Case("onnx-external-relative", SAFE, lambda: onnx_model("model.onnx_data"), "model.onnx"),
    Case(
        "savedmodel-benign",
        SAFE,
        lambda: saved_model_pb(["Const", "MatMul", "SaveV2", "RestoreV2"]),
        "saved_model.pb",
    ),
    Case(
        "joblib-arrays",
        SAFE,
        lambda: joblib_bytes({"a": __import__("numpy").arange(5.0), "b": [1, 2]}),
        "arrays.joblib",
    ),
    Case(
        "joblib-arrays-zlib",
        SAFE,
        lambda: joblib_bytes({"a": __import__("numpy").arange(5.0)}, compress=3),
        "arrays.joblib",
    ),
    Case(
        "index-json",
        SAFE,
        lambda: json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}).encode(),
        "model.safetensors.index.json",
    ),
    Case("targz-of-text", SAFE, lambda: __import__("gzip").compress(tar_of([("a/README.md", b"hello\n")]))),
    Case("tar-of-text", SAFE, lambda: tar_of([("a/README.md", b"hello\n"), ("a/config.json", b"{}")])),
    Case("7z-of-text", SAFE, lambda: seven_zip({"notes.txt": b"hello\n"})),
    Case(
        "gzip-of-safetensors", SAFE, lambda: __import__("gzip").compress(safetensors_bytes(ST_OK, b"\0" * 8))
    ),
    Case("empty-file", SAFE, lambda: b"", ".gitkeep"),
    Case(
        "st-empty-tensor-and-scalar",
        SAFE,
        lambda: safetensors_bytes(
            {
                "e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]},
                "s": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]},
                "__metadata__": {"format": "pt"},
            },
            b"\0" * 8,
        ),
    ),
]
