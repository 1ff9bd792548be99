"""One place that turns a :class:`ClientConfig` into the control-host credential."""

from __future__ import annotations

from ._clock import Clock
from ._config import ClientConfig
from ._credentials import KeySource
from ._oauth import OAuthCredential
from ._pat import PatCredential
from ._tokens import CredentialProvider, JwtManager, SuppliedJwt

__all__ = ["build_credential", "describe_credential"]


def build_credential(config: ClientConfig, clock: Clock) -> CredentialProvider:
    """The credential the client sends to the control host (hostname, token exchange)."""
    if config.authorization_type == "PAT":
        expires = config.personal_access_token_expires_at
        assert not isinstance(expires, str)
        return PatCredential(
            config.personal_access_token,
            path=config.personal_access_token_file,
            expires_at=expires,
            clock=clock,
        )
    if config.authorization_type == "OAUTH":
        return OAuthCredential(
            clock=clock,
            refresh_margin_secs=config.jwt_refresh_margin_secs,
            provider=config.oauth_token_provider,
            token_url=config.oauth_token_url,
            client_id=config.oauth_client_id,
            client_secret=config.oauth_client_secret,
            refresh_token=config.oauth_refresh_token,
            role=config.role,
            timeout=config.request_timeout_secs,
        )
    source: KeySource | None = None
    if config.private_key_provider is not None:
        source = KeySource.from_provider(config.private_key_provider)
    elif config.key is not None:
        source = KeySource(
            config.key,
            path=config.private_key_file,
            passphrase=config.private_key_passphrase,
        )
    if source is not None:
        assert config.account is not None and config.user is not None
        return JwtManager(
            config.account,
            config.user,
            source,
            config.jwt_exp_secs,
            config.jwt_refresh_margin_secs,
            clock,
            role=config.role,
        )
    assert config.jwt is not None
    return SuppliedJwt(config.jwt)


def describe_credential(credential: CredentialProvider) -> dict[str, object]:
    """What ``check`` can show about a credential, without a secret: its type, and per type
    the key's fingerprint and source, the PAT's expiry and days left, the OAuth grant."""
    out: dict[str, object] = {"token_type": credential.token_type}
    if isinstance(credential, JwtManager):
        out["fingerprint"] = credential.fingerprint
        out["key_source"] = credential.key_source.kind
        out["key_reloads"] = credential.key_source.reloads
    elif isinstance(credential, PatCredential):
        out["pat_expires_at"] = credential.expires_at
        out["pat_days_left"] = credential.days_left()
    elif isinstance(credential, OAuthCredential):
        out["oauth_grant"] = credential.grant
        out["oauth_expires_at"] = credential.expires_at
    return out
