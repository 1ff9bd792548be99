"""Records from the inputs of ``ingest``, numbered 1, 2, ... in each input.

A record's number and its input's key (see ``_identity``) make its offset token: that is what
makes ``ingest`` resumable. Records up to ``skip`` are counted but not decoded (they are
committed already). Bad input raises :class:`BadInput` naming the file, the place (a line, or a
record of a JSON array) and the reason; an input that cannot be opened raises :class:`NoInput`
(exit 66), found by :func:`describe` before any connection is made.

**Formats.** An input is read by a :class:`Format`, chosen by ``--format`` or by the file's
extension (:func:`detect`). A format is three functions over *items* (what its reader yields):

- ``items(label, stream)``: ``(place, item, size)`` for each record of a binary stream, in
  order: ``place`` is what :class:`BadInput` names (a line number, or the record's index when
  ``unit`` is ``"record"``), ``size`` its bytes in the input (for batching and progress);
- ``decode(label, place, item)``: the row handed to the channel: a ``dict`` (checked and
  encoded by the channel), or ``bytes`` holding one JSON object and a newline (checked at C
  speed by ``append_ndjson``);
- ``ident(item)``: the bytes that stand for the record in the input's identity hash (see
  ``_identity``): they must not change when the same input is read again, so they come from
  the input's content, not from options that only change how it is interpreted.

One more format (Parquet, Arrow) is one more :class:`Format` in ``_FORMATS`` and an entry in
``_EXTENSIONS``; readers get a buffered binary stream, already decompressed.

Regular files are read through Python's buffered file objects. Anything else (stdin, a pipe, a
FIFO, a terminal) is read through :class:`_Watched`, which tells the caller, before each read
from the OS, whether that read would wait for the writer: ``ingest`` then hands the records it
holds to the channel instead of holding them while the writer is slow.
"""

from __future__ import annotations

import io
import os
import select
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import IO, Any

import click
import msgspec

from .._ndjson import object_block
from . import _csv
from ._compressed import CorruptInput, check_magic, compression_of, decompressed
from ._identity import Content, InputId, Refusal
from ._jsonarray import Elements

__all__ = [
    "EXIT_NOINPUT",
    "FORMATS",
    "BadInput",
    "Format",
    "InputOptions",
    "Meter",
    "NoInput",
    "Record",
    "ShortInput",
    "Source",
    "describe",
    "detect",
    "identify",
    "input_options",
    "read_records",
    "run_format",
]

FORMATS = ("ndjson", "csv", "json", "parquet", "arrow")
#: sysexits.h EX_NOINPUT: an input does not exist or cannot be read.
EXIT_NOINPUT = 66
_encode = msgspec.json.encode

#: Called before each read from a stream input: True when the read would wait for the writer.
OnWait = Callable[[bool], None]

#: (place, item, size): see the module docstring.
Item = tuple[int, Any, int]


@dataclass(frozen=True)
class Format:
    """How to read one input format (see the module docstring)."""

    name: str
    items: Callable[[str, IO[bytes]], Iterator[Item]]
    decode: Callable[[str, int, Any], dict[str, Any] | bytes]
    ident: Callable[[Any], bytes]
    #: What a place counts: "line" (``file:12:``) or "record" (``file: record 12``).
    unit: str = "line"


@dataclass(frozen=True)
class InputOptions:
    """What the user said about the inputs (``input_options`` collects them)."""

    #: ``--format``; None: from each file's extension (stdin: ndjson).
    fmt: str | None = None
    #: ``--delimiter`` (CSV); None: a comma, a tab for ``.tsv``.
    delimiter: str | None = None
    #: The CSV cell text that is null (``--null-value``; ``--no-null``: None, no cell is).
    null_value: str | None = ""
    #: ``--infer-types`` (CSV): numbers and booleans as JSON numbers and booleans.
    infer_types: bool = False

    def csv(self, tsv: bool = False) -> Format:
        delimiter = self.delimiter or ("\t" if tsv else ",")
        options = _csv.CsvOptions(delimiter, self.null_value, self.infer_types)
        return Format("csv", _csv.reader(options, BadInput), _csv.decoder(options), _csv.ident)


