"""``snowpipe-stream keygen``: write a new key pair without ever writing through a link.

Key files are created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``; the private key with mode
0600 from its first byte), so a file or symbolic link planted at ``OUT/rsa_key.p8`` is never
followed: the command stops. ``--force`` replaces an existing regular file by writing a new
file next to it and renaming it over the old one (a rename replaces the directory entry, it
does not write through it); a link, a directory or anything else at the path is refused even
then.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

import click
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .._exceptions import ConfigError, PrivateKeyError
from .._jwt import normalize_user
from .._keys import PrivateKey, public_key_fingerprint
from ._common import EXIT_OK, EXIT_USAGE, fail, log_format_option, setup_logging

_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)  # O_EXCL refuses a link already; this says it twice
    | getattr(os, "O_CLOEXEC", 0)
)


class _Refused(Exception):
    pass


def keygen(
    out_dir: Path, bits: int, passphrase: str | None, user: str, force: bool, rotate: bool = False
) -> int:
    if rotate:
        return _rotate(out_dir, bits, passphrase, user, force)
    private_path, public_path = out_dir / "rsa_key.p8", out_dir / "rsa_key.pub"
    key = _generate_pair(private_path, public_path, bits, passphrase, force)
    if key is None:
        return EXIT_USAGE
    who = normalize_user(user) or "<user>"
    click.echo(
        f"wrote {private_path} (mode 0600{', encrypted' if passphrase else ''}) and {public_path}"
    )
    click.echo(f"fingerprint: {key.fingerprint}")
    click.echo("register the public key in Snowflake with:")
    click.echo(f"  ALTER USER {who} SET RSA_PUBLIC_KEY='{key.public_key_body()}';")
    click.echo("then DESC USER shows RSA_PUBLIC_KEY_FP = the fingerprint above.")
    return EXIT_OK


def _rotate(out_dir: Path, bits: int, passphrase: str | None, user: str, force: bool) -> int:
    """Write ``rsa_key.new.p8``/``.pub`` beside the current pair and print Snowflake's
    three rotation steps (https://docs.snowflake.com/en/user-guide/key-pair-auth, "Configuring
    key-pair rotation") with the statements for this user."""
    current, current_pub = out_dir / "rsa_key.p8", out_dir / "rsa_key.pub"
    if not current.is_file():
        click.echo(f"error: --rotate needs the current key at {current}", err=True)
        click.echo("hint: give --out the directory that holds rsa_key.p8", err=True)
        return EXIT_USAGE
    old_fp = _fingerprint_of(current, current_pub, passphrase)
    new_private, new_public = out_dir / "rsa_key.new.p8", out_dir / "rsa_key.new.pub"
    key = _generate_pair(new_private, new_public, bits, passphrase, force)
    if key is None:
        return EXIT_USAGE
    who = normalize_user(user) or "<user>"
    click.echo(
        f"wrote {new_private} (mode 0600{', encrypted' if passphrase else ''}) and {new_public}"
    )
    click.echo(f"current key: {current} (fingerprint {old_fp or 'unknown'})")
    click.echo(f"new key:     {new_private} (fingerprint {key.fingerprint})")
    click.echo("rotate without stopping anything, in three steps:")
    click.echo("1. register the new public key in the user's free slot:")
    click.echo(f"     ALTER USER {who} SET RSA_PUBLIC_KEY_2='{key.public_key_body()}';")
    click.echo(
        f"   (if DESC USER {who} shows the current key as RSA_PUBLIC_KEY_2_FP, set "
        "RSA_PUBLIC_KEY instead, and unset RSA_PUBLIC_KEY_2 in step 3)"
    )
    click.echo("2. put the new private key where the clients read it:")
    click.echo(f"     mv {new_private} {current} && mv {new_public} {current_pub}")
    click.echo(
        "   running snowpipe-stream clients notice the changed file and sign with the new "
        "key, without a restart"
    )
    click.echo("3. once every client uses the new key, remove the old one:")
    click.echo(f"     ALTER USER {who} UNSET RSA_PUBLIC_KEY;")
    return EXIT_OK


def _fingerprint_of(private: Path, public: Path, passphrase: str | None) -> str | None:
    """The current key's fingerprint, from its public key file if there is one (no
    passphrase needed), else from the private key; None when neither can be read."""
    try:
        loaded = serialization.load_pem_public_key(public.read_bytes())
        if isinstance(loaded, rsa.RSAPublicKey):
            return public_key_fingerprint(loaded)
    except (OSError, ValueError, UnsupportedAlgorithm):
        pass
    try:
        return PrivateKey.from_file(private, passphrase).fingerprint
    except PrivateKeyError:
        return None


def _generate_pair(
    private_path: Path, public_path: Path, bits: int, passphrase: str | None, force: bool
) -> PrivateKey | None:
    written: list[Path] = []
    out_dir = private_path.parent
    try:
        for path in (private_path, public_path):
            _check(path, force)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _Refused(f"cannot create {out_dir}: {exc.strerror}") from None
        key = PrivateKey.generate(bits)
        _write(private_path, key.private_key_pem(passphrase), 0o600, force)
        written.append(private_path)
        _write(public_path, key.public_key_pem().encode(), None, force)
    except _Refused as exc:
        if not force:  # not half a pair (with --force the old private key is gone already)
            for path in written:
                path.unlink(missing_ok=True)
        click.echo(f"error: {exc}", err=True)
        click.echo(
            "hint: move what is in the way, or choose another --out"
            + ("" if force else " (--force replaces regular files)"),
            err=True,
        )
        return None
    return key


def _check(path: Path, force: bool) -> None:
    """Refuse what is at ``path`` unless it is a regular file and ``force`` is given."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise _Refused(f"{path} is a symbolic link; refusing to write a key through it")
    if not stat.S_ISREG(mode):
        raise _Refused(f"{path} exists and is not a regular file")
    if not force:
        raise _Refused(f"{path} exists; use --force to replace it")


def _write(path: Path, data: bytes, mode: int | None, force: bool) -> None:
    """Create ``path`` with ``data`` (``mode``: exactly, else 0666 less the umask); with
    ``force``, write a new file beside it and rename it over the regular file there."""
    target = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp") if force else path
    try:
        fd = os.open(target, _CREATE, 0o666 if mode is None else mode)
    except FileExistsError:  # appeared since _check; a link too (O_EXCL never follows one)
        raise _Refused(f"{path} exists now; refusing to write over it") from None
    except OSError as exc:
        raise _Refused(f"cannot create {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)  # whatever the umask
            f.write(data)
        if force:
            _check(path, force=True)  # still a regular file or nothing, not a link
            try:
                os.replace(target, path)  # replaces the entry: never writes through it
            except OSError as exc:
                raise _Refused(f"cannot replace {path}: {exc.strerror}") from None
    except BaseException:
        if force:
            target.unlink(missing_ok=True)
        raise


@click.command("keygen")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for rsa_key.p8 and rsa_key.pub.",
)
@click.option("--bits", type=click.IntRange(2048, 8192), default=2048, show_default=True)
@click.option(
    "--private-key-passphrase-env",
    "passphrase_env",
    metavar="VAR",
    help="Encrypt the key with the passphrase in this environment variable (the option that "
    "reads it back in the other commands has the same name).",
)
@click.option("--passphrase-env", "old_passphrase_env", metavar="VAR", hidden=True)
@click.option(
    "--user", help="User name for the ALTER USER statement [default: SNOWFLAKE_USER or <user>]."
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace existing key files (regular files only: never a link).",
)
@click.option(
    "--rotate",
    is_flag=True,
    help="Write a new pair beside the current one (rsa_key.new.p8/.pub) and print the "
    "three rotation steps with their ALTER USER statements.",
)
@log_format_option()
def command(
    out_dir: Path,
    bits: int,
    passphrase_env: str | None,
    old_passphrase_env: str | None,
    user: str | None,
    force: bool,
    rotate: bool,
    log_format: str | None,
) -> None:
    """Generate a key pair for key-pair authentication (never writes through a link)."""
    try:
        setup_logging(0, log_format)  # warnings (a small current key with --rotate)
    except ConfigError as exc:
        fail(exc)
    # --passphrase-env: this command's former name for the option, still accepted.
    flag = "--private-key-passphrase-env" if passphrase_env else "--passphrase-env"
    passphrase_env = passphrase_env or old_passphrase_env
    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            click.echo(f"error: {flag} names {passphrase_env}, which is not set", err=True)
            sys.exit(EXIT_USAGE)
    sys.exit(
        keygen(
            out_dir,
            bits,
            passphrase,
            user or os.environ.get("SNOWFLAKE_USER") or "",
            force,
            rotate=rotate,
        )
    )
