"""Redis, access control and logging."""

from typing import Literal

from pydantic import Field, SecretStr

from .base import Section


class RedisConfig(Section):
    url: str | None = Field(None, title="redis:// URL; unset starts an embedded "
                            "Redis-compatible server with its data under the data dir")
    prefix: str = Field("fh:", title="Key prefix of the Redis contract")
    status_maxlen: int = Field(100_000, ge=100, title="Approximate length cap of "
                               "fh:events:status")


class AuthConfig(Section):
    mode: Literal["jwt", "none"] = Field("jwt", title="jwt: bearer tokens required; none: "
                                         "demo only, anybody may do anything")
    secret: SecretStr | None = Field(None, title="HMAC secret that signs tokens (HS256); "
                                     "required in jwt mode")
    default_ttl: int = Field(12 * 3600, gt=0, title="Lifetime of tokens made by "
                             "`fusionhub token` (seconds)")
    session_ttl: int = Field(3600, ge=30, title="Lifetime of the token a user gets at "
                             "sign-in (seconds); the web app refreshes it before it expires, "
                             "so disabling a user takes effect within this time")
    login_max_failures: int = Field(5, ge=1, title="Failed sign-ins per user name, and per "
                                    "client address, before further attempts are refused")
    login_window: float = Field(300.0, gt=0, title="Seconds over which failed sign-ins are "
                                "counted, and for which attempts are then refused")


class LogConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", title="Log level")