@dataclass(frozen=True)
class Record:
    """One input record: one JSON object as bytes and a newline (an NDJSON line, a CSV row, a
    JSON-array element), checked by the channel without being parsed into Python objects; or a
    parsed row (a dict), which the channel checks and encodes (no built-in format yet)."""

    number: int
    source: str
    line: int
    row: dict[str, Any] | bytes
    size: int
    #: What ``line`` counts: "line", or "record" (its index in a JSON array).
    unit: str = "line"
    #: Records it holds: more than one for a block of NDJSON lines (records ``number`` to
    #: ``last``, lines ``line`` on, one each), read whole without a Python object per line.
    count: int = 1
    #: NDJSON lines found to be JSON objects, each ending in ``\\n``, as the reader read them
    #: (``_ndjson.object_block``): the channel does not check them again.
    checked: bool = False

    @property
    def last(self) -> int:
        return self.number + self.count - 1

    def split(self) -> list[Record]:
        """One record per line of a block (to find the line at fault); itself otherwise."""
        if self.count == 1:
            return [self]
        assert isinstance(self.row, bytes)
        return [
            Record(self.number + i, self.source, self.line + i, raw + b"\n", len(raw) + 1)
            for i, raw in enumerate(self.row[:-1].split(b"\n"))
        ]


@dataclass(frozen=True)
class Source:
    """One input as given: ``path`` (``-``: stdin), its label for messages, the name in its
    identity, whether it is a stream (stdin, a pipe: its content cannot be checked), and how it
    is read: ``format``, and whether that was a guess (no known extension, no ``--format``)."""

    path: str
    label: str
    name: str
    stream: bool
    format: Format = field(default_factory=lambda: _FORMATS["ndjson"])
    guessed: bool = False
    #: "gzip", "zstd", "bzip2" (from the extension: see ``_compressed``), or None.
    compression: str | None = None
    #: Bytes in the file (compressed: as stored); None for a stream.
    size: int | None = None


class BadInput(Exception):
    """Bad input at ``line`` of ``source`` (0: the input as a whole); ``unit`` says what
    ``line`` counts ("line", or "record" in a JSON array), ``offset`` the byte it starts at."""

    def __init__(
        self,
        source: str,
        line: int,
        reason: str,
        unit: str = "line",
        offset: int | None = None,
    ) -> None:
        self.source, self.line, self.reason = source, line, reason
        self.unit, self.offset = unit, offset
        super().__init__(f"{source}{self._where(':')}: {reason}")

    def _where(self, sep: str) -> str:
        if self.line == 0:
            return ""
        if self.unit == "line":
            return f"{sep}{self.line}"
        at = f" (byte {self.offset:,})" if self.offset is not None else ""
        return f": record {self.line:,}{at}"

    @property
    def place(self) -> str:
        """Where to fix it, for a hint: ``line 12``, ``record 12 (byte 345)`` or ``it``."""
        if self.line == 0:
            return "the input"
        return f"line {self.line}" if self.unit == "line" else self._where("").lstrip(": ")


class NoInput(BadInput):
    """An input does not exist or cannot be read (exit 66)."""


class ShortInput(Exception):
    """An input ended before the record a rerun resumes after."""

    def __init__(self, source: str, records: int) -> None:
        super().__init__(source, records)
        self.source, self.records = source, records


