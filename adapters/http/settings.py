"""The ``[api]`` table: where the HTTP API listens and what it accepts."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from adapters.base import AdapterSettings

_BASE_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*")
_ORIGIN = re.compile(r"\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

PLATFORM = "api"
"""The platform of messages sent through the API, as in ``api:<user>``."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The most ``max_body_bytes`` may be: 64 MiB (an import of a long session)."""


class ApiSettings(AdapterSettings):
    """``[api]``: the HTTP sessions API, its metrics and health checks.

    Attributes:
        enabled: whether ``sessionbot run`` serves the API.
        listen: the address to bind; ``127.0.0.1`` keeps it to this machine (put a
            reverse proxy with TLS in front to serve others).
        port: the TCP port (1-65535; 0 picks a free one, for tests).
        base_path: a prefix for every route, such as ``/bot`` behind a proxy that
            forwards a sub-path; empty for none.
        max_body_bytes: larger request bodies get 413 without being read (1 KiB to
            64 MiB).
        cors_origins: web origins (``https://app.example``, or ``*``) whose pages
            may call the API from a browser; none by default.
        metrics: serve ``/metrics`` (Prometheus text format, admin key only).
        rate_limit_per_minute: requests one API key may make per minute; 0 is no
            limit (at most 600,000). Messages also count against ``[bot]
            rate_limit_per_minute``, as on every platform.
        ui: serve the operator console at ``/ui`` (sign-in with an admin key).
    """

    listen: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    base_path: str = ""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=MAX_BODY_BYTES)
    cors_origins: tuple[str, ...] = ()
    metrics: bool = True
    rate_limit_per_minute: int = Field(default=600, ge=0, le=600_000)
    ui: bool = False

    @field_validator("base_path")
    @classmethod
    def _base_path(cls, path: str) -> str:
        path = path.rstrip("/")
        if not _BASE_PATH.fullmatch(path):
            raise ValueError(
                f"{path!r} is not a URL path such as '/bot' (segments of letters, digits, . _ ~ -)"
            )
        return path

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin such as 'https://app.example'")
        return origins
