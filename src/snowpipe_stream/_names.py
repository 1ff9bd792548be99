"""Channel names: the rules they follow and the key they are compared by (client and emulator).

Snowflake documents channel names in the URL path (open, append, drop) as case-insensitive,
and the names in a bulk-status body as case-sensitive strings; it documents no length limit
and no character set. The rules below are the ones this library enforces, on both sides, so a
name that would be silently rewritten or refused somewhere between the caller and Snowflake is
refused up front with the rule it breaks (docs/channel-names.md has the sources):

* a channel name is a non-empty ``str`` of at most :data:`MAX_CHANNEL_NAME_CHARS` characters
  (Snowflake's limit for identifiers; a longer name cannot go in a URL safely);
* ``.`` and ``..`` are refused: HTTP clients and proxies remove them from a path as dot segments,
  so the request would reach another endpoint;
* control characters and lone surrogates are refused (they cannot be sent, or break logs), and so
  is whitespace at either end (a name read from a file with its newline is a different channel);
* ``ELASTIC``, in any case, is reserved for the pipe's implicit elastic channel.

Two names are the same channel when their :func:`channel_key` is equal: the key is the name in
upper case, which is how Snowflake stores and resolves case-insensitive identifiers.
"""

from __future__ import annotations

import unicodedata

from ._exceptions import InvalidChannelNameError

__all__ = [
    "MAX_CHANNEL_NAME_CHARS",
    "channel_key",
    "channel_name_problem",
    "check_channel_name",
]

#: Snowflake's limit for an identifier, quoted or not.
MAX_CHANNEL_NAME_CHARS = 255
#: Keys that name no channel a client may open.
RESERVED_KEYS = frozenset({"ELASTIC"})
_DOT_SEGMENTS = frozenset({".", ".."})
# Unicode categories that cannot be in a name: a surrogate has no UTF-8 form at all.
_UNSENDABLE = {"Cc": "the control character", "Cs": "the lone surrogate"}


def channel_key(name: str) -> str:
    """The key two channel names are compared by: equal keys name the same channel."""
    return name.upper()


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 60 else f"{name[:40]!r}... ({len(name):,} characters)"


def channel_name_problem(name: str) -> str | None:
    """What is wrong with ``name`` (the rule it breaks and the fix), or None when it is valid."""
    if not name:
        return "a channel name must not be empty; give the channel a name"
    if len(name) > MAX_CHANNEL_NAME_CHARS:
        return (
            f"channel name {_shown(name)} is too long: at most {MAX_CHANNEL_NAME_CHARS} "
            "characters (Snowflake's identifier limit); use a shorter name"
        )
    if name in _DOT_SEGMENTS:
        return (
            f"channel name {name!r} is not allowed: HTTP removes '.' and '..' from a URL path, "
            "so the request would reach another endpoint; use a name with other characters"
        )
    if name != name.strip():
        return (
            f"channel name {_shown(name)} starts or ends with whitespace; "
            "strip it (a trailing newline from a file is the usual cause)"
        )
    for i, char in enumerate(name):
        kind = _UNSENDABLE.get(unicodedata.category(char))
        if kind is not None:
            return (
                f"channel name {_shown(name)} holds {kind} U+{ord(char):04X} at position {i}; "
                "use printable characters only"
            )
    if channel_key(name) in RESERVED_KEYS:
        return (
            f"channel name {name!r} is reserved for the pipe's elastic channel "
            "(names are case-insensitive); choose another name"
        )
    return None


def check_channel_name(name: object, parameter: str = "name") -> str:
    """Return ``name`` if it is a valid channel name.

    Raises ``TypeError`` (naming ``parameter``) when it is not a ``str``, and
    :class:`~snowpipe_stream.InvalidChannelNameError` when it breaks a rule.
    """
    if not isinstance(name, str):
        raise TypeError(f"{parameter} must be a str (the channel name), got {type(name).__name__}")
    problem = channel_name_problem(name)
    if problem is not None:
        raise InvalidChannelNameError(problem, name=name)
    return name
