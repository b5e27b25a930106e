"""Scan throughput on large weight files, as a ratio to reading each file once with `cat > /dev/null`.

Usage: .venv/bin/python bench/scan_bench.py [--size-mb N] [--repeat R] [--keep DIR]

Writes a PyTorch zip `pytorch_model.bin`, a legacy (non-zip) torch file and a `model.safetensors` of about
N MB each (random float32 tensors), then times `scan_file` and `cat` on each in the same run (both from the
page cache: the files were just written). Header-only formats should scan far faster than `cat`, because
the scanner must not read tensor data. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from openmodelhub.scanners import scan_file

TENSOR_MB = 64


def _tensors(size_mb: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    out = {}
    left = size_mb
    i = 0
    while left > 0:
        mb = min(TENSOR_MB, left)
        out[f"layer{i}.weight"] = torch.randn(mb * 1024 * 1024 // 4, generator=gen).reshape(-1, 1024)
        left -= mb
        i += 1
    return out


def _time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cat(path: Path) -> None:
    subprocess.run(f"cat '{path}' > /dev/null", shell=True, check=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of each file in MB (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per measurement; the median is shown")
    parser.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="omh-scan-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"writing ~{args.size_mb} MB files to {folder} ...", flush=True)
        tensors = _tensors(args.size_mb)
        files = {
            "pytorch_model.bin": folder / "pytorch_model.bin",
            "legacy torch .bin": folder / "pytorch_model_legacy.bin",
            "model.safetensors": folder / "model.safetensors",
        }
        torch.save(tensors, files["pytorch_model.bin"])
        torch.save(tensors, files["legacy torch .bin"], _use_new_zipfile_serialization=False)
        save_file(tensors, str(files["model.safetensors"]))
        del tensors

        rows = []
        for label, path in files.items():
            size_mb = path.stat().st_size / 1e6
            _cat(path)  # warm the page cache for both contenders
            result = scan_file(path)
            scan_s = _time(lambda p=path: scan_file(p), args.repeat)  # type: ignore[misc]
            cat_s = _time(lambda p=path: _cat(p), args.repeat)  # type: ignore[misc]
            rows.append((label, size_mb, result.verdict.value, result.format, scan_s, cat_s))

    print()
    header = f"{'file':<20} {'MB':>8} {'verdict':>8} {'format':>15} {'scan s':>9} {'scan MB/s':>11} "
    header += f"{'cat s':>8} {'cat MB/s':>10} {'scan/cat':>9}"
    print(header)
    print("-" * len(header))
    for label, mb, verdict, fmt, scan_s, cat_s in rows:
        print(
            f"{label:<20} {mb:>8.0f} {verdict:>8} {fmt:>15} {scan_s:>9.4f} {mb / scan_s:>11.0f} "
            f"{cat_s:>8.3f} {mb / cat_s:>10.0f} {scan_s / cat_s:>9.4f}"
        )
    print("\nscan/cat < 1: the scan costs less than reading the file once (tensor data is not read).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
