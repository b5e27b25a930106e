"""Archives and compressed streams: zip (PyTorch, npz, Keras), tar, 7z, gzip, bz2, xz, zlib; lz4/zstd refused.

Every member is scanned by content whatever its name, in memory or a spooled temp file, never extracted to a
directory. Members that would write outside a directory (zip slip) or are links are unsafe on their own. Zips
are read leniently (from each local header, ignoring CRCs) and compared with the central directory, so a
differential that hides a pickle from a strict reader while torch still loads it is a finding, not a crash.
Depth, member count, total unpacked bytes and compression ratio are bounded (`Limits`).
"""

from __future__ import annotations

import bz2
import lzma
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from openmodelhub.scanners import pickle as pickle_scan
from openmodelhub.scanners._report import Ctx, LimitExceeded, Report
from openmodelhub.scanners._source import FileSource, Source, spooled
from openmodelhub.scanners.types import Verdict

CHUNK = 1 << 20
CRC_CHECK_MAX = 64 << 20  # stored members up to this size are read once to check their CRC
_TORCH_PICKLE = re.compile(r"^(?:(.+)/)?(data|constants)\.pkl$")


def bad_path(name: str) -> str | None:
    """Why an archive member name would escape the extraction directory, or None."""
    if not name:
        return "empty name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "control characters in the name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' path segment"
    return None


# -- streaming decompression -------------------------------------------------------------------------------


