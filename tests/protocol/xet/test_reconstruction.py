"""Reconstruction plans: terms trimmed to byte ranges, merged fetch ranges, the v1/v2 JSON shapes."""

import itertools
import random

import pytest

from openmodelhub.protocol.xet import (
    FileSegment,
    RangeNotSatisfiableError,
    ReconstructionError,
    XetPacker,
    XorbLayout,
    build_xorb,
    hash_to_hex,
    iter_plan_bytes,
    parse_byte_range,
    parse_shard,
    plan_reconstruction,
    plan_to_v1_json,
    plan_to_v2_json,
    read_xorb,
    reconstruct_bytes,
)

RND = random.Random(8)
BLOCK = RND.randbytes(500_000)
DATA = RND.randbytes(700_000) + BLOCK + RND.randbytes(300_000) + BLOCK + b"tail"


@pytest.fixture(scope="module")
def stored():  # type: ignore[no-untyped-def]
    packer = XetPacker(max_xorb_bytes=600_000)
    packer.add_bytes(DATA)
    result = packer.finish()
    file_info = parse_shard(result.shard).files[0]
    xorbs = {x.hash: x.data for x in result.xorbs}
    layouts = {h: XorbLayout.from_xorb_info(read_xorb(d)) for h, d in xorbs.items()}
    return file_info.entries, xorbs, layouts


def test_whole_file_and_random_ranges(stored) -> None:  # type: ignore[no-untyped-def]
    segments, xorbs, layouts = stored
    assert len({s.xorb_hash for s in segments}) >= 3  # spans several xorbs, reuses the repeated block
    assert reconstruct_bytes(segments, xorbs, layouts) == DATA
    rnd = random.Random(1)
    edges = [0, 1, len(DATA) - 1, 65_535, 700_000, 1_200_000]
    ranges = [(a, b) for a in edges for b in edges if a <= b]
    ranges += [tuple(sorted(rnd.sample(range(len(DATA)), 2))) for _ in range(40)]
    for a, b in ranges:
        assert reconstruct_bytes(segments, xorbs, layouts, (a, b)) == DATA[a : b + 1], (a, b)
    # an end past the file is clipped, as HTTP ranges are
    assert reconstruct_bytes(segments, xorbs, layouts, (len(DATA) - 3, 10**12)) == DATA[-3:]


def test_plan_trims_terms_to_the_range(stored) -> None:  # type: ignore[no-untyped-def]
    segments, _, layouts = stored
    full = plan_reconstruction(segments, layouts)
    assert full.offset_into_first_range == 0 and full.length == len(DATA)
    assert sum(t.unpacked_length for t in full.terms) == len(DATA)
    start = 100_000
    part = plan_reconstruction(segments, layouts, (start, start + 10))
    assert len(part.terms) == 1
    term = part.terms[0]
    sizes = layouts[term.xorb_hash].chunk_sizes
    assert term.chunk_end - term.chunk_start in (1, 2)  # 11 bytes lie in one chunk, or straddle two
    chunk_file_offset = sum(sizes[: term.chunk_start])  # first segment starts at xorb chunk 0
    assert part.offset_into_first_range == start - chunk_file_offset
    assert 0 <= part.offset_into_first_range < term.unpacked_length


def test_fetch_ranges_are_merged_and_cover_terms(stored) -> None:  # type: ignore[no-untyped-def]
    segments, xorbs, layouts = stored
    plan = plan_reconstruction(segments, layouts)
    for xorb, fetches in plan.fetches.items():
        starts = [f.chunk_start for f in fetches]
        assert starts == sorted(starts)
        for a, b in itertools.pairwise(fetches):
            assert a.chunk_end < b.chunk_start  # merged: neither overlapping nor adjacent
        for f in fetches:
            assert (f.byte_start, f.byte_end) == read_xorb(xorbs[xorb]).byte_range(f.chunk_start, f.chunk_end)
    for t in plan.terms:
        assert any(f.covers(t) for f in plan.fetches[t.xorb_hash])


