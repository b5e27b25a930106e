"""Xet hashes against the spec's examples and xet-core's reference vectors.

The vectors in fixtures/aggregated_hash_vectors.json are xet-core's own correctness test for the merkle tree
(18 leaf lists up to 100 leaves, each with a xorb hash and three salted file hashes), so they pin the tree
shape, the internal-node buffer format and the hex form used inside it.
"""

import json
from pathlib import Path

import pytest
from blake3 import blake3

from openmodelhub.protocol.xet import (
    DATA_KEY,
    INTERNAL_NODE_KEY,
    VERIFICATION_KEY,
    ZERO_HASH,
    HashFormatError,
    aggregated_hash,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    hmac_chunk_hash,
    is_global_dedup_eligible,
    is_hash_hex,
    verification_range_hash,
    xorb_hash,
)
from openmodelhub.protocol.xet.hashing import internal_node_hash

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "aggregated_hash_vectors.json").read_text())[
    "cases"
]


def test_hash_string_form_reverses_each_8_byte_word() -> None:
    # docs/xet/api.md "Converting Hashes to Strings", bytes 0..31
    raw = bytes(range(32))
    text = hash_to_hex(raw)
    assert text == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert text != raw.hex()
    assert hex_to_hash(text) == raw


@pytest.mark.parametrize(
    "bad",
    ["", "00" * 31, "0" * 65, "G" * 64, "ABCDEF" + "0" * 58, "0" * 63 + "\n", " " + "0" * 63],
)
def test_malformed_hash_strings_are_rejected(bad: str) -> None:
    assert not is_hash_hex(bad)
    with pytest.raises(HashFormatError):
        hex_to_hash(bad)


def test_raw_hash_must_be_32_bytes() -> None:
    with pytest.raises(HashFormatError):
        hash_to_hex(b"\x00" * 31)


def test_keys_are_the_spec_keys() -> None:
    # docs/xet/hashing.md lists the keys as decimal byte arrays; spot-check ends and lengths.
    assert len(DATA_KEY) == len(INTERNAL_NODE_KEY) == len(VERIFICATION_KEY) == 32
    assert (DATA_KEY[0], DATA_KEY[-1]) == (102, 41)
    assert (INTERNAL_NODE_KEY[0], INTERNAL_NODE_KEY[-1]) == (1, 63)
    assert (VERIFICATION_KEY[0], VERIFICATION_KEY[-1]) == (127, 195)


def test_chunk_hash_is_blake3_keyed_with_data_key() -> None:
    data = b"some chunk bytes" * 100
    assert chunk_hash(data) == blake3(data, key=DATA_KEY).digest()
    assert chunk_hash(data) != blake3(data).digest()


def test_internal_node_buffer_matches_the_spec_example() -> None:
    # docs/xet/hashing.md "Example of data for internal node": hashes given in string form.
    rows = [
        ("1f6a2b8e9d3c4075a2e8c5fd4f0b763e6f3c1d7a9b2e6487de3f91ab7c6d5401", 10000),
        ("7c94fe2a38bdcf9b4d2a6f7e1e08ac35bc24a7903d6f5a0e7d1c2b93e5f748de", 20000),
        ("cfd18a92e0743bb09e56dbf76ea2c34d99b5a0cf271f8d429b6cd148203df061", 25000),
        ("e38d7c09a21b4cf8d0f92b3a85e6df19f7c20435e0b1c78a9d635f7b8c2e4da1", 64000),
    ]
    buffer = "".join(f"{h} : {n}\n" for h, n in rows).encode()
    node, total = internal_node_hash([(hex_to_hash(h), n) for h, n in rows])
    assert node == blake3(buffer, key=INTERNAL_NODE_KEY).digest()
    assert total == 119000


@pytest.mark.parametrize("case", VECTORS, ids=[f"{len(c['leaves'])}-leaves" for c in VECTORS])
def test_xet_core_reference_vectors(case: dict) -> None:
    leaves = [(hex_to_hash(h), n) for h, n in case["leaves"]]
    assert hash_to_hex(xorb_hash(leaves)) == case["xorb_hash"]
    for salt, expected in case["file_hashes"]:
        assert hash_to_hex(file_hash(leaves, hex_to_hash(salt))) == expected


def test_reference_vectors_cover_deep_trees() -> None:
    assert max(len(c["leaves"]) for c in VECTORS) >= 100


def test_degenerate_aggregates() -> None:
    h = chunk_hash(b"x")
    assert aggregated_hash([]) == ZERO_HASH
    assert aggregated_hash([(h, 1)]) == h  # a single leaf is its own root
    assert file_hash([]) == ZERO_HASH  # what hf_xet reports for an empty file
    assert file_hash([(h, 1)]) == blake3(h, key=ZERO_HASH).digest()
    assert file_hash(iter([(h, 1)])) == file_hash([(h, 1)])  # iterators work too
    with pytest.raises(HashFormatError):
        file_hash([(h, 1)], salt=b"short")


def test_verification_range_hash_concatenates_raw_hashes() -> None:
    hashes = [chunk_hash(bytes([i])) for i in range(5)]
    assert verification_range_hash(hashes) == blake3(b"".join(hashes), key=VERIFICATION_KEY).digest()
    assert verification_range_hash(hashes[:4]) != verification_range_hash(hashes)


def test_global_dedup_eligibility_uses_last_word_mod_1024() -> None:
    eligible = bytes(24) + (2048).to_bytes(8, "little")
    not_eligible = bytes(24) + (2049).to_bytes(8, "little")
    assert is_global_dedup_eligible(eligible)
    assert not is_global_dedup_eligible(not_eligible)
    # the first 24 bytes do not matter
    assert is_global_dedup_eligible(b"\xff" * 24 + (1024 * 7).to_bytes(8, "little"))


def test_hmac_protection_is_keyed_blake3() -> None:
    h = chunk_hash(b"abc")
    key = bytes(range(32))
    assert hmac_chunk_hash(h, key) == blake3(h, key=key).digest()
    assert hmac_chunk_hash(h, key) != h
