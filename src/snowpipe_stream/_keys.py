"""RSA private keys for key-pair authentication.

:class:`PrivateKey` loads a key in any of the forms Snowflake users keep one in (PEM PKCS#8,
encrypted or not; PEM PKCS#1; base64 DER or a bare PEM body without its header lines, as
connector configs often hold it; raw DER bytes), signs JWTs with it, and carries the public
key's fingerprint, computed once at load. No error message and no ``repr`` ever shows key
material: at most the fingerprint, which is public.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ._constants import MIN_RSA_KEY_BITS
from ._exceptions import PrivateKeyError
from ._logfields import log_fields

__all__ = ["PrivateKey", "public_key_fingerprint"]

_log = logging.getLogger("snowpipe_stream.auth")

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_PASSPHRASE_HINT = (
    "give its passphrase (private_key_passphrase, SNOWFLAKE_PRIVATE_KEY_PASSPHRASE, or the "
    "CLI's --private-key-passphrase-env VAR)"
)
_FORMS = (
    "expected an RSA private key as PEM (BEGIN PRIVATE KEY, BEGIN ENCRYPTED PRIVATE KEY or "
    "BEGIN RSA PRIVATE KEY), as base64 DER, or as a PEM body without its header lines"
)


def public_key_fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """``SHA256:`` + base64 of the SHA-256 of the DER SubjectPublicKeyInfo.

    The same value as ``RSA_PUBLIC_KEY_FP`` in Snowflake's ``DESC USER`` and as
    ``openssl rsa -pubout -outform DER | openssl dgst -sha256 -binary | base64``.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


class PrivateKey:
    """An RSA private key that signs key-pair JWTs.

    Build it with :meth:`from_pem`, :meth:`from_file` or :meth:`generate`; the constructor takes
    an already loaded ``cryptography`` RSA key.
    """

    __slots__ = ("_fingerprint", "_key")

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise PrivateKeyError(_not_rsa_message(key))
        fingerprint = public_key_fingerprint(key.public_key())
        if key.key_size < MIN_RSA_KEY_BITS:
            _log.warning(
                "the private key has %d bits; Snowflake requires RSA keys of at least %d bits "
                "and may reject it (fingerprint %s)",
                key.key_size,
                MIN_RSA_KEY_BITS,
                fingerprint,
                extra=log_fields(fingerprint=fingerprint),
            )
        self._key = key
        self._fingerprint = fingerprint

    # --- constructors ---------------------------------------------------------------------

    @classmethod
    def from_pem(cls, data: str | bytes, passphrase: str | bytes | None = None) -> PrivateKey:
        """Load a key from PEM text, base64 DER text, a bare PEM body, or DER bytes."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        pw = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        if pw == b"":
            pw = None
        if not raw.strip():
            raise PrivateKeyError("the private key is empty; " + _FORMS)
        loaded = _load(raw, pw)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise PrivateKeyError(_not_rsa_message(loaded))
        return cls(loaded)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], passphrase: str | bytes | None = None
    ) -> PrivateKey:
        """Load a key from a file (any form :meth:`from_pem` accepts)."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise PrivateKeyError(f"private key file {str(p)!r} does not exist") from None
        except IsADirectoryError:
            raise PrivateKeyError(
                f"private key file {str(p)!r} is a directory; give the path of the key file"
            ) from None
        except PermissionError:
            raise PrivateKeyError(
                f"private key file {str(p)!r} cannot be read (permission denied)"
            ) from None
        except OSError as exc:
            raise PrivateKeyError(
                f"private key file {str(p)!r} cannot be read: {exc.strerror}"
            ) from None
        if not raw.strip():
            raise PrivateKeyError(f"private key file {str(p)!r} is empty; " + _FORMS)
        try:
            return cls.from_pem(raw, passphrase)
        except PrivateKeyError as exc:
            raise PrivateKeyError(f"private key file {str(p)!r}: {exc}") from None

    @classmethod
    def generate(cls, bits: int = 2048) -> PrivateKey:
        """A new random RSA key (for tests, demos and ``snowpipe-stream keygen``)."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits))

    # --- properties -----------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """``SHA256:<base64>`` of the public key, as ``DESC USER`` shows it."""
        return self._fingerprint

    @property
    def bits(self) -> int:
        return self._key.key_size

    @property
    def crypto_key(self) -> rsa.RSAPrivateKey:
        """The underlying ``cryptography`` key object."""
        return self._key

    def public_key_pem(self) -> str:
        """The public key as PEM (``BEGIN PUBLIC KEY``)."""
        return (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def public_key_body(self) -> str:
        """The public key as one line of base64, as ``ALTER USER ... RSA_PUBLIC_KEY`` takes it."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def private_key_pem(self, passphrase: str | bytes | None = None) -> bytes:
        """The key as PKCS#8 PEM, encrypted when a passphrase is given. Handle with care."""
        pw = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (the RS256 JWT signature)."""
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def __repr__(self) -> str:
        return f"PrivateKey(bits={self.bits}, fingerprint={self._fingerprint!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the key in the clear to wherever the pickle goes.
        raise TypeError("PrivateKey cannot be pickled (it would expose the key)")


# --- loading -------------------------------------------------------------------------------


_Loader = Callable[[bytes | None], PrivateKeyTypes]


def _load(raw: bytes, pw: bytes | None) -> PrivateKeyTypes:
    m = _PEM_BEGIN.search(raw)
    if m is not None:
        label = m.group(1).decode("ascii")
        _reject_label(label)
        encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in raw
        return _try(lambda p: serialization.load_pem_private_key(raw, p), pw, encrypted)
    if raw[:1] == b"\x30":  # DER SEQUENCE: binary key bytes
        der = raw
    else:
        body = b"".join(raw.split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise PrivateKeyError("the private key is not valid; " + _FORMS) from None
        if not der:
            raise PrivateKeyError("the private key is empty; " + _FORMS)
    return _try(lambda p: serialization.load_der_private_key(der, p), pw, None)


def _try(load: _Loader, pw: bytes | None, encrypted: bool | None) -> PrivateKeyTypes:
    """Run ``load(password)`` and turn cryptography's errors into messages a user can act on."""
    try:
        return load(pw)
    except TypeError:
        # cryptography raises TypeError for a password/encryption mismatch.
        if pw is None:
            raise PrivateKeyError("the private key is encrypted; " + _PASSPHRASE_HINT) from None
        # A passphrase was given for a key that is not encrypted (a global env var, say):
        # the key is still usable, so load it without one.
        try:
            return load(None)
        except (TypeError, ValueError, UnsupportedAlgorithm):
            raise PrivateKeyError("the private key is not valid; " + _FORMS) from None
    except UnsupportedAlgorithm:
        raise PrivateKeyError(
            "the private key uses an unsupported algorithm or encryption; "
            "re-export it as PKCS#8 (openssl pkcs8 -topk8 -v2 aes256)"
        ) from None
    except ValueError:
        if pw is not None and encrypted is not False:
            if encrypted is None and not _is_encrypted_der(load):
                raise PrivateKeyError("the private key is not valid; " + _FORMS) from None
            raise PrivateKeyError(
                "the passphrase does not decrypt the private key (wrong passphrase?)"
            ) from None
        raise PrivateKeyError("the private key is not valid; " + _FORMS) from None


