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

from .._jwt import normalize_user
from .._keys import PrivateKey
from ._common import EXIT_OK, EXIT_USAGE

_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)  # O_EXCL refuses a link already; this says it twice
    | getattr(os, "O_CLOEXEC", 0)
)


class _Refused(Exception):
    pass


def keygen(out_dir: Path, bits: int, passphrase: str | None, user: str, force: bool) -> int:
    private_path, public_path = out_dir / "rsa_key.p8", out_dir / "rsa_key.pub"
    written: list[Path] = []
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
def command(
    out_dir: Path,
    bits: int,
    passphrase_env: str | None,
    old_passphrase_env: str | None,
    user: str | None,
    force: bool,
) -> None:
    """Generate a key pair for key-pair authentication (never writes through a link)."""
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
        keygen(out_dir, bits, passphrase, user or os.environ.get("SNOWFLAKE_USER") or "", force)
    )
