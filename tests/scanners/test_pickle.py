"""The pickle policy and the opcode walker in detail: allowlist, denylist, renames, offsets, streams."""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from openmodelhub.scanners import Verdict, pickle_policy, scan_bytes
from tests.scanners.fixtures import BENIGN_PICKLE, INERT_P0, Payload, _tensor, torch_like_zip, torch_save


@pytest.mark.parametrize("key", sorted(pickle_policy.ALLOW))
def test_every_allowlisted_global_is_innocuous_and_justified(key: tuple[str, str]) -> None:
    assert pickle_policy.classify(*key)[0] == pickle_policy.INNOCUOUS
    assert len(pickle_policy.ALLOW[key]) > 10


def test_the_allowlist_matches_torch_weights_only_defaults() -> None:
    from torch._weights_only_unpickler import _get_allowed_globals

    ours = {f"{m}.{n}" for m, n in pickle_policy.ALLOW}
    missing = set(_get_allowed_globals()) - ours
    assert not missing, f"torch allows these by default but the scanner does not: {sorted(missing)}"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("os.path", "join"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "compile"),
        ("builtins", "open"),
        ("builtins", "breakpoint"),
        ("__builtin__", "eval"),
        ("runpy", "run_path"),
        ("socket", "create_connection"),
        ("shutil", "rmtree"),
        ("importlib", "import_module"),
        ("pty", "spawn"),
        ("webbrowser", "open"),
        ("sys", "modules"),
        ("code", "interact"),
        ("pickle", "loads"),
        ("_pickle", "loads"),
        ("marshal", "loads"),
        ("types", "CodeType"),
        ("types", "FunctionType"),
        ("operator", "attrgetter"),
        ("_operator", "methodcaller"),
        ("functools", "partial"),
        ("pkgutil", "resolve_name"),
        ("torch", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("torch.jit._script", "RecursiveScriptModule"),
        ("torch.serialization", "os.system"),
        ("collections", "__builtins__.eval"),
        ("numpy.testing._private.utils", "runstring"),
    ],
)
def test_dangerous_globals(module: str, name: str) -> None:
    assert pickle_policy.classify(module, name)[0] == pickle_policy.DANGEROUS


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("mylib.models", "MyModel"),
        ("torch.nn.modules.linear", "Linear"),
        ("transformers.training_args", "TrainingArguments"),
        ("builtins", "dict"),
        ("collections", "defaultdict"),
        ("numpy", "float64"),
    ],
)
def test_everything_else_is_suspicious(module: str, name: str) -> None:
    assert pickle_policy.classify(module, name)[0] == pickle_policy.SUSPICIOUS


def test_py2_names_are_mapped_before_lookup() -> None:
    assert pickle_policy.canonical("__builtin__", "set") == ("builtins", "set")
    assert pickle_policy.classify("__builtin__", "set")[0] == pickle_policy.INNOCUOUS
    r = scan_bytes(b"c__builtin__\nset\n(]tR.")
    assert r.verdict is Verdict.SAFE and r.pickle_imports[0].module == "builtins"


def test_findings_name_the_global_the_opcode_and_the_offset() -> None:
    r = scan_bytes(b"\x80\x02N0" + INERT_P0[:-1] + b"0N.")
    f = next(f for f in r.findings if f.code == "pickle.dangerous_global")
    assert f.location == "byte 4"
    assert f.detail == {"module": "os", "name": "system", "opcode": "GLOBAL"}
    assert [(i.module, i.name, i.safety) for i in r.pickle_imports] == [("os", "system", "dangerous")]


@pytest.mark.parametrize("protocol", range(6))
def test_all_protocols(protocol: int) -> None:
    benign = pickle.dumps({"a": [1, 2.5, "x", b"y", (None, True)], "s": {1}}, protocol=protocol)
    assert scan_bytes(benign, "x.pkl").verdict is Verdict.SAFE
    evil = pickle.dumps({"a": 1, "x": Payload()}, protocol=protocol)
    assert scan_bytes(evil, "x.pkl").verdict is Verdict.UNSAFE


def test_concatenated_pickles_are_all_scanned() -> None:
    assert scan_bytes(BENIGN_PICKLE * 3).verdict is Verdict.SAFE
    assert scan_bytes(BENIGN_PICKLE * 3 + INERT_P0).verdict is Verdict.UNSAFE


def test_garbage_after_a_pickle_is_unscannable() -> None:
    r = scan_bytes(BENIGN_PICKLE + b"\xff\xfe\x00junk")
    assert r.verdict is Verdict.UNSCANNABLE
    assert "pickle.trailing_data" in {f.code for f in r.findings}


def test_truncated_pickle_without_findings_is_unscannable() -> None:
    assert scan_bytes(BENIGN_PICKLE[:-3]).verdict is Verdict.UNSCANNABLE