def input_options(fn: Any) -> Any:
    """The ``ingest`` options that say how to read the inputs; the command gets them as one
    ``inputs: InputOptions`` argument."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        null_value, no_null = kwargs.pop("null_value"), kwargs.pop("no_null")
        if no_null and null_value is not None:
            raise click.UsageError("--null-value and --no-null contradict: give one of them")
        kwargs["inputs"] = InputOptions(
            fmt=kwargs.pop("fmt"),
            delimiter=kwargs.pop("delimiter"),
            null_value=None if no_null else (null_value or ""),
            infer_types=kwargs.pop("infer_types"),
        )
        return fn(*args, **kwargs)

    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default=None,
            help="Input format [default: from the extension: .ndjson/.jsonl, .json, .csv, .tsv, "
            "also under .gz/.zst/.bz2; .parquet; .arrow/.feather/.ipc (arrow); otherwise and "
            "for stdin: ndjson].",
        ),
        click.option(
            "--delimiter",
            callback=_delimiter,
            metavar="CHAR",
            help="CSV field delimiter, one character; \\t (or a tab) for tab [default: a comma; "
            "a tab for .tsv].",
        ),
        click.option(
            "--null-value",
            metavar="TEXT",
            help="A CSV cell that is exactly TEXT is null; empty cells are then empty strings "
            "[default: an empty cell is null].",
        ),
        click.option(
            "--no-null",
            is_flag=True,
            help="No CSV cell is null: an empty cell is an empty string.",
        ),
        click.option(
            "--infer-types",
            is_flag=True,
            help="CSV integers, decimals (every digit kept) and true/false as JSON numbers and "
            "booleans [default: strings, which Snowflake converts to the column's type].",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _delimiter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    value = {"\\t": "\t", "tab": "\t"}.get(value, value)
    if len(value) != 1 or value in '\r\n"':
        raise click.BadParameter(
            f"{value!r} is not one character (a tab: --delimiter '\\t'; not a quote or a "
            "line break)"
        )
    return value


#: Extension (lower case) -> format (``.tsv``: CSV with a tab, handled in :func:`detect`).
_EXTENSIONS = {
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}


def detect(path: str, options: InputOptions) -> tuple[Format, bool, str | None]:
    """The format of ``path``, whether it is a guess (no ``--format``, no known extension), and
    its compression (``x.csv.gz``: csv, gzip).

    ``--format`` always wins; stdin (``-``) is NDJSON unless ``--format`` says otherwise, and
    is not decompressed.
    """
    if path == "-":
        return _format(options.fmt or "ndjson", options), False, None
    compression, stem = compression_of(os.path.basename(path))
    _, ext = os.path.splitext(stem.lower())
    if options.fmt is not None:
        return _format(options.fmt, options, ext == ".tsv"), False, compression
    if ext == ".tsv":
        return options.csv(tsv=True), False, compression
    name = _EXTENSIONS.get(ext)
    if name is None:
        return _FORMATS["ndjson"], True, compression
    return _format(name, options), False, compression


def _format(name: str, options: InputOptions, tsv: bool = False) -> Format:
    return options.csv(tsv) if name == "csv" else _FORMATS[name]


def run_format(sources: list[Source]) -> str:
    """The formats of a run, as the identity chain hashes them: one name when every input has
    the same format (so ``--format csv`` and a ``.csv`` extension make the same keys)."""
    return ",".join(sorted({s.format.name for s in sources}))


def guess_hint(exc: BadInput, sources: list[Source]) -> str | None:
    """When the first line of an input whose format was guessed is bad: the hint to name it."""
    if exc.line != 1 or exc.unit != "line":
        return None
    for s in sources:
        if s.label == exc.source and s.guessed:
            return (
                f"{s.label} has no known extension (.ndjson, .jsonl, .json, .csv, .tsv, also "
                f"under .gz, .zst, .bz2; .parquet, .arrow), so it was read as "
                f"{s.format.name.upper()}: give --format csv, --format json, --format parquet, "
                "--format arrow or --format ndjson"
            )
    return None


def describe(
    paths: list[str], input_id: str | None, options: InputOptions = InputOptions()
) -> list[Source]:
    """The inputs of a run; :class:`NoInput` when one cannot be opened (before anything
    connects), :class:`Refusal` when one cannot be identified on a rerun.

    A regular file is named by its base name (``--input-id`` renames a single file: to resume
    a file that was renamed); stdin or a pipe has no content to check, so ``--input-id`` names
    it, and there can be one only.
    """
    sources: list[Source] = []
    for path in paths:
        fmt, guessed, compression = detect(path, options)
        if path == "-":
            sources.append(Source(path, "<stdin>", "", True, fmt, guessed))
            continue
        try:
            st = os.stat(path)
        except OSError as exc:
            raise NoInput(path, 0, f"cannot open: {exc.strerror}") from None
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise NoInput(path, 0, "cannot open: Is a directory")
        regular = stat.S_ISREG(mode)
        if regular:  # opening checks the permissions (a pipe is opened once, when it is read)
            try:
                os.close(os.open(path, os.O_RDONLY))
            except OSError as exc:
                raise NoInput(path, 0, f"cannot open: {exc.strerror}") from None
            wrong = compression and check_magic(path, compression)
            if wrong:
                raise BadInput(path, 0, wrong)
        name = os.path.basename(path) if regular else ""
        size = st.st_size if regular else None
        sources.append(Source(path, path, name, not regular, fmt, guessed, compression, size))
    streams = [s for s in sources if s.stream]
    if len(streams) > 1:
        raise Refusal(
            f"{streams[0].label} and {streams[1].label} are both streams (stdin or pipes): a "
            "run can read one only, as it is named by --input-id",
            "ingest them in separate runs (each with its own --input-id), or save them to files",
        )
    if input_id is not None and not input_id:
        raise Refusal("--input-id is empty", "give the input a name, for example --input-id feed")
    if streams:
        if input_id is None:
            raise Refusal(
                f"{streams[0].label} is a stream: its content cannot be checked on a rerun, so "
                "it needs a name",
                "give --input-id NAME; a rerun with the same NAME resumes after the last "
                "committed record, so use the same NAME only for the same data, sent again from "
                "its first record",
            )
        return [replace(s, name=input_id) if s.stream else s for s in sources]
    if input_id is not None:
        if len(sources) != 1:
            raise Refusal(
                f"--input-id names stdin, or a single file, but these are {len(sources)} files",
                "drop --input-id (files are named by their base name), or ingest the file on "
                "its own",
            )
        return [replace(sources[0], name=input_id)]
    return sources


class Meter:
    """How far the reading of a run's inputs is: bytes read of the files (of a compressed file,
    its compressed bytes) and their total, when every input is a file (a stream's is unknown).
    """

    def __init__(self, sources: list[Source]) -> None:
        sizes = [s.size for s in sources]
        self.total: int | None = None if None in sizes else sum(s or 0 for s in sizes)
        self._done = 0
        self._raw: IO[bytes] | None = None

    @property
    def read(self) -> int:
        raw = self._raw
        return self._done + (raw.tell() if raw is not None and not raw.closed else 0)

    def start(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def finish(self, source: Source) -> None:
        self._raw = None
        self._done += source.size or 0


def read_records(
    source: Source,
    skip: int = 0,
    content: Content | None = None,
    on_wait: OnWait | None = None,
    meter: Meter | None = None,
) -> Iterator[Record]:
    """Every record of ``source`` in order; records numbered ``<= skip`` are not decoded.

    ``content`` (files) is fed each record before it is yielded, until it is full. An input
    with fewer than ``skip`` records raises :class:`ShortInput` at its end. ``meter`` follows
    the bytes read.
    """
    fmt = source.format
    decode, ident, unit = fmt.decode, fmt.ident, fmt.unit
    label = source.label
    number = 0
    with _open(source, on_wait, meter) as stream:
        items = fmt.items(label, stream)
        try:
            if content is not None:
                for line, item, size in items:
                    number += 1
                    content.add(ident(item))
                    if number > skip:
                        yield Record(number, label, line, decode(label, line, item), size, unit)
                    if content.full:
                        break
            line, blocks = 0, False
            for line, item, size in items:
                number += 1
                if number > skip:
                    yield Record(number, label, line, decode(label, line, item), size, unit)
                if number >= skip and fmt.name == "ndjson" and not source.stream:
                    blocks = True  # the rest in blocks (the generator has read no further)
                    break
            if blocks:
                for record in _ndjson_blocks(stream, label, number, line):
                    number = record.last
                    yield record
        except CorruptInput as exc:
            raise BadInput(label, number + 1, str(exc), unit="record") from None
    if number < skip:
        raise ShortInput(label, number)


def identify(source: Source, count: int | None) -> InputId:
    """``source``'s identity with its hash over its first ``count`` records (None: up to
    ``IDENTITY_BYTES``); a stream's is its name."""
    if source.stream:
        return InputId(source.name, None, None)
    fmt = source.format
    content = Content()
    with _open(source, None) as stream:
        try:
            for _, item, _ in fmt.items(source.label, stream):
                if content.full or content.count == count:
                    break
                content.add(fmt.ident(item))
        except CorruptInput as exc:
            raise BadInput(source.label, content.count + 1, str(exc), unit="record") from None
    return content.identity(source.name)


