"""JWT minting beside a bare RSA signature, and the cost of a cached get_token()."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from snowpipe_stream import JwtManager, PrivateKey
from snowpipe_stream._jwt import mint_jwt

from ._util import ms, pct, per_call_ns, sample


def _row(bits: int, n: int) -> str:
    key = PrivateKey.generate(bits)
    raw = key.crypto_key
    msg = b"x" * 200
    sign = sample(lambda: raw.sign(msg, padding.PKCS1v15(), hashes.SHA256()), n)
    mint = sample(
        lambda: mint_jwt(key, account="myorg-acct", user="svc", now=1.7e9, lifetime_secs=3540), n
    )
    s50, m50, m99 = pct(sign, 0.5), pct(mint, 0.5), pct(mint, 0.99)
    return f"| RSA-{bits} | {ms(s50)} | {ms(m50)} | {ms(m99)} | {m50 / s50:.2f}x |"


def run() -> list[str]:
    lines = [
        "## JWT",
        "",
        "| key | bare RSA sign p50 | mint p50 | mint p99 | mint/sign |",
        "|---|---|---|---|---|",
    ]
    for bits, n in ((2048, 400), (4096, 100)):
        lines.append(_row(bits, n))
    key = PrivateKey.generate(2048)
    jm = JwtManager("myorg-acct", "svc", key)
    jm.get_token()
    ns = per_call_ns(jm.get_token, 200_000)
    lines += ["", f"cached `get_token()`: {ns:.0f} ns per call", ""]
    return lines
