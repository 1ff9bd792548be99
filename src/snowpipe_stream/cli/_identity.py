"""Which input a committed offset token belongs to, and where a rerun resumes (pure).

``ingest`` gives the record ``n`` (1-based, counted within its input) the offset token
``KEY:n``. The key names the input::

    events.ndjson@3f2a9c1e4b5d6a7f:1000        a file whose first 64 KiB of records are hashed
    events.ndjson@9c1e4b5d6a7f3f2a+2:2         a file whose hash covers only its first 2 records
    feed@b5d6a7f3f2a9c1e4:17                   stdin (or a pipe), named with --input-id feed

``NAME@HASH[+K][/N]``: NAME is the file's base name (or ``--input-id``) for people to read; HASH is
a SHA-256 (first 16 hex digits) over the format, then for every input of the run up to and
including this one: its name and its *content identity*. A file's content identity is a hash of
its first records, up to the first 64 KiB of them (``IDENTITY_BYTES``); a stream has none (its
name is all there is). So a key says "this file, after these inputs, read as this format".

Why the first records and not the first bytes: the hash of a token covers only records that are
committed whenever that token is. A chunk of records ``s..e`` is sent with the key computed
when record ``s`` was read, which covers records ``1..s`` at most: when any token ``KEY:n`` with
``n >= s`` is committed, every record the key covers is committed too. So a file that grows by
appends keeps its key (its first records do not change), and fixing a bad line that stopped a
run (it was not committed) does not change the key either. ``+K`` says the hash covers the
first K records only (fewer than 64 KiB of them had been read); without it the hash covers the
first records up to 64 KiB. ``/N`` says the run spread its records over N channels
(``--channels N``, see ``_shards``): each channel's token is then only about the records that
channel owns, and a rerun must spread them the same way.

The rule a rerun follows (:func:`resume_point`):

- no committed token: every input is sent from its first record;
- the token's key is the key of input ``j`` of this run (same name, same first records, same
  inputs before it, same format): inputs before ``j`` are committed, ``j`` resumes after record
  ``n``, the inputs after it are sent whole. Commits come in order, so this is exactly the
  rest of what that run would have sent;
- otherwise the channel belongs to another input (or another program): :class:`Refusal`,
  exit 2, never a silent skip. ``--restart`` sends the inputs from their first record
  instead; it is refused when the token belongs to one of the inputs, as it would send
  committed records again (drop the channel or use a new one to load an input twice).

A stream (stdin, a pipe) cannot be checked: a rerun with the same ``--input-id`` is taken to
replay the same records from the first, and resumes after the committed one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "IDENTITY_BYTES",
    "Chain",
    "Content",
    "InputId",
    "Refusal",
    "Token",
    "input_key",
    "parse_token",
    "resume_point",
    "spread_refusal",
    "token_input",
]

#: How much of a file's first records its identity covers.
IDENTITY_BYTES = 64 * 1024
#: Characters of an input's name shown in its offset tokens (the hash covers the whole name).
_SHOWN = re.compile(r"[^A-Za-z0-9._-]")
_MAX_SHOWN = 64
_TOKEN = re.compile(
    r"(?P<key>(?P<base>(?P<name>[A-Za-z0-9._-]{1,64})@(?P<hash>[0-9a-f]{16})"
    r"(?:\+(?P<count>0|[1-9][0-9]*))?)(?:/(?P<shards>[2-9]|[1-9][0-9]+))?)"
    r":(?P<n>[1-9][0-9]*)"
)


class Refusal(Exception):
    """The run cannot go on safely: a message and what to do (exit 2)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class InputId:
    """What identifies one input: its name, and for a file a hash of its first records.

    ``count`` is how many records the hash covers when that is less than ``IDENTITY_BYTES``
    of them (the file is that short, or only that much of it was read); None when it covers
    ``IDENTITY_BYTES`` (and for a stream, which has no ``digest``).
    """

    name: str
    digest: str | None
    count: int | None


class Content:
    """A file's first records, hashed until ``IDENTITY_BYTES`` of them are covered."""

    __slots__ = ("_hash", "count", "full", "nbytes")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0
        self.nbytes = 0
        self.full = False

    def add(self, record: bytes) -> None:
        """Cover one more record (its bytes, without line ending); sets ``full`` at the limit."""
        self._hash.update(b"%d\n" % len(record))
        self._hash.update(record)
        self.count += 1
        self.nbytes += len(record)
        self.full = self.nbytes >= IDENTITY_BYTES

    def identity(self, name: str) -> InputId:
        return InputId(name, self._hash.hexdigest(), None if self.full else self.count)


@dataclass(frozen=True)
class Token:
    """A committed offset token that ``ingest`` wrote: ``key:record``."""

    key: str
    name: str
    hash: str
    count: int | None
    record: int
    #: The key without its ``/N``: what identifies the input.
    base: str = ""
    #: Over how many channels the run that wrote it spread its records (``/N``; 1 without).
    shards: int = 1


def parse_token(token: str) -> Token | None:
    """The parts of an ``ingest`` token, or None when ``ingest`` did not write it."""
    m = _TOKEN.fullmatch(token)
    if m is None:
        return None
    count, shards = m["count"], m["shards"]
    return Token(
        m["key"],
        m["name"],
        m["hash"],
        int(count) if count else None,
        int(m["n"]),
        m["base"],
        int(shards) if shards else 1,
    )


def shown_name(name: str) -> str:
    """The part of an input's name that goes into its tokens: safe characters, 64 at most."""
    return _SHOWN.sub("_", name)[:_MAX_SHOWN] or "input"