@contextmanager
def _open(
    source: Source, on_wait: OnWait | None, meter: Meter | None = None
) -> Iterator[IO[bytes]]:
    """The bytes of ``source``, decompressed."""
    if source.path == "-":
        fd, close = sys.stdin.fileno(), False
    else:
        try:
            fd, close = os.open(source.path, os.O_RDONLY), True
        except OSError as exc:
            raise NoInput(source.label, 0, f"cannot open: {exc.strerror}") from None
    with ExitStack() as stack:
        # (select() does not take pipes on Windows: there a stream is read like a file.)
        if stat.S_ISREG(os.fstat(fd).st_mode) or on_wait is None or os.name == "nt":
            raw: IO[bytes] = stack.enter_context(open(fd, "rb", closefd=close))
        else:
            raw = stack.enter_context(io.BufferedReader(_Watched(fd, close, on_wait), 1 << 16))
        if meter is not None and not source.stream:
            meter.start(raw)
            stack.callback(meter.finish, source)
        if source.compression is None:
            yield raw
        else:
            yield stack.enter_context(decompressed(raw, source.compression))


class _Watched(io.RawIOBase):
    """A stream input (a pipe, a terminal) that says before each read whether it would wait."""

    def __init__(self, fd: int, close: bool, on_wait: OnWait) -> None:
        self._fd, self._close, self._on_wait = fd, close, on_wait

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        ready, _, _ = select.select([self._fd], [], [], 0)
        self._on_wait(not ready)
        data = os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed and self._close:
            os.close(self._fd)
        super().close()


