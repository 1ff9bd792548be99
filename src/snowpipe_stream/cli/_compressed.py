"""Compressed inputs of ``ingest`` (``.gz``, ``.zst``, ``.bz2``), read as if they were not.

The compression comes from the file name's last extension; what is under it (``x.csv.gz``)
names the format. The decompressed bytes go to the format's reader through a buffered stream;
data that is not what the extension says, or that is cut short, raises :class:`BadInput` naming
the compressed byte it was found at.

What the identity hash covers (see ``_identity``): the *decompressed records*, as for any other
input, and the name with its extension. Not the compressed bytes: the same records compressed at
another level or by another tool are the same input, a ``.gz`` that grows by appended members
(``cat more.gz >> x.gz``, valid gzip) keeps its first records and so its key, and the hash must
cover only records that are committed whenever its token is, which a hash of compressed bytes
(that mixes records with what follows them in a block) cannot promise.
"""

from __future__ import annotations

import bz2
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import zstandard

__all__ = ["COMPRESSIONS", "MAGIC", "check_magic", "compression_of", "decompressed"]

#: File name extension (lower case) -> compression.
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bzip2"}
#: What each compressed file starts with.
MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "bzip2": b"BZh"}
#: Decompressed bytes read at a time.
_CHUNK = 1 << 16


def compression_of(name: str) -> tuple[str | None, str]:
    """The compression of a file name, and the name without its compression extension."""
    lower = name.lower()
    for ext, kind in COMPRESSIONS.items():
        if lower.endswith(ext):
            return kind, name[: -len(ext)]
    return None, name


def check_magic(path: str, kind: str) -> str | None:
    """Why ``path`` is not ``kind`` data (None when it starts as it should, or is empty)."""
    with open(path, "rb") as f:
        head = f.read(4)
    magic = MAGIC[kind]
    if head and not head.startswith(magic[: len(head)]):
        return f"not {kind} data (the file name ends in a {kind} extension)"
    return None


class _Errors(io.RawIOBase):
    """Decompressed bytes; a decompression error (each library has its own) becomes
    :class:`CorruptInput`, naming the compressed byte reached."""

    def __init__(self, inner: Any, raw: IO[bytes], kind: str) -> None:
        self._inner, self._raw, self._kind = inner, raw, kind

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n: int = self._inner.readinto(buffer)
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            raise CorruptInput(
                f"cannot decompress ({self._kind}) near compressed byte {self._raw.tell():,}: {exc}"
            ) from None
        return n

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class _Zstd(io.RawIOBase):
    """Zstandard frames, one after another, decompressed; an input that ends inside a frame is
    an error (``stream_reader`` takes it for the end: a cut-short file would look complete)."""

    #: Compressed bytes decompressed at a time: bounds the output of one step (16 KiB of
    #: text compressed 20:1 is 320 KiB).
    _READ = 1 << 14

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._out = memoryview(b"")
        self._unused = b""
        self._inside = False  # a frame has begun and not ended

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            data = self._unused or self._raw.read(self._READ)
            self._unused = b""
            if not data:
                if self._inside:
                    raise zstandard.ZstdError("the data ends inside a frame (cut short?)")
                return 0
            self._inside = True
            self._out = memoryview(self._obj.decompress(data))
            if self._obj.eof:
                self._unused = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                self._inside = False
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


class CorruptInput(Exception):
    """Compressed data that cannot be decompressed; the message says where and why."""


@contextmanager
def decompressed(raw: IO[bytes], kind: str) -> Iterator[IO[bytes]]:
    """The decompressed content of ``raw`` (left open: the caller closes it)."""
    inner: Any
    if kind == "gzip":
        inner = gzip.GzipFile(fileobj=raw, mode="rb")
    elif kind == "bzip2":
        inner = bz2.BZ2File(raw, mode="rb")
    else:
        inner = _Zstd(raw)
    stream = io.BufferedReader(_Errors(inner, raw, kind), _CHUNK)
    try:
        yield stream
    finally:
        stream.close()
