"""Credentials that change under a running client: rotated keys, rotated PATs, a drifting clock.

:class:`KeySource` is where the signing key comes from: a fixed key, a file that is re-read
when it changes (noticed by a ``stat`` -- inode, size, mtime -- never by reading it), or a
callable (a secret manager). Snowflake's rotation procedure is to register the new public key
in the user's free slot (``ALTER USER u SET RSA_PUBLIC_KEY_2 = '...'``), move the clients to
the new private key, then ``ALTER USER u UNSET RSA_PUBLIC_KEY``
(https://docs.snowflake.com/en/user-guide/key-pair-auth, "Configuring key-pair rotation"):
a client that notices the new file before the old key is unset never sends a rejected token,
and one that learns it from a 401 reloads before its retry.

:func:`matching_key_slot` tells which of a user's two registered keys a private key matches
(what ``DESC USER`` shows as ``RSA_PUBLIC_KEY_FP`` / ``RSA_PUBLIC_KEY_2_FP``).

Nothing here logs key material or a token: fingerprints, file names and lengths only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from ._exceptions import ConfigError, PrivateKeyError
from ._keys import PrivateKey
from ._logfields import log_fields

__all__ = [
    "KeySource",
    "PrivateKeyProvider",
    "file_signature",
    "matching_key_slot",
]

_log = logging.getLogger("snowpipe_stream.auth")

#: A callable that returns the current private key (from a secret manager, say).
PrivateKeyProvider = Callable[[], PrivateKey]


class FileSignature(NamedTuple):
    """What a ``stat`` tells about a file's content without reading it."""

    inode: int
    size: int
    mtime_ns: int


def file_signature(path: str | os.PathLike[str]) -> FileSignature | None:
    """The file's (inode, size, mtime) or None when it cannot be stat'ed (mid-replacement)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileSignature(st.st_ino, st.st_size, st.st_mtime_ns)


class KeySource:
    """The signing key of a :class:`~snowpipe_stream.JwtManager`, and how it is renewed.

    Three levels of checking, from cheapest:

    * :meth:`poll` (every control-host request): for a file, one ``stat``; reload only when
      inode, size or mtime changed. A provider is not called.
    * :meth:`at_mint` (each new JWT): ``poll``, and a provider is called.
    * :meth:`after_unauthorized` (before retrying a 401): the file is re-read even when its
      ``stat`` looks unchanged (an in-place rewrite within one mtime tick); a provider is
      called.

    Each returns True when the key's fingerprint changed. A file that cannot be loaded (being
    written, say) keeps the previous key and is tried again at the next check.
    """

    def __init__(
        self,
        key: PrivateKey,
        *,
        path: str | os.PathLike[str] | None = None,
        passphrase: str | None = None,
        provider: PrivateKeyProvider | None = None,
    ) -> None:
        if not isinstance(key, PrivateKey):
            raise ConfigError("the private key must be a PrivateKey")
        self._key = key
        self._path = Path(path) if path is not None else None
        self._passphrase = passphrase
        self._provider = provider
        self._signature = file_signature(self._path) if self._path is not None else None
        self._failed: FileSignature | None = None
        self._lock = threading.Lock()
        self.reloads = 0

    @classmethod
    def from_provider(cls, provider: PrivateKeyProvider) -> KeySource:
        """Call ``provider`` once now (a bad provider fails here, not mid-stream)."""
        if not callable(provider):
            raise ConfigError("private_key_provider must be a callable returning a PrivateKey")
        return cls(_call_provider(provider), provider=provider)

    @property
    def key(self) -> PrivateKey:
        return self._key

    @property
    def kind(self) -> str:
        if self._provider is not None:
            return "provider"
        return "file" if self._path is not None else "fixed"

    def poll(self) -> bool:
        if self._path is None:
            return False
        sig = file_signature(self._path)
        if sig is None or sig == self._signature or sig == self._failed:
            return False
        return self._reload_file(sig)

    def at_mint(self) -> bool:
        if self._provider is not None:
            return self._take(_call_provider(self._provider), "the private key provider")
        return self.poll()

    def after_unauthorized(self) -> bool:
        if self._provider is not None:
            return self.at_mint()
        if self._path is None:
            return False
        sig = file_signature(self._path)
        if sig is None:
            return False
        return self._reload_file(sig)

    # --- internals ------------------------------------------------------------------------

    def _reload_file(self, sig: FileSignature) -> bool:
        assert self._path is not None
        try:
            key = PrivateKey.from_file(self._path, self._passphrase)
        except PrivateKeyError as exc:
            # Being written, or replaced by something unusable: keep signing with the key we
            # have, say so once for this version of the file, and look again next time.
            self._failed = sig
            _log.warning(
                "private key file changed but cannot be loaded; still signing with %s (%s)",
                self._key.fingerprint,
                exc,
                extra=log_fields(fingerprint=self._key.fingerprint),
            )
            return False
        self._signature, self._failed = sig, None
        return self._take(key, f"private key file {str(self._path)!r}")

    def _take(self, key: PrivateKey, where: str) -> bool:
        with self._lock:
            old = self._key
            if key.fingerprint == old.fingerprint:
                return False
            self._key = key
            self.reloads += 1
        _log.info(
            "private key changed (%s): fingerprint %s -> %s; new JWTs are signed with it",
            where,
            old.fingerprint,
            key.fingerprint,
            extra=log_fields(fingerprint=key.fingerprint),
        )
        return True

    def __repr__(self) -> str:
        return f"KeySource({self.kind}, fingerprint={self._key.fingerprint!r})"


def _call_provider(provider: PrivateKeyProvider) -> PrivateKey:
    key = provider()
    if not isinstance(key, PrivateKey):
        raise ConfigError(
            "private_key_provider must return a PrivateKey (PrivateKey.from_pem(text) or "
            f"from_file(path)), got {type(key).__name__}"
        )
    return key


def matching_key_slot(
    key: PrivateKey, rsa_public_key_fp: str | None, rsa_public_key_2_fp: str | None
) -> str | None:
    """Which of the user's registered keys ``key`` is: ``"RSA_PUBLIC_KEY"``,
    ``"RSA_PUBLIC_KEY_2"`` or None (neither), given the fingerprints ``DESC USER`` shows."""
    fp = key.fingerprint
    if rsa_public_key_fp and rsa_public_key_fp.strip() == fp:
        return "RSA_PUBLIC_KEY"
    if rsa_public_key_2_fp and rsa_public_key_2_fp.strip() == fp:
        return "RSA_PUBLIC_KEY_2"
    return None
