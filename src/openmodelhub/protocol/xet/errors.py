"""Exceptions raised when Xet data (hashes, xorbs, shards, reconstructions) is malformed.

Every failure is a subclass of `XetFormatError`, carries a message a person can act on, and is meant to become
a 4xx answer at the HTTP edge (400 for bad bodies, 416 for unsatisfiable ranges). The classes are fine-grained
so tests and callers can tell *what* was wrong without parsing messages.
"""


class XetFormatError(ValueError):
    """Xet data that does not follow the format; the message says what and where."""


class HashFormatError(XetFormatError):
    """A hash string is not 64 lowercase hex characters, or a raw hash is not 32 bytes."""


# -- xorbs ---------------------------------------------------------------------------------------------------


class XorbFormatError(XetFormatError):
    """A serialized xorb is malformed."""


class XorbTruncatedError(XorbFormatError):
    """A xorb ends in the middle of a chunk header, chunk data or footer."""


class XorbChunkHeaderError(XorbFormatError):
    """A chunk header has an unknown version or compression scheme, or sizes out of bounds."""


class XorbDecompressionError(XorbFormatError):
    """A chunk's data does not decompress, or decompresses to a size other than the header says."""


class XorbTooLargeError(XorbFormatError):
    """A xorb exceeds the serialized-size or chunk-count limit."""


class XorbHashMismatchError(XorbFormatError):
    """The xorb hash computed from its chunks differs from the hash it was uploaded or labelled under."""


class XorbFooterError(XorbFormatError):
    """The optional xorb footer (``XETBLOB``) is malformed or disagrees with the chunk data."""


# -- shards --------------------------------------------------------------------------------------------------


class ShardFormatError(XetFormatError):
    """A serialized shard is malformed."""


class ShardTruncatedError(ShardFormatError):
    """A shard ends before a section, entry, bookend or footer is complete."""


class ShardHeaderError(ShardFormatError):
    """The shard header tag or version is wrong."""


class ShardFooterError(ShardFormatError):
    """The shard footer's version, offsets, counts or lookup tables are inconsistent."""


class ShardFileInfoError(ShardFormatError):
    """A file info block is inconsistent (flags, entry ranges, verification entries, sizes, file hash)."""


class ShardCasInfoError(ShardFormatError):
    """A CAS (xorb) info block is inconsistent (chunk offsets, byte totals)."""


class ShardUnknownXorbError(ShardFormatError):
    """A file segment references a xorb that is neither in the shard nor known to the server."""


class ShardChunkRangeError(ShardFileInfoError):
    """A file segment's chunk range lies outside the xorb it references."""


class ShardVerificationError(ShardFileInfoError):
    """A term verification hash, a segment size or a file hash does not match the chunks it covers."""


# -- reconstruction ------------------------------------------------------------------------------------------


class ReconstructionError(XetFormatError):
    """A reconstruction cannot be planned from the segments and xorb layouts given."""


class RangeNotSatisfiableError(ReconstructionError):
    """The requested byte range starts at or after the end of the file (HTTP 416)."""
