"""Xet hashes: chunk hashes, the aggregated (merkle) hash of xorbs and files, verification range hashes.

A Xet hash is 32 raw bytes. Everything here takes and returns raw bytes; `hash_to_hex` / `hex_to_hash` convert
to and from the string form used in API paths, JSON and shard dumps.

Spec: hub-docs docs/xet/hashing.md (keys, internal-node buffer, file-hash final step, verification hash) and
docs/xet/api.md "Converting Hashes to Strings". The tree *shape* of the aggregated hash is not in the spec; it
is xet-core's `aggregated_hashes.rs` (`next_merge_cut`): see `aggregated_hash`.
"""

import re
from collections.abc import Iterable, Sequence

from blake3 import blake3

from openmodelhub.protocol.xet.errors import HashFormatError

HASH_SIZE = 32

#: blake3 key of chunk hashes (docs/xet/hashing.md "DATA_KEY").
DATA_KEY = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)  # fmt: skip
#: blake3 key of merkle internal nodes (docs/xet/hashing.md "INTERNAL_NODE_KEY").
INTERNAL_NODE_KEY = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)  # fmt: skip
#: blake3 key of term verification hashes in shards (docs/xet/hashing.md "VERIFICATION_KEY").
VERIFICATION_KEY = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)  # fmt: skip

ZERO_HASH = bytes(HASH_SIZE)
#: The all-ones hash that marks the end of a shard section ("bookend").
BOOKEND_HASH = b"\xff" * HASH_SIZE

# The aggregated-hash tree: a node closes after a child whose hash is 0 mod 4, with 2..9 children per node.
_MEAN_BRANCHING = 4
_MAX_GROUP = 2 * _MEAN_BRANCHING + 1

#: A chunk is offered to global dedup when its hash is 0 modulo this (docs/xet/deduplication.md).
GLOBAL_DEDUP_MODULUS = 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")


# -- string form ---------------------------------------------------------------------------------------------


def hash_to_hex(h: bytes) -> str:
    """The Xet string form of a hash: each 8-byte word byte-reversed, then hex (docs/xet/api.md).

    This is *not* ``h.hex()``: bytes 0..31 print as ``0706050403020100 0f0e…`` (spaces added here).
    """
    if len(h) != HASH_SIZE:
        raise HashFormatError(f"a Xet hash is {HASH_SIZE} bytes, got {len(h)}")
    return b"".join(h[i : i + 8][::-1] for i in range(0, HASH_SIZE, 8)).hex()


def hex_to_hash(s: str) -> bytes:
    """Raw bytes of a hash given in Xet string form; HashFormatError unless it is 64 lowercase hex."""
    if not isinstance(s, str) or not _HEX64.fullmatch(s):
        raise HashFormatError(f"not a Xet hash (64 lowercase hex characters expected): {str(s)[:80]!r}")
    raw = bytes.fromhex(s)
    return b"".join(raw[i : i + 8][::-1] for i in range(0, HASH_SIZE, 8))


def is_hash_hex(s: str) -> bool:
    """True if `s` is a well-formed Xet hash string (64 lowercase hex characters)."""
    return isinstance(s, str) and _HEX64.fullmatch(s) is not None


def hash_mod(h: bytes, modulus: int) -> int:
    """xet-core's ``MerkleHash % n``: the last 8 bytes read as a little-endian integer, modulo `modulus`."""
    return int.from_bytes(h[24:32], "little") % modulus


def is_global_dedup_eligible(chunk_hash: bytes) -> bool:
    """Whether a chunk hash is one the global dedup index tracks (docs/xet/deduplication.md "Eligibility")."""
    return hash_mod(chunk_hash, GLOBAL_DEDUP_MODULUS) == 0


# -- the hash functions --------------------------------------------------------------------------------------


def keyed_hash(key: bytes, data: bytes | bytearray | memoryview) -> bytes:
    """blake3 keyed hash (32 bytes) of `data` under a 32-byte key."""
    return blake3(data, key=key).digest()


def chunk_hash(data: bytes | bytearray | memoryview) -> bytes:
    """The hash of one chunk's uncompressed bytes: blake3 keyed with DATA_KEY."""
    return blake3(data, key=DATA_KEY).digest()


def internal_node_hash(children: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    """(hash, total size) of a merkle node over (hash, size) children.

    The hashed buffer is one line ``"{hash as Xet hex} : {size}\\n"`` per child (docs/xet/hashing.md).
    """
    buf = "".join(f"{hash_to_hex(h)} : {size}\n" for h, size in children).encode("ascii")
    return blake3(buf, key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in children)


def _next_cut(level: Sequence[tuple[bytes, int]], start: int) -> int:
    """End (exclusive) of the node that starts at `start`: xet-core's ``next_merge_cut``.

    Nodes have at least 2 children; after that a child whose hash is 0 mod 4 closes the node; at most 9
    children. Only children 3..9 are tested (index 2 onwards), so the first two never cut.
    """
    remaining = len(level) - start
    if remaining <= 2:
        return len(level)
    end = min(_MAX_GROUP, remaining)
    for i in range(2, end):
        if hash_mod(level[start + i][0], _MEAN_BRANCHING) == 0:
            return start + i + 1
    return start + end


def aggregated_hash(entries: Iterable[tuple[bytes, int]]) -> bytes:
    """The merkle root of (hash, size) leaves; the all-zero hash for no leaves, the leaf itself for one.

    Each level is cut into nodes by `_next_cut`, each hashed with `internal_node_hash`, until one remains.
    """
    level = list(entries)
    if not level:
        return ZERO_HASH
    while len(level) > 1:
        parents: list[tuple[bytes, int]] = []
        start = 0
        while start < len(level):
            end = _next_cut(level, start)
            parents.append(internal_node_hash(level[start:end]))
            start = end
        level = parents
    return level[0][0]


def xorb_hash(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    """The hash of a xorb from its chunks' (hash, uncompressed size), in xorb order."""
    return aggregated_hash(chunks)


def file_hash(chunks: Iterable[tuple[bytes, int]], salt: bytes = ZERO_HASH) -> bytes:
    """The Xet file id: aggregated hash of all the file's chunks, then blake3 keyed with `salt` (zeros).

    An empty file hashes to the all-zero hash (no final keyed step), as hf_xet reports.
    """
    if len(salt) != HASH_SIZE:
        raise HashFormatError(f"a file hash salt is {HASH_SIZE} bytes, got {len(salt)}")
    leaves = list(chunks)
    if not leaves:
        return ZERO_HASH
    return blake3(aggregated_hash(leaves), key=salt).digest()


def verification_range_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """The term verification hash of a shard: blake3 keyed with VERIFICATION_KEY over the raw chunk hashes."""
    hasher = blake3(key=VERIFICATION_KEY)
    for h in chunk_hashes:
        hasher.update(h)
    return hasher.digest()


def hmac_chunk_hash(chunk_hash_: bytes, key: bytes) -> bytes:
    """A chunk hash as a global-dedup shard stores it when its footer has an HMAC key (docs/xet/shard.md)."""
    return blake3(chunk_hash_, key=key).digest()