def test_v1_and_v2_json_shapes(stored) -> None:  # type: ignore[no-untyped-def]
    segments, _, layouts = stored
    plan = plan_reconstruction(segments, layouts, (10, 1_000_000))
    v1 = plan_to_v1_json(plan, lambda xorb, f: f"https://cas/x/{hash_to_hex(xorb)}?r={f.byte_start}")
    assert set(v1) == {"offset_into_first_range", "terms", "fetch_info"}
    term = v1["terms"][0]
    assert set(term) == {"hash", "unpacked_length", "range"} and set(term["range"]) == {"start", "end"}
    xorb_hex, entries = next(iter(v1["fetch_info"].items()))
    assert set(entries[0]) == {"range", "url", "url_range"}
    assert entries[0]["url"].startswith(f"https://cas/x/{xorb_hex}")
    v2 = plan_to_v2_json(plan, lambda xorb, ranges: f"https://cas/x/{hash_to_hex(xorb)}")
    assert set(v2) == {"offset_into_first_range", "terms", "xorbs"}
    entry = next(iter(v2["xorbs"].values()))[0]
    assert set(entry) == {"url", "ranges"} and set(entry["ranges"][0]) == {"chunks", "bytes"}
    single = plan_to_v2_json(plan, lambda xorb, ranges: "u", multi_range=False)
    for fetches in single["xorbs"].values():
        assert all(len(e["ranges"]) == 1 for e in fetches)
    assert v1["terms"] == v2["terms"] and v1["offset_into_first_range"] == v2["offset_into_first_range"] == 10


def test_range_header_parsing() -> None:
    assert parse_byte_range("bytes=0-99", 1000) == (0, 99)
    assert parse_byte_range("bytes=10-", 1000) == (10, 999)
    assert parse_byte_range("bytes=-100", 1000) == (900, 999)
    assert parse_byte_range("bytes=-5000", 1000) == (0, 999)
    assert parse_byte_range("bytes=990-5000", 1000) == (990, 999)
    with pytest.raises(RangeNotSatisfiableError):
        parse_byte_range("bytes=1000-1001", 1000)
    with pytest.raises(RangeNotSatisfiableError):
        parse_byte_range("bytes=-0", 1000)
    for bad in ("bytes=5-1", "items=0-1", "bytes=0-1,3-4", "bytes=-", "0-10"):
        with pytest.raises(ReconstructionError):
            parse_byte_range(bad, 1000)


def test_plan_errors(stored) -> None:  # type: ignore[no-untyped-def]
    segments, xorbs, layouts = stored
    with pytest.raises(RangeNotSatisfiableError):
        plan_reconstruction(segments, layouts, (len(DATA), len(DATA) + 5))
    with pytest.raises(ReconstructionError, match="invalid byte range"):
        plan_reconstruction(segments, layouts, (5, 1))
    with pytest.raises(ReconstructionError, match="no layout"):
        plan_reconstruction(segments, {})
    s = segments[0]
    with pytest.raises(ReconstructionError, match="which has"):
        plan_reconstruction([FileSegment(s.xorb_hash, s.unpacked_segment_bytes, 0, 10_000)], layouts)
    with pytest.raises(ReconstructionError, match="declares"):
        plan_reconstruction(
            [FileSegment(s.xorb_hash, s.unpacked_segment_bytes + 1, s.chunk_start, s.chunk_end)], layouts
        )
    # data that no longer matches the plan is refused while assembling
    plan = plan_reconstruction(segments, layouts)
    with pytest.raises(ReconstructionError, match="fetched"):
        list(iter_plan_bytes(plan, lambda xorb, f: xorbs[xorb][f.byte_start : f.byte_end]))


def test_layout_from_footer_matches_layout_from_data() -> None:
    chunks = [RND.randbytes(RND.randrange(1000, 9000)) for _ in range(6)]
    built = build_xorb(chunks, with_footer=True)
    info = read_xorb(built.data)
    assert info.footer is not None
    assert XorbLayout.from_footer(info.footer) == XorbLayout.from_xorb_info(info)


def test_empty_file_plan() -> None:
    plan = plan_reconstruction([], {})
    assert plan.terms == () and plan.length == 0 and plan.fetches == {}
    with pytest.raises(RangeNotSatisfiableError):
        plan_reconstruction([], {}, (0, 0))
