"""Telegram: its ``[adapters.telegram]`` settings, its secrets and its plugin.

The adapter itself is :class:`adapters.telegram_adapter.TelegramAdapter`; this module
does not import python-telegram-bot, so reading the configuration never loads it:
:func:`build` imports it when the adapter is enabled.

What users see:

* Text messages, and the captions of photos and files, go to the handler. In
  groups, ``/cmd@otherbot`` is dropped and ``/cmd@thisbot`` reaches the handler as
  ``/cmd``; the command list is registered with ``setMyCommands`` at start.
* A message with no text at all (a sticker, a photo without caption) gets
  "I only read text messages." once per chat. Service messages (members joining,
  pins, new topics) get nothing.
* Edited messages are not requested from Telegram (``allowed_updates`` holds only
  ``message``) and are ignored, logged at debug, if a server sends them anyway:
  the original was answered already, and answering again would store the same
  turn twice. Channel posts and other update kinds are ignored the same way.
* Replies: see :mod:`adapters.telegram_sender`. They stay in the forum topic of the
  message; in groups the first message of each reply quotes the user's message.
  Telegram has no ephemeral messages: an ephemeral reply is sent like any other.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapters.base import (
    Adapter,
    AdapterContext,
    AdapterPlugin,
    AdapterSettings,
    secret_from_env,
)
from core import ConfigError

PLATFORM = "telegram"

TELEGRAM_API = "https://api.telegram.org"
"""Telegram's Bot API server; a self-hosted one is given the same way."""

_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_webhook_secret(token: str) -> bool:
    """Tell whether Telegram accepts ``token`` as a webhook's secret token.

    Telegram allows 1-256 characters ``A-Z``, ``a-z``, ``0-9``, ``_`` and ``-``.
    """
    return _WEBHOOK_SECRET.fullmatch(token) is not None


def _check_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


def _check_http_url(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    return url


class TelegramSettings(AdapterSettings):
    """``[adapters.telegram]``: a Telegram bot, by long polling or by webhook.

    Secrets are not options: ``token_env`` and ``secret_token_env`` name the
    environment variables that hold them.

    Attributes:
        enabled: whether ``sessionbot run`` connects to Telegram.
        token_env: the variable holding the bot token BotFather gave.
        mode: ``polling`` (the bot asks Telegram for updates; works from behind
            NAT) or ``webhook`` (Telegram posts updates to the bot's HTTP server).
        base_url: the Bot API server, without ``/bot<token>``: Telegram's, or a
            self-hosted one.
        listen: webhook mode: the address the webhook server binds.
        port: webhook mode: its port.
        url_path: webhook mode: the path updates are posted to.
        webhook_url: webhook mode: the public URL Telegram posts to, such as a
            reverse proxy's HTTPS address; empty for
            ``http://{listen}:{port}/{url_path}``, which only a self-hosted Bot
            API server accepts.
        secret_token_env: webhook mode: the variable holding the secret token
            Telegram sends with every update (1-256 characters A-Z, a-z, 0-9,
            ``_`` and ``-``); requests without it are refused.
    """

    token_env: str = "TELEGRAM_BOT_TOKEN"
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = TELEGRAM_API
    listen: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8443, ge=1, le=65535)
    url_path: str = "telegram"
    webhook_url: str = ""
    secret_token_env: str = "TELEGRAM_WEBHOOK_SECRET"

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, name: str) -> str:
        return _check_env_name(name)

    @field_validator("secret_token_env")
    @classmethod
    def _secret_token_env(cls, name: str) -> str:
        return name and _check_env_name(name)  # empty: none, refused in webhook mode

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return _check_http_url(url)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, url: str) -> str:
        return url and _check_http_url(url)

    @model_validator(mode="after")
    def _webhook_has_a_secret(self) -> TelegramSettings:
        # Without the secret anyone who finds the URL could post updates as any user.
        if self.mode == "webhook" and not self.secret_token_env:
            raise ValueError(
                "webhook mode needs secret_token_env, the environment variable "
                "holding the webhook's secret token"
            )
        return self


def telegram_secrets(settings: TelegramSettings) -> tuple[str, str | None]:
    """Return the bot token and, in webhook mode, the webhook's secret token.

    Both come from the environment variables the settings name; error messages
    name the variable, never its value.

    Raises:
        ConfigError: a variable is unset or empty, or the secret token has
            characters Telegram refuses.
    """
    token = secret_from_env(settings.token_env, key=f"adapters.{PLATFORM}.token_env")
    if settings.mode != "webhook":
        return token, None
    key = f"adapters.{PLATFORM}.secret_token_env"
    if not settings.secret_token_env:  # the settings model refuses this too
        raise ConfigError(f"{key}: webhook mode needs a secret token")
    try:
        secret = secret_from_env(settings.secret_token_env, key=key)
    except ConfigError as error:
        raise ConfigError(f"{error}; webhook mode needs a secret token") from None
    if not is_webhook_secret(secret):
        raise ConfigError(
            f"{key}: the secret token in {settings.secret_token_env} must be "
            "1-256 characters A-Z, a-z, 0-9, _ and -"
        )
    return token, secret


def check_secrets(settings: TelegramSettings) -> None:
    """Read the secrets, so a missing one stops start-up before the database is opened.

    Raises:
        ConfigError: as :func:`telegram_secrets`.
    """
    telegram_secrets(settings)


def build(settings: TelegramSettings, context: AdapterContext) -> Adapter:
    """Build the adapter; the command menu becomes its ``setMyCommands`` list.

    The adapter learns its own username from ``getMe`` when it connects; it drops
    ``/cmd@otherbot`` in groups and hands ``/cmd@itself`` to the router as ``/cmd``,
    so ``[bot] name`` need not match the Telegram username.

    Raises:
        ConfigError: as :func:`telegram_secrets`.
    """
    token, secret_token = telegram_secrets(settings)
    # python-telegram-bot 22 emits a PTBDeprecationWarning each time it reads a
    # duration (such as a RetryAfter's retry_after) as seconds, unless durations are
    # opted in to timedelta, the coming default. The adapter reads both forms.
    # The variable is read at each use, so setting it here, before the first
    # import, covers the whole run; an operator's own setting wins.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    from adapters.telegram_adapter import TelegramAdapter

    return TelegramAdapter(
        context.handler,
        token=token,
        mode=settings.mode,
        base_url=settings.base_url,
        commands=context.commands,
        roles=context.roles,
        deliveries=context.deliveries,
        listen=settings.listen,
        port=settings.port,
        url_path=settings.url_path,
        webhook_url=settings.webhook_url or None,
        secret_token=secret_token,
    )


plugin = AdapterPlugin(
    name=PLATFORM, settings_model=TelegramSettings, build=build, check_secrets=check_secrets
)
"""Telegram's entry point in the ``sessionbot.adapters`` group."""
