"""The JWT core on a simulated clock: clamping, refresh by margin, invalidation.

Run with ``make demo`` (until the full streaming demo arrives with the CLI) or
``python examples/auth_demo.py``. No network, no waiting: a FakeClock stands in for time.
"""

from __future__ import annotations

import logging
import sys

from snowpipe_stream import JwtManager, PrivateKey
from snowpipe_stream.testing import FakeClock


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)-7s %(name)s %(message)s", stream=sys.stdout
    )
    clock = FakeClock()
    key = PrivateKey.generate(2048)
    print(f"generated a throw-away RSA-2048 key, fingerprint {key.fingerprint}")
    print("jwt_exp_secs=10 is below Snowflake's minimum; watch it clamp to 30 s:")
    jm = JwtManager("myorg-myacct", "demo_user", key, lifetime_secs=10, clock=clock)
    jm.get_token()
    print("simulating 2 minutes of requests, one every 5 s (simulated clock):")
    for _ in range(24):
        clock.advance(5)
        jm.get_token()
    print("a 401 arrives: the token is invalidated and the next request gets a fresh one")
    jm.invalidate()
    jm.get_token()
    print(
        f"JWTs minted: {jm.mint_count} (lifetime {jm.lifetime_secs} s, "
        f"margin {jm.refresh_margin_secs:g} s)"
    )
    # 1 initial + a refresh every 15 s over 120 s (8) + 1 after the 401.
    return 0 if jm.mint_count == 10 else 1


if __name__ == "__main__":
    sys.exit(main())
