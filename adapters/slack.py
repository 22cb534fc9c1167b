"""Slack: its ``[adapters.slack]`` settings, its secrets, its manifest and its plugin.

The adapter itself is :class:`adapters.slack_adapter.SlackAdapter`; this module does
not import slack-bolt, so reading the configuration never loads it: :func:`build`
imports it when the adapter is enabled.

What users see:

* Plain messages in direct messages with the bot, messages that mention the bot in
  channels (the mention is stripped), and, with ``listen_to_channel_messages``,
  every message in the channels the bot is in. Replies to a message in a thread
  stay in that thread; with ``[sessions] threads_are_channels`` (the default) a
  thread is a conversation of its own.
* Ids carry the workspace: users are ``slack:<team>:<user>`` (the form ``[bot]
  admins`` uses), channels ``<team>:<channel>``, so one app installed in several
  workspaces never mixes them up.
* Slash commands (``/new``, ``/checkpoint``…, renamed with ``command_names``) are
  acknowledged within Slack's 3 seconds, then answered in the channel; errors and
  usage lines are ephemeral (only the caller sees them). A command still running
  at the acknowledgement shows the caller "Working on it…".
* Each event is handled once: Slack redelivers an event it got no answer for in
  time, and the redelivery is recognised by its ``event_id``, recorded in the
  store, so not even a restart answers it twice.
* Ignored: the bot's own messages, other bots', and messages that are not new user
  text (edits, deletions, joins, topic changes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapters.base import (
    Adapter,
    AdapterContext,
    AdapterPlugin,
    AdapterSettings,
    CommandSpec,
    secret_from_env,
)
from adapters.slack_manifest import app_manifest

PLATFORM = "slack"

SLACK_API = "https://slack.com/api/"
"""Slack's Web API; a proxy or a test server is given the same way."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SLASH_COMMAND = re.compile(r"/[a-z0-9_-]{1,31}")


def _check_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


class SlackSettings(AdapterSettings):
    """``[adapters.slack]``: a Slack app, over Socket Mode or HTTP.

    Secrets are not options: the ``*_env`` options name the environment
    variables that hold them.

    Attributes:
        enabled: whether ``sessionbot run`` connects to Slack.
        mode: ``socket`` (the bot opens a WebSocket to Slack; nothing is exposed)
            or ``http`` (Slack posts events and commands to the bot's endpoint).
        bot_token_env: the variable holding the bot token (``xoxb-…``).
        app_token_env: Socket Mode: the variable holding the app-level token
            (``xapp-…``, scope ``connections:write``).
        signing_secret_env: HTTP mode: the variable holding the signing secret
            every request is checked against.
        listen: HTTP mode: the address the endpoint binds.
        port: HTTP mode: its port.
        path: HTTP mode: the path of the one endpoint for events and commands.
        request_url: HTTP mode: the public URL Slack posts to (a reverse proxy's
            HTTPS address), written into the manifest; empty for
            ``http://{listen}:{port}{path}``.
        api_url: the Web API base URL (Slack's, or a proxy's).
        command_names: a top-level command's Slack name, where it differs from
            ``/<name>`` (a workspace may have another app's ``/new``).
        listen_to_channel_messages: answer every message in channels the bot is
            in, not only those that mention it.
    """

    mode: Literal["socket", "http"] = "socket"
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    listen: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=3000, ge=1, le=65535)
    path: str = "/slack/events"
    request_url: str = ""
    api_url: str = SLACK_API
    command_names: dict[str, str] = Field(default_factory=dict)
    listen_to_channel_messages: bool = False

    @field_validator("bot_token_env", "app_token_env", "signing_secret_env")
    @classmethod
    def _env_names(cls, name: str) -> str:
        return _check_env_name(name)

    @field_validator("api_url", "request_url")
    @classmethod
    def _urls(cls, url: str) -> str:
        if url and not url.startswith(("https://", "http://")):
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/") or " " in path:
            raise ValueError(f"expected a path starting with /, got {path!r}")
        return path

    @field_validator("command_names")
    @classmethod
    def _command_names(cls, names: dict[str, str]) -> dict[str, str]:
        for command, slack_name in names.items():
            if not _SLASH_COMMAND.fullmatch(slack_name):
                raise ValueError(
                    f"{command}: {slack_name!r} is not a Slack command name "
                    "(a / and 1-31 lowercase letters, digits, _ or -)"
                )
        if len(set(names.values())) != len(names):
            raise ValueError("two commands have the same Slack name")
        return names

    @model_validator(mode="after")
    def _url_in_http_mode(self) -> SlackSettings:
        if self.mode == "socket" and self.request_url:
            raise ValueError("request_url is for mode = 'http'; Socket Mode needs none")
        return self

    def slack_names(self, commands: Sequence[str]) -> dict[str, str]:
        """Return each command's Slack name (``/name`` unless renamed), by command."""
        return {name: self.command_names.get(name, f"/{name}") for name in commands}

    def endpoint(self) -> str:
        """Return the URL Slack posts to in HTTP mode."""
        return self.request_url or f"http://{self.listen}:{self.port}{self.path}"


