"""TLS on the HTTP port (``http.tls``): a site's own certificate, or one the hub makes."""

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import Section


class TlsConfig(Section):
    """``http.tls: auto`` is short for ``{mode: auto}``; ``{cert: …, key: …}`` means files."""

    mode: Literal["files", "auto"] = Field(
        "files", title="files: serve cert/key given here; auto: create a site CA and a "
        "certificate for `names` under the data dir on first start (renewed when the names "
        "change or it nears expiry)")
    cert: Path | None = Field(None, title="PEM certificate chain (mode files)")
    key: Path | None = Field(None, title="PEM private key (mode files)")
    names: tuple[str, ...] = Field(
        (), title="DNS names and IP addresses the auto certificate covers, besides "
        "localhost, 127.0.0.1, the host name, a concrete http.host and public_url's host")
    redirect_port: int | None = Field(
        None, ge=0, le=65535, title="Also listen for plain HTTP on this port and redirect "
        "every request to HTTPS (null: no plain listener)")
    hsts_max_age: int = Field(
        15_552_000, ge=0, title="Strict-Transport-Security max-age sent over HTTPS, seconds "
        "(0: no header)")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if value == "auto":
            return {"mode": "auto"}
        return value

    @model_validator(mode="after")
    def _files_given(self) -> "TlsConfig":
        if self.mode == "files" and (self.cert is None or self.key is None):
            raise ValueError("http.tls needs cert and key (or `http.tls: auto`)")
        return self