class _Decoder:
    """One compressed stream with bounded output per call (so a bomb is caught after a bounded amount)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._tail = b""
        self._d: Any
        if kind == "gzip":
            self._d = zlib.decompressobj(31)
        elif kind == "zlib":
            self._d = zlib.decompressobj(15)
        elif kind == "deflate":
            self._d = zlib.decompressobj(-15)
        elif kind == "bz2":
            self._d = bz2.BZ2Decompressor()
        elif kind == "xz":
            self._d = lzma.LZMADecompressor()
        elif kind == "zip-lzma":
            self._d = zipfile.LZMADecompressor()  # type: ignore[attr-defined]
        else:  # pragma: no cover
            raise ValueError(kind)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return bool(getattr(self._d, "eof", False))

    @property
    def unused(self) -> bytes:
        return bytes(getattr(self._d, "unused_data", b""))

    def decode(self, data: bytes, max_out: int) -> bytes:
        if self.kind in ("gzip", "zlib", "deflate"):
            data = self._tail + data
            out = self._d.decompress(data, max_out)
            self._tail = self._d.unconsumed_tail
            self.needs_input = not self._tail and len(out) < max_out
        elif self.kind == "zip-lzma":
            # zipfile's LZMA wrapper has no output bound: feed it small inputs instead.
            out = self._d.decompress(data)
            self.needs_input = True
        else:
            out = self._d.decompress(data, max_out)
            self.needs_input = self._d.needs_input
        return bytes(out)


def inflate(
    src: Source, kind: str, ctx: Ctx, cap: int, on_problem: Callable[[str, str], None]
) -> tuple[IO[bytes], int]:
    """Decompress `src` into a spooled file, at most `cap` bytes; problems are reported, not raised."""
    out_f = spooled()
    total = 0
    pos = 0
    dec = _Decoder(kind)
    step = 4096 if kind == "zip-lzma" else CHUNK
    limits = ctx.limits
    idle = 0
    while True:
        ctx.check_time()
        if dec.needs_input:
            chunk = src.read_at(pos, step)
            if not chunk:
                if not dec.eof:
                    on_problem("truncated", f"the {kind} stream ends before its end marker")
                break
            pos += len(chunk)
        else:
            chunk = b""
        try:
            piece = dec.decode(chunk, CHUNK)
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            on_problem("corrupt", f"the {kind} stream is corrupt: {exc}")
            break
        if piece:
            if total + len(piece) > cap:
                piece = piece[: max(0, cap - total)]
                out_f.write(piece)
                total += len(piece)
                on_problem("too_large", f"unpacks to more than {cap} bytes")
                break
            out_f.write(piece)
            total += len(piece)
            ctx.spend(len(piece))
            if total > limits.min_bomb_bytes and total > limits.max_compression_ratio * max(pos, 1):
                on_problem(
                    "bomb",
                    f"compression ratio above {limits.max_compression_ratio:g} (a decompression bomb?)",
                )
                break
        if dec.eof:
            rest = dec.unused
            left = len(rest) + src.size - pos
            if left <= 0:
                break
            peek = rest + src.read_at(pos, 16)
            magic = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}.get(kind)
            if magic and peek.startswith(magic):
                dec = _Decoder(kind)  # concatenated streams (multi-member gzip, pbzip2, xz)
                pos -= len(rest)
                continue
            if kind != "deflate":
                on_problem("trailing", f"{left} bytes after the end of the {kind} stream")
            break
        if not piece and not chunk and not dec.needs_input:
            idle += 1
            if idle > 2:
                on_problem("corrupt", f"the {kind} decoder stopped making progress")
                break
        else:
            idle = 0
    out_f.flush()
    return out_f, total


# -- single compressed streams -----------------------------------------------------------------------------

_STRIP = re.compile(r"\.(gz|gzip|bz2|xz|z|zz|zlib)$", re.IGNORECASE)


def scan_compressed(src: Source, kind: str, name: str | None, ctx: Ctx, rep: Report) -> str | None:
    """gzip/bz2/xz/zlib: unpack (bounded) and scan what is inside. zlib is tentative (None if not zlib)."""
    if kind == "zlib":
        try:
            zlib.decompressobj().decompress(src.read_at(0, 4096), 64)
        except zlib.error:
            return None
    problems: list[tuple[str, str]] = []
    cap = min(ctx.limits.max_decompressed_bytes, ctx.limits.max_pickle_bytes * 2)
    f, size = inflate(src, kind, ctx, cap, lambda c, m: problems.append((c, m)))
    with f:
        for code, msg in problems:
            rep.add(Verdict.UNSCANNABLE, f"{kind}.{code}", msg)
        inner = _STRIP.sub("", name) if name else None
        rep.merge(ctx.scan_member(FileSource(f, size), inner), f"{kind} content")
    return kind


def scan_refused(kind: str, rep: Report) -> str:
    rep.add(
        Verdict.UNSCANNABLE,
        f"{kind}.unsupported",
        f"{kind}-compressed content is not unpacked by this scanner, so what it holds is unknown",
    )
    return kind


# -- zip ---------------------------------------------------------------------------------------------------


@dataclass
class _Eocd:
    pos: int
    end: int
    entries: int


def _find_eocd(src: Source) -> _Eocd | None:
    tail_len = min(src.size, 65535 + 22)
    tail = src.read_at(src.size - tail_len, tail_len)
    base = src.size - tail_len
    i = tail.rfind(b"PK\x05\x06")
    while i >= 0:
        rec = tail[i : i + 22]
        if len(rec) == 22:
            entries = struct.unpack("<H", rec[10:12])[0]
            comment = struct.unpack("<H", rec[20:22])[0]
            end = base + i + 22 + comment
            if end <= src.size:
                if entries == 0xFFFF and i >= 20 and tail[i - 20 : i - 16] == b"PK\x06\x07":
                    z64 = struct.unpack("<Q", tail[i - 12 : i - 4])[0]
                    rec64 = src.read_at(z64, 56)
                    if rec64[:4] == b"PK\x06\x06":
                        entries = struct.unpack("<Q", rec64[32:40])[0]
                return _Eocd(base + i, end, entries)
        i = tail.rfind(b"PK\x05\x06", 0, i)
    return None


def has_zip_tail(src: Source) -> bool:
    return _find_eocd(src) is not None


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    enc = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        return info.orig_filename.encode(enc)
    except UnicodeEncodeError:
        return info.orig_filename.encode("utf-8")


@dataclass
class _Local:
    data_offset: int
    problems: list[str]


def _local_header(src: Source, info: zipfile.ZipInfo) -> _Local | None:
    raw = src.read_at(info.header_offset, 30)
    if len(raw) < 30 or raw[:4] != b"PK\x03\x04":
        return None
    _, _, flags, method, _, _, crc, csize, usize, nlen, elen = struct.unpack("<4sHHHHHIIIHH", raw)
    name = src.read_at(info.header_offset + 30, nlen)
    problems = []
    if name != _raw_name(info):
        problems.append(f"name {name!r} differs from the central directory's {info.orig_filename!r}")
    if method != info.compress_type:
        problems.append(
            f"compression method {method} differs from the central directory's {info.compress_type}"
        )
    if (flags ^ info.flag_bits) & ~0x0008 & 0xFFFF:
        problems.append(f"flags {flags:#x} differ from the central directory's {info.flag_bits:#x}")
    if not flags & 0x0008:
        if crc != info.CRC:
            problems.append("CRC-32 differs from the central directory's")
        if (
            csize != 0xFFFFFFFF
            and usize != 0xFFFFFFFF
            and (csize, usize) != (info.compress_size, info.file_size)
        ):
            problems.append("sizes differ from the central directory's")
    return _Local(info.header_offset + 30 + nlen + elen, problems)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def scan_zip(src: Source, name: str | None, ctx: Ctx, rep: Report, *, strict: bool) -> str | None:
    """A zip archive, or (strict=False) a file that merely ends like one (polyglot): None if it is not."""
    limits = ctx.limits
    eocd = _find_eocd(src)
    if eocd is not None and eocd.entries > limits.max_archive_members:
        rep.add(
            Verdict.UNSCANNABLE,
            "zip.too_many_members",
            f"{eocd.entries} members, more than the {limits.max_archive_members} allowed",
        )
        return "zip"
    try:
        with zipfile.ZipFile(src.file()) as zf:
            infos = zf.infolist()
    except Exception as exc:
        if not strict:
            return None
        rep.add(Verdict.UNSCANNABLE, "zip.unreadable", f"not a readable zip archive: {exc}")
        return "zip"
    ctx.check_time()
    names = [i.filename for i in infos]
    fmt = _zip_format(names)
    if len(infos) > limits.max_archive_members:
        rep.add(Verdict.UNSCANNABLE, "zip.too_many_members", f"{len(infos)} members is more than allowed")
        return fmt
    if eocd is not None and eocd.end < src.size:
        rep.add(
            Verdict.UNSCANNABLE,
            "zip.trailing_data",
            f"{src.size - eocd.end} bytes after the end of the zip directory (a polyglot file?)",
            f"byte {eocd.end}",
        )
    if infos and min(i.header_offset for i in infos) > 0:
        first = min(i.header_offset for i in infos)
        rep.add(
            Verdict.UNSCANNABLE,
            "zip.prefix_data",
            f"{first} bytes before the first zip member (a polyglot file?)",
            "byte 0",
        )
    seen: set[str] = set()
    total = 0
    todo: list[tuple[zipfile.ZipInfo, _Local]] = []
    for info in infos:
        where = info.filename
        why = bad_path(info.filename)
        if why:
            rep.add(
                Verdict.UNSAFE, "archive.path_traversal", f"member name escapes the archive: {why}", where
            )
        if _is_symlink(info):
            rep.add(Verdict.UNSAFE, "archive.symlink", "member is a symbolic link", where)
            continue
        if info.filename in seen:
            rep.add(Verdict.UNSCANNABLE, "zip.duplicate_name", "two members have this name", where)
        seen.add(info.filename)
        if info.filename.endswith("/"):
            continue
        if info.flag_bits & 0x1:
            rep.add(Verdict.UNSCANNABLE, "zip.encrypted", "member is encrypted", where)
            continue
        total += info.file_size
        if (
            info.compress_type != zipfile.ZIP_STORED
            and info.file_size > limits.min_bomb_bytes
            and info.file_size > limits.max_compression_ratio * max(info.compress_size, 1)
        ):
            rep.add(
                Verdict.UNSCANNABLE,
                "zip.bomb",
                f"declares {info.file_size} bytes from {info.compress_size} compressed (ratio above "
                f"{limits.max_compression_ratio:g})",
                where,
            )
            continue
        local = _local_header(src, info)
        if local is None:
            rep.add(
                Verdict.UNSCANNABLE, "zip.local_header", "no local header where the directory says", where
            )
            continue
        for p in local.problems:
            rep.add(Verdict.UNSCANNABLE, "zip.header_mismatch", f"local header {p}", where)
        todo.append((info, local))
    if total > limits.max_decompressed_bytes:
        rep.add(Verdict.UNSCANNABLE, "zip.too_large", f"members add up to {total} bytes, more than allowed")
        return fmt
    _scan_members(src, ctx, rep, todo)
    return fmt


def _zip_format(names: list[str]) -> str:
    if any(_TORCH_PICKLE.match(n) and n.endswith("data.pkl") for n in names):
        return "pytorch-zip"
    files = [n for n in names if n and not n.endswith("/")]
    if files and all(n.endswith(".npy") for n in files):
        return "npz"
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return "keras"
    return "zip"


def _open_member(src: Source, info: zipfile.ZipInfo, local: _Local, ctx: Ctx, rep: Report) -> Source | None:
    where = info.filename
    raw = src.slice(local.data_offset, info.compress_size)
    kinds = {zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bz2", zipfile.ZIP_LZMA: "zip-lzma"}
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size <= CRC_CHECK_MAX and _crc(raw) != info.CRC:
            rep.add(Verdict.UNSCANNABLE, "zip.crc", "CRC-32 does not match the data (read anyway)", where)
        return raw
    kind = kinds.get(info.compress_type)
    if kind is None:
        rep.add(
            Verdict.UNSCANNABLE,
            "zip.method",
            f"compression method {info.compress_type} is not supported by the scanner",
            where,
        )
        return None

    def problem(code: str, msg: str) -> None:
        rep.add(Verdict.UNSCANNABLE, f"zip.{code}", msg, where)

    f, size = inflate(raw, kind, ctx, info.file_size, problem)
    out = FileSource(f, size)
    if size != info.file_size:
        problem("size", f"unpacks to {size} bytes, not the {info.file_size} the directory declares")
    elif _crc(out) != info.CRC:
        problem("crc", "CRC-32 does not match the data (read anyway)")
    return out


def _crc(src: Source) -> int:
    crc = 0
    for off in range(0, src.size, CHUNK):
        crc = zlib.crc32(src.read_at(off, CHUNK), crc)
    return crc


def _scan_members(src: Source, ctx: Ctx, rep: Report, todo: list[tuple[zipfile.ZipInfo, _Local]]) -> None:
    names = {i.filename for i, _ in todo}
    storages: set[str] = set()
    code_dirs = {m.group(1) or "" for n in names if (m := re.match(r"^(?:(.+)/)?code/", n))}
    ordered = sorted(todo, key=lambda t: 0 if _TORCH_PICKLE.match(t[0].filename) else 1)
    for info, local in ordered:
        ctx.check_time()
        where = info.filename
        m = _TORCH_PICKLE.match(where)
        if where in storages:
            continue  # raw tensor bytes that torch reads as such, never unpickles
        member = _open_member(src, info, local, ctx, rep)
        if member is None:
            continue
        if m and pickle_scan.is_pickle_start(member.head(2)):
            prefix = m.group(1)
            sub = Report(rep.limits)
            scanner = pickle_scan.PickleScanner(member, ctx.child(), sub, "torch-zip")
            scanner.scan()
            rep.merge(sub.result("pickle"), where)
            folder = "data" if m.group(2) == "data" else "constants"
            for key in _storage_keys(scanner):
                path = f"{prefix}/{folder}/{key}" if prefix else f"{folder}/{key}"
                if path in names:
                    storages.add(path)
                elif m.group(2) == "data":
                    rep.add(
                        Verdict.UNSCANNABLE,
                        "torch.missing_storage",
                        f"the pickle refers to storage {key!r} but the archive has no {path}",
                        where,
                    )
            if (prefix or "") in code_dirs:
                rep.add(
                    Verdict.SUSPICIOUS,
                    "torch.torchscript",
                    "a TorchScript archive: torch.jit.load runs the program in code/",
                    where,
                )
            continue
        rep.merge(ctx.scan_member(member, where), where)


def _storage_keys(scanner: pickle_scan.PickleScanner) -> list[str]:
    return [
        pid[2]
        for pid in scanner.persids
        if isinstance(pid, tuple) and len(pid) > 2 and isinstance(pid[2], str)
    ]


# -- tar ---------------------------------------------------------------------------------------------------


def scan_tar(src: Source, ctx: Ctx, rep: Report) -> str:
    try:
        tf = tarfile.open(fileobj=src.file(), mode="r:")  # noqa: SIM115 - closed by the `with` below
    except Exception as exc:
        rep.add(Verdict.UNSCANNABLE, "tar.unreadable", f"not a readable tar archive: {exc}")
        return "tar"
    count = 0
    with tf:
        while True:
            ctx.check_time()
            try:
                m = tf.next()
            except Exception as exc:
                rep.add(Verdict.UNSCANNABLE, "tar.unreadable", f"tar archive is corrupt: {exc}")
                break
            if m is None:
                break
            count += 1
            if count > ctx.limits.max_archive_members:
                rep.add(Verdict.UNSCANNABLE, "tar.too_many_members", "more members than allowed")
                break
            where = m.name
            why = bad_path(m.name)
            if why:
                rep.add(
                    Verdict.UNSAFE, "archive.path_traversal", f"member name escapes the archive: {why}", where
                )
            if m.issym() or m.islnk():
                kind = "symbolic" if m.issym() else "hard"
                rep.add(
                    Verdict.UNSAFE,
                    "archive.symlink",
                    f"member is a {kind} link to {m.linkname!r}",
                    where,
                    target=m.linkname,
                )
                continue
            if m.ischr() or m.isblk() or m.isfifo():
                rep.add(Verdict.SUSPICIOUS, "tar.device", "member is a device or FIFO", where)
                continue
            if not m.isreg():
                continue
            if m.sparse is not None:
                rep.add(Verdict.UNSCANNABLE, "tar.sparse", "sparse members are not scanned", where)
                continue
            if m.offset_data + m.size > src.size:
                rep.add(Verdict.UNSCANNABLE, "tar.truncated", "member data runs past the end", where)
                break
            rep.merge(ctx.scan_member(src.slice(m.offset_data, m.size), m.name), where)
    return "tar"


# -- 7z ----------------------------------------------------------------------------------------------------


class _SpoolWriter:
    """py7zr output for one member: spooled, capped; anything past the cap is dropped and reported."""

    def __init__(self, cap: int, ctx: Ctx) -> None:
        self.f = spooled()
        self.cap = cap
        self.ctx = ctx
        self.written = 0
        self.overflow = False

    def write(self, s: bytes | bytearray) -> int:
        room = self.cap - self.written
        if len(s) > room:
            self.overflow = True
            s = s[: max(0, room)]
        self.f.write(s)
        self.written += len(s)
        self.ctx.spend(len(s))
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return self.f.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def flush(self) -> None:
        self.f.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        return None


def scan_7z(src: Source, ctx: Ctx, rep: Report) -> str:
    try:
        import py7zr
        import py7zr.io
    except ImportError:  # pragma: no cover - py7zr is a dependency
        return scan_refused("7z", rep)
    limits = ctx.limits
    products: dict[str, _SpoolWriter] = {}
    declared: dict[str, int] = {}

    class Factory(py7zr.io.WriterFactory):
        def create(self, filename: str) -> py7zr.io.Py7zIO:
            # a member may not unpack to more than the archive says it holds
            w = _SpoolWriter(declared.get(filename, max(declared.values(), default=0)), ctx)
            products[filename] = w
            return w  # type: ignore[return-value]

    try:
        with py7zr.SevenZipFile(src.file()) as z:
            if z.needs_password():
                rep.add(Verdict.UNSCANNABLE, "7z.encrypted", "the 7z archive is encrypted")
                return "7z"
            infos = z.list()
            if len(infos) > limits.max_archive_members:
                rep.add(Verdict.UNSCANNABLE, "7z.too_many_members", "more members than allowed")
                return "7z"
            total = 0
            for fi in infos:
                why = bad_path(fi.filename)
                if why:
                    rep.add(
                        Verdict.UNSAFE, "archive.path_traversal", f"member name escapes: {why}", fi.filename
                    )
                if fi.is_symlink:
                    rep.add(Verdict.UNSAFE, "archive.symlink", "member is a symbolic link", fi.filename)
                declared[fi.filename] = int(fi.uncompressed or 0)
                total += declared[fi.filename]
            if total > limits.max_decompressed_bytes or (
                total > limits.min_bomb_bytes and total > limits.max_compression_ratio * max(src.size, 1)
            ):
                rep.add(Verdict.UNSCANNABLE, "7z.bomb", f"unpacks to {total} bytes from {src.size}")
                return "7z"
            if any(bad_path(fi.filename) or fi.is_symlink for fi in infos):
                return "7z"
            z.extract(factory=Factory())
    except LimitExceeded:
        raise
    except Exception as exc:
        rep.add(Verdict.UNSCANNABLE, "7z.unreadable", f"the 7z archive cannot be read: {exc}")
    for fname, w in products.items():
        if w.overflow:
            rep.add(Verdict.UNSCANNABLE, "7z.too_large", "member unpacks to more than allowed", fname)
        w.f.flush()
        rep.merge(ctx.scan_member(FileSource(w.f, w.written), fname), fname)
        w.f.close()
    return "7z"