def slack_secrets(settings: SlackSettings) -> tuple[str, str]:
    """Return the bot token and the app token (Socket Mode) or signing secret (HTTP).

    Raises:
        ConfigError: a variable is unset or empty; the message names it, never
            its value.
    """
    token = secret_from_env(settings.bot_token_env, key=f"adapters.{PLATFORM}.bot_token_env")
    if settings.mode == "socket":
        key = f"adapters.{PLATFORM}.app_token_env"
        return token, secret_from_env(settings.app_token_env, key=key)
    key = f"adapters.{PLATFORM}.signing_secret_env"
    return token, secret_from_env(settings.signing_secret_env, key=key)


def check_secrets(settings: SlackSettings) -> None:
    """Read the secrets, so a missing one stops start-up before the database is opened.

    Raises:
        ConfigError: as :func:`slack_secrets`.
    """
    slack_secrets(settings)


def build(settings: SlackSettings, context: AdapterContext) -> Adapter:
    """Build the adapter; slash commands are named as :meth:`SlackSettings.slack_names` says.

    Raises:
        ConfigError: as :func:`slack_secrets`.
    """
    token, second_secret = slack_secrets(settings)
    from adapters.slack_adapter import SlackAdapter, SlackConnection

    names = settings.slack_names([name for name, _ in context.commands])
    connection = SlackConnection(
        mode=settings.mode,
        bot_token=token,
        app_token=second_secret if settings.mode == "socket" else None,
        signing_secret=second_secret if settings.mode == "http" else None,
        api_url=settings.api_url,
        listen=settings.listen,
        port=settings.port,
        path=settings.path,
    )
    return SlackAdapter(
        context.handler,
        connection,
        commands=_by_slack_name(names),
        listen_to_channel_messages=settings.listen_to_channel_messages,
        first_delivery=context.first_delivery,
    )


def manifest(settings: SlackSettings, commands: Sequence[CommandSpec], bot_name: str) -> str:
    """Return the app manifest (YAML) for these settings and commands."""
    names = settings.slack_names([command.name for command in commands])
    return app_manifest(
        bot_name,
        [(names[c.name], c) for c in commands],
        socket_mode=settings.mode == "socket",
        request_url=settings.endpoint(),
        channel_messages=settings.listen_to_channel_messages,
    )


def _by_slack_name(names: Mapping[str, str]) -> dict[str, str]:
    return {slack_name: name for name, slack_name in names.items()}


plugin = AdapterPlugin(
    name=PLATFORM,
    settings_model=SlackSettings,
    build=build,
    check_secrets=check_secrets,
    manifest=manifest,
)
"""Slack's entry point in the ``sessionbot.adapters`` group."""