#: Bytes read at a time by the NDJSON block reader.
BLOCK_BYTES = 1 << 20


def _ndjson_blocks(stream: IO[bytes], label: str, number: int, line: int) -> Iterator[Record]:
    """The rest of an NDJSON file as blocks of whole lines: one :class:`Record` per block when
    every line of it starts with ``{`` (the usual file: counted by its newlines, checked by the
    channel at C speed), else one per non-blank line, as :func:`_ndjson` reads them."""
    for block in _whole_lines(stream):
        # The usual block: every line one JSON object, checked here once for the channel.
        n = object_block(block)
        if n:
            yield Record(number + 1, label, line + 1, block, len(block), count=n, checked=True)
            number, line = number + n, line + n
            continue
        n = block.count(b"\n")
        # Every line starts with "{" (so none is blank). A CR before a line end is JSON
        # whitespace: such lines go as they are (the channel accepts CRLF).
        if block[:1] == b"{" and block.count(b"\n{") == n - 1:
            yield Record(number + 1, label, line + 1, block, len(block), count=n)
            number, line = number + n, line + n
            continue
        for raw in block.splitlines(keepends=True):
            line += 1
            if raw.strip():
                number += 1
                yield Record(number, label, line, _decode_ndjson(label, line, raw), len(raw))


def _whole_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """About :data:`BLOCK_BYTES` of whole lines at a time; the last is given its newline."""
    rest = b""
    while data := stream.read(BLOCK_BYTES):
        cut = data.rfind(b"\n") + 1
        if not cut:  # no line ends in it yet (a long line): read on
            rest += data
            continue
        # One copy at most (none for a read that ends at a line end with nothing before it).
        block = b"".join((rest, memoryview(data)[:cut])) if rest or cut < len(data) else data
        rest = data[cut:]
        yield block
    if rest:
        yield rest + b"\n"


def _ndjson(source: str, stream: IO[bytes]) -> Iterator[Item]:
    for line_no, raw in enumerate(stream, 1):
        if raw.strip():
            yield line_no, raw, len(raw)


def _decode_ndjson(source: str, line: int, raw: bytes) -> bytes:
    # Kept as JSON: the channel checks whole chunks of lines at C speed (append_ndjson).
    return raw if raw.endswith(b"\n") and not raw.endswith(b"\r\n") else raw.rstrip(b"\r\n") + b"\n"


def _ident_ndjson(raw: bytes) -> bytes:
    return raw.rstrip(b"\r\n")


def _json(source: str, stream: IO[bytes]) -> Iterator[Item]:
    return iter(Elements(source, stream, BadInput))


def _decode_element(source: str, line: int, item: tuple[Any, bytes]) -> bytes:
    # The element's own text on one line: line breaks in it are whitespace between tokens.
    text = item[1]
    if b"\n" in text or b"\r" in text:
        text = text.replace(b"\n", b" ").replace(b"\r", b" ")
    return text + b"\n"


def _ident_element(item: tuple[Any, bytes]) -> bytes:
    # The object as msgspec encodes it (not its text): the same key as before JSON inputs were
    # streamed, and the same whatever the layout of the file.
    return _encode(item[0])


_FORMATS: dict[str, Format] = {
    "ndjson": Format("ndjson", _ndjson, _decode_ndjson, _ident_ndjson),
    "json": Format("json", _json, _decode_element, _ident_element, unit="record"),
}

# Parquet and Arrow IPC (pyarrow): a module of their own, which imports BadInput from here.
from ._columnar import COLUMNAR_FORMATS  # noqa: E402

_FORMATS.update(COLUMNAR_FORMATS)