class Chain:
    """The format and the inputs read so far: what a key hashes before its own input.

    Keeps a running hash, so a run of many inputs costs one hash update per input.
    """

    def __init__(self, fmt: str, inputs: Sequence[InputId] = (), shards: int = 1) -> None:
        #: ``--channels N``: keys end with ``/N`` when N > 1.
        self.shards = shards
        self._hash = hashlib.sha256(b"snowpipe-stream ingest 1\n" + fmt.encode() + b"\n")
        for item in inputs:
            self.add(item)

    def add(self, item: InputId) -> None:
        """Input ``item`` is read whole: later inputs come after it."""
        self._hash.update(_line(item))

    def key(self, this: InputId) -> str:
        """The token prefix (without ``:``) of input ``this``, read after the inputs added."""
        h = self._hash.copy()
        h.update(_line(this))
        suffix = f"+{this.count}" if this.count is not None else ""
        spread = f"/{self.shards}" if self.shards > 1 else ""
        return f"{shown_name(this.name)}@{h.hexdigest()[:16]}{suffix}{spread}"


def _line(item: InputId) -> bytes:
    return json.dumps([item.name, item.digest, item.count]).encode() + b"\n"


def input_key(fmt: str, before: Sequence[InputId], this: InputId) -> str:
    """The token prefix (without ``:``) of input ``this`` read after ``before``."""
    return Chain(fmt, before).key(this)


@dataclass(frozen=True)
class Resume:
    """Where a run starts: input ``start``, after its record ``skip`` (0: its first)."""

    start: int
    skip: int
    #: The identities of the inputs before ``start`` (committed whole), for later keys.
    before: tuple[InputId, ...]


def spread_refusal(channel: str, committed: str, token: Token, label: str, shards: int) -> Refusal:
    """A channel holds records of these inputs sent with another ``--channels``."""
    return Refusal(
        f"channel {channel!r} has committed record {token.record:,} of {label} (offset token "
        f"{committed!r}) from a run with --channels {token.shards}, and this run has "
        f"--channels {shards}: each channel resumes only the records it owns, so the inputs "
        "must be spread the same way. Nothing was sent",
        f"run the same command with --channels {token.shards} to resume; to load these inputs "
        "again in full, use a new --channel, or drop the channels first "
        "(snowpipe-stream drop-channel)",
    )


def token_input(
    fmt: str,
    labels: Sequence[str],
    identify: Callable[[int, int | None], InputId],
    token: Token,
) -> int | None:
    """The index of the input of this run that ``token`` is a record of (whatever its
    ``/N``), or None when it belongs to another input."""
    chain = Chain(fmt)
    for i in range(len(labels)):
        if chain.key(identify(i, token.count)) == token.base:
            return i
        chain.add(identify(i, None))
    return None


def resume_point(
    fmt: str,
    labels: Sequence[str],
    identify: Callable[[int, int | None], InputId],
    channel: str,
    committed: str | None,
    restart: bool,
    shards: int = 1,
) -> Resume:
    """Where this run resumes, given the channel's committed token (see the module docstring).

    ``labels`` name the inputs for messages; ``identify(i, count)`` is input ``i``'s identity
    with its hash over its first ``count`` records (None: up to ``IDENTITY_BYTES``). It reads
    files, so it is called only when the committed token is one of ours. ``shards`` is this
    run's ``--channels``: a token of these inputs written with another is refused.
    """
    if committed is None:
        return Resume(0, 0, ())
    token = parse_token(committed)
    if token is None:
        if restart:
            return Resume(0, 0, ())
        raise Refusal(
            f"channel {channel!r} has committed offset token {committed!r}, which "
            "`snowpipe-stream ingest` did not write (its tokens name the input: "
            "NAME@HASH:RECORD; older versions wrote bare record numbers): it cannot tell which "
            "record of these inputs comes next",
            f"use a new --channel for these inputs, or add --restart to send them into "
            f"{channel!r} from their first record (no record is skipped)",
        )
    before: list[InputId] = []
    chain = Chain(fmt)
    for i, label in enumerate(labels):
        if chain.key(identify(i, token.count)) == token.base:
            if token.shards != shards:
                raise spread_refusal(channel, committed, token, label, shards)
            if restart:
                raise Refusal(
                    f"--restart, but channel {channel!r} has committed record "
                    f"{token.record:,} of {label} (offset token {committed!r}), one of these "
                    f"inputs: starting over would send records that are loaded already",
                    "run the same command without --restart to resume after that record; to "
                    "load these inputs again in full, use a new --channel, or drop the channel "
                    "first (snowpipe-stream drop-channel)",
                )
            return Resume(i, token.record, tuple(before))
        before.append(identify(i, None))
        chain.add(before[-1])
    if restart:
        return Resume(0, 0, ())
    same_name = [
        label
        for label, item in zip(labels, before, strict=True)
        if shown_name(item.name) == token.name
    ]
    why = (
        f"; {same_name[0]} has that name, but not the same first records, or not after the "
        "same inputs"
        if same_name
        else ""
    )
    raise Refusal(
        f"channel {channel!r} has committed record {token.record:,} of another input (offset "
        f"token {committed!r}, an input named {token.name}){why}. Nothing was sent",
        f"to load new data, use a new --channel, or add --restart to send these inputs into "
        f"{channel!r} from their first record; to resume the run that wrote the token, give the "
        "inputs it had, in the same order (a renamed file: --input-id OLD-NAME)",
    )