def test_persistent_ids_outside_torch_are_suspicious() -> None:
    r = scan_bytes(b"\x80\x02X\x01\x00\x00\x00xQ.")
    assert r.verdict is Verdict.SUSPICIOUS
    assert "pickle.persistent_id" in {f.code for f in r.findings}


def test_pickle_in_pickle_is_unsafe_even_when_the_inner_pickle_is_benign() -> None:
    inner = BENIGN_PICKLE
    outer = b"\x80\x02ctorch.storage\n_load_from_bytes\nC" + bytes([len(inner)]) + inner + b"\x85R."
    r = scan_bytes(outer)
    assert r.verdict is Verdict.UNSAFE  # it runs torch.load(weights_only=False) on whatever it holds


def test_numpy_object_dtype_inside_a_pickle_is_suspicious() -> None:
    np = pytest.importorskip("numpy")
    r = scan_bytes(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    assert r.verdict is Verdict.SUSPICIOUS
    assert "pickle.numpy_object_dtype" in {f.code for f in r.findings}
    assert scan_bytes(pickle.dumps(np.arange(4.0), protocol=4)).verdict is Verdict.SAFE


def test_legacy_torch_file_with_extra_bytes_after_its_storages_is_unscannable() -> None:
    data = torch_save({"w": _tensor()}, _use_new_zipfile_serialization=False)
    assert scan_bytes(data).verdict is Verdict.SAFE
    r = scan_bytes(data + INERT_P0)
    assert r.verdict is Verdict.UNSCANNABLE
    assert "pickle.trailing_data" in {f.code for f in r.findings}


def test_legacy_torch_file_with_a_payload_in_the_sys_info_pickle() -> None:
    data = torch_save({"w": _tensor()}, _use_new_zipfile_serialization=False)
    f = io.BytesIO(data)
    ends = []
    for _ in range(3):
        for _op in pickletools.genops(f):
            pass
        ends.append(f.tell())
    forged = data[: ends[1]] + INERT_P0 + data[ends[2] :]
    assert scan_bytes(forged).verdict is Verdict.UNSAFE


def test_torch_zip_whose_pickle_refers_to_a_missing_storage() -> None:
    data = torch_save({"w": _tensor()})
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            if "/data/" not in info.filename:
                dst.writestr(info, src.read(info))
    r = scan_bytes(buf.getvalue())
    assert r.verdict is Verdict.UNSCANNABLE
    assert "torch.missing_storage" in {f.code for f in r.findings}


def test_storage_members_are_not_unpickled_but_other_members_are() -> None:
    # raw tensor bytes that happen to start like a pickle are data, not a finding
    t = __import__("torch").tensor([128, 2, 0, 0], dtype=__import__("torch").uint8)
    assert scan_bytes(torch_save({"t": t})).verdict is Verdict.SAFE
    data = torch_like_zip(BENIGN_PICKLE)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("archive/extra/hidden.bin", INERT_P0)
    assert scan_bytes(buf.getvalue()).verdict is Verdict.UNSAFE


def test_text_that_starts_like_a_protocol_0_pickle_is_text() -> None:
    for text in (b"cat\ndog\nemu\n", b"(hello)\n", b"]]] list", b"N/A\n", b"}\n", b'{"abc": {"d": 1}}'):
        r = scan_bytes(text, "notes.txt")
        assert r.verdict is Verdict.SAFE and r.format in ("text", "json"), (text, r.findings)


def test_a_broken_protocol_0_pickle_that_called_an_unknown_global_is_not_text() -> None:
    r = scan_bytes(b"cmylib\ngadget\n(S'x'\ntR" + b"\nsome text after it\n", "notes.txt")
    assert r.verdict is Verdict.SUSPICIOUS, r.findings


def test_huge_arguments_are_skipped_not_loaded() -> None:
    big = b"\x80\x04\x8e" + struct.pack("<Q", 64 << 20) + b"\0" * (64 << 20) + b"."
    r = scan_bytes(big)
    assert r.verdict is Verdict.SAFE


def test_the_scanner_imports_no_ml_library(tmp_path: Path) -> None:
    """Scanning imports no torch/numpy/joblib/keras: nothing in a file gets a chance to run through them."""
    (tmp_path / "a.bin").write_bytes(torch_save({"w": _tensor()}))
    (tmp_path / "b.pkl").write_bytes(INERT_P0)
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + b"\n"
    (tmp_path / "c.npy").write_bytes(
        b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + INERT_P0
    )
    code = (
        "import sys, pathlib\n"
        "from openmodelhub.scanners import scan_file\n"
        f"for p in sorted(pathlib.Path({str(tmp_path)!r}).iterdir()): scan_file(p)\n"
        "ml = ('torch', 'numpy', 'joblib', 'keras', 'tensorflow', 'onnx', 'h5py')\n"
        "bad = sorted(m for m in ml if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