def _is_encrypted_der(load: _Loader) -> bool:
    """True when loading without a password fails because the key is encrypted."""
    try:
        load(None)
    except TypeError:
        return True
    except Exception:
        return False
    return False


def _reject_label(label: str) -> None:
    if label in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY"):
        return
    if label == "EC PRIVATE KEY":
        raise PrivateKeyError(_not_rsa_message("EC"))
    if label == "DSA PRIVATE KEY":
        raise PrivateKeyError(_not_rsa_message("DSA"))
    if label == "OPENSSH PRIVATE KEY":
        raise PrivateKeyError(
            "the key is in OpenSSH format; convert it to PKCS#8 PEM "
            "(ssh-keygen -p -m PKCS8 -f KEYFILE) or generate one with snowpipe-stream keygen"
        )
    if "PUBLIC KEY" in label or "CERTIFICATE" in label:
        raise PrivateKeyError(
            f"got a {label}, not a private key; key-pair authentication signs with the private "
            "key (rsa_key.p8) and Snowflake holds the public key"
        )
    raise PrivateKeyError(f"got a PEM block of type {label!r}; " + _FORMS)


def _not_rsa_message(key: object) -> str:
    if isinstance(key, str):
        kind = key
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        kind = "EC"
    elif isinstance(key, dsa.DSAPrivateKey):
        kind = "DSA"
    elif isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        kind = "EdDSA"
    else:
        kind = type(key).__name__
    return (
        f"the private key is an {kind} key; Snowflake key-pair authentication needs an RSA key "
        "of at least 2048 bits (openssl genrsa 2048 | openssl pkcs8 -topk8 -nocrypt, or "
        "snowpipe-stream keygen)"
    )
