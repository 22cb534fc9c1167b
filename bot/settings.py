"""The settings model: every option of ``config.toml``, its default and its checks.

One pydantic model per TOML table. Every table forbids unknown keys, so a typo or
an option this version does not support fails loudly instead of being ignored.
Loading (file, environment, error messages) lives in :mod:`bot.config`.

The tables of plugins are not here: each ``[adapters.<name>]`` table is validated by
its adapter plugin's settings model, and ``[responder]`` by the model of the
responder plugin its ``kind`` names (:mod:`bot.plugin_settings`).
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from adapters.base import AdapterSettings
from bot.option_types import ConfigBool, ConfigInt, as_env_text
from bot.plugin_settings import adapter_tables, own_table, responder_table, table_owner
from bot.responders import ResponderSettings
from bot.tokenizers import AUTO, TOKENIZERS
from core import limits
from core.sessions.resets import ResetOverride, ResetRules, RuleSelector, parse_reset_time
from core.sessions.scope import Scope
from core.sessions.strategies import DEFAULT_SUMMARY_PROMPT, Strategy

_IDENTITY = re.compile(r"[A-Za-z0-9_.-]+")
_STORAGE_SCHEMES = (
    "sqlite:///",
    "sqlite+aiosqlite:///",
    "postgresql://",
    "postgresql+asyncpg://",
    "postgres://",
    "memory://",
)


def _shown(text: str) -> str:
    """Return ``text`` quoted for an error message, cut short if long."""
    return repr(text if len(text) <= 70 else text[:69] + "…")


def _check_user_ref(ref: str) -> str:
    if not limits.is_user_ref(ref):
        raise ValueError(
            f"{_shown(ref)} is not of the form platform:user_id (a lower-case platform "
            "name, a colon, then 1 to 256 characters without spaces or control characters)"
        )
    return ref


def _check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Berlin'"
        ) from None
    return name


def _check_reset_time(text: str) -> str:
    """Return ``HH:MM`` (zero-padded) or ``off``; ValueError says what is expected."""
    at = parse_reset_time(text)
    return "off" if at is None else at.strftime("%H:%M")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSettings(_Section):
    """``[bot]``: who the bot is and how it guards and logs.

    Attributes:
        name: the bot's name, as in ``/command@name``: 1 to 64 letters, digits,
            ``_`` or ``-``.
        admins: ``platform:user_id`` of the users who may run admin commands.
        timezone: IANA timezone for daily resets and displayed times.
        log_level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``.
        log_format: ``text`` or ``json`` (one JSON object per line).
        max_message_chars: longer messages are refused (at most 100,000).
        rate_limit_per_minute: messages a user may send per minute (0: no limit;
            at most 6,000).
        heartbeat_seconds: how often each running process records that it is
            alive, for ``sessionbot status`` (1 to 300).
    """

    name: str = "sessionbot"
    admins: tuple[str, ...] = ()
    timezone: str = "UTC"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["text", "json"] = "text"
    max_message_chars: ConfigInt = Field(default=4000, ge=1, le=limits.MAX_MESSAGE_CHARS)
    rate_limit_per_minute: ConfigInt = Field(default=30, ge=0, le=limits.MAX_RATE_PER_MINUTE)
    heartbeat_seconds: ConfigInt = Field(default=10, ge=1, le=300)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not limits.BOT_NAME.fullmatch(name):
            raise ValueError(
                f"{_shown(name)} is not a bot username: 1 to 64 letters, digits, _ or -, "
                "without spaces or @"
            )
        return name

    @field_validator("admins")
    @classmethod
    def _admins(cls, admins: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_user_ref(ref) for ref in admins)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        return _check_timezone(name)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, level: object) -> object:
        # Operators write INFO as often as info; accept both.
        return level.lower() if isinstance(level, str) else level


class StorageSettings(_Section):
    """``[storage]``: where sessions are kept and for how long.

    Attributes:
        url: ``sqlite:///path``, ``postgresql://…`` or ``memory://``; a relative
            SQLite path is relative to the working directory.
        retention_days: archived sessions older than this are deleted; 0 keeps
            them forever; at most 36,500 (100 years).
        keep_checkpointed: cleanup spares sessions with a user checkpoint.
    """

    url: str = "sqlite:///./sessionbot.db"
    retention_days: ConfigInt = Field(default=0, ge=0, le=limits.MAX_RETENTION_DAYS)
    keep_checkpointed: ConfigBool = True

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(_STORAGE_SCHEMES):
            raise ValueError(
                f"unsupported storage URL {url!r}; expected sqlite:///path, "
                "postgresql://… or memory://"
            )
        return url


class EncryptionSettings(_Section):
    """``[encryption]``: encryption at rest (AES-256-GCM, one data key per session).

    The master key is 32 random bytes, base64-encoded (``sessionbot keys generate``),
    read from the environment variable ``key_env`` or, if set, from ``key_file``;
    never from this file.

    Attributes:
        enabled: seal message content, titles, tags and checkpoint names.
        key_env: the environment variable that holds the master key.
        key_file: a file that holds the master key instead (mode 0600 advised).
    """

    enabled: ConfigBool = False
    key_env: str = "SESSIONBOT_MASTER_KEY"
    key_file: Path | None = None

    @field_validator("key_env")
    @classmethod
    def _key_env(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name


class ResetOverrideSettings(_Section):
    """One ``[[sessions.overrides]]`` table: reset settings for some sessions.

    The selector keys (``platform``, ``channel_id``, ``is_direct``) pick the sessions;
    a key left out matches anything. Overrides are tried in order; per-channel
    settings stored by admins win over them.

    Attributes:
        platform: only sessions on this platform.
        channel_id: only sessions of this channel.
        is_direct: only one-to-one chats (``true``) or only groups (``false``).
        daily_reset_time: ``HH:MM`` or ``off`` for the matched sessions.
        idle_reset_minutes: minutes (at most 525,600, a year), or 0 for off, for
            the matched sessions.
        timezone: the timezone their daily reset is read in.
    """

    platform: str | None = None
    channel_id: str | None = None
    is_direct: ConfigBool | None = None
    daily_reset_time: str | None = None
    idle_reset_minutes: ConfigInt | None = Field(default=None, ge=0, le=limits.MAX_RESET_MINUTES)
    timezone: str | None = None

    @field_validator("daily_reset_time")
    @classmethod
    def _reset_time(cls, text: str | None) -> str | None:
        return None if text is None else _check_reset_time(text)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str | None) -> str | None:
        return None if name is None else _check_timezone(name)

    @model_validator(mode="after")
    def _sets_something(self) -> ResetOverrideSettings:
        if (self.daily_reset_time, self.idle_reset_minutes, self.timezone) == (None,) * 3:
            raise ValueError("sets none of daily_reset_time, idle_reset_minutes, timezone")
        return self

    def to_override(self) -> ResetOverride:
        """Return the core's form of this override."""
        selector = RuleSelector(self.platform, self.channel_id, self.is_direct)
        return ResetOverride(
            selector, self.daily_reset_time, self.idle_reset_minutes, self.timezone
        )


class SessionsSettings(_Section):
    """``[sessions]``: which conversations share a session, and when one ends by itself.

    Attributes:
        scope: ``main``, ``per-channel``, ``per-peer`` or ``per-channel-peer``.
        threads_are_channels: a thread gets its own sessions, like a channel.
        daily_reset_time: ``HH:MM`` in ``[bot] timezone`` when sessions end, or ``off``.
        idle_reset_minutes: minutes without a user message that end a session; 0 is
            off; at most 525,600 (a year).
        daily_reset_grace_minutes: a daily reset inside a live conversation waits
            until the user has been quiet this long (at most 525,600 minutes).
        carry_over: what a session started by an automatic reset keeps of the old
            one: ``title``, ``tags``, ``metadata``, each at most once.
        notify_on_reset: post a notice in the channel when the scheduler ends a
            session nobody was writing to.
        overrides: reset settings for some platforms, channels or kinds of chat.
    """

    scope: Scope = Scope.CHANNEL_PEER
    threads_are_channels: ConfigBool = True
    daily_reset_time: str = "off"
    idle_reset_minutes: ConfigInt = Field(default=0, ge=0, le=limits.MAX_RESET_MINUTES)
    daily_reset_grace_minutes: ConfigInt = Field(default=0, ge=0, le=limits.MAX_RESET_MINUTES)
    carry_over: tuple[Literal["title", "tags", "metadata"], ...] = ("title", "tags")
    notify_on_reset: ConfigBool = False
    overrides: tuple[ResetOverrideSettings, ...] = ()

    @field_validator("daily_reset_time")
    @classmethod
    def _reset_time(cls, text: str) -> str:
        return _check_reset_time(text)

    @field_validator("carry_over")
    @classmethod
    def _carry_once(cls, fields: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({name for name in fields if fields.count(name) > 1})
        if repeated:
            raise ValueError(f"{', '.join(map(repr, repeated))} is listed more than once")
        return fields

    def reset_rules(self, timezone: str) -> ResetRules:
        """Return the reset rules for the session manager; ``timezone`` is the bot's."""
        return ResetRules(
            daily_reset_time=self.daily_reset_time,
            idle_reset_minutes=self.idle_reset_minutes,
            timezone=timezone,
            grace_minutes=self.daily_reset_grace_minutes,
            overrides=tuple(override.to_override() for override in self.overrides),
        )


class ContextSettings(_Section):
    """``[context]``: what part of the history the responder sees.

    Attributes:
        max_tokens: token budget of the history given to the responder (at most
            1,000,000).
        strategy: ``recent`` (the newest messages that fit), ``smart`` (pinned
            messages, then the newest) or ``summarize`` (a running summary of older
            messages, then the newest); admins choose per channel with
            ``/session context``.
        summary_prompt: the instruction ``summarize`` has the model write its
            summaries with.
        live_conversations: how many conversations in progress keep their session
            and context window in memory between messages (0: none; each message
            then reads them from the database; at most 1,000,000).
        tokenizer: how tokens are counted: ``auto`` (tiktoken, where it is installed
            and has the responder model's encoding on this machine; else the
            estimate), ``estimate``, or an encoding's name (:mod:`bot.tokenizers`).
    """

    max_tokens: ConfigInt = Field(default=2000, ge=1, le=limits.MAX_CONTEXT_TOKENS)
    strategy: Strategy = Strategy.RECENT
    summary_prompt: str = Field(default=DEFAULT_SUMMARY_PROMPT, min_length=1, max_length=10_000)
    live_conversations: ConfigInt = Field(default=1000, ge=0, le=limits.MAX_LIVE_CONVERSATIONS)
    tokenizer: str = AUTO

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, tokenizer: str) -> str:
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"must be one of {', '.join(TOKENIZERS)}")
        return tokenizer


class IdentitySettings(_Section):
    """``[identity]``: one person's ids on several platforms.

    Attributes:
        links: identity name to the ``platform:user_id`` refs that are that person;
            linked refs share ``per-peer`` sessions.
    """

    links: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("links")
    @classmethod
    def _links(cls, links: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        owners: dict[str, str] = {}
        for name, refs in links.items():
            if not _IDENTITY.fullmatch(name):
                raise ValueError(f"identity name {name!r} may hold only letters, digits, _ . -")
            for ref in refs:
                _check_user_ref(ref)
                if ref in owners and owners[ref] != name:
                    raise ValueError(f"{ref!r} is linked to both {owners[ref]!r} and {name!r}")
                owners[ref] = name
        return links

    def by_user_ref(self) -> dict[str, str]:
        """Return ``platform:user_id`` to identity name, as the session manager wants it."""
        return {ref: name for name, refs in self.links.items() for ref in refs}


class Settings(BaseSettings):
    """The whole configuration, one attribute per TOML table.

    A pydantic-settings model, so that :mod:`bot.config` can fill it from the TOML
    file and ``SESSIONBOT_<SECTION>__<KEY>`` environment variables. ``Settings()``
    alone reads those variables from ``os.environ`` too.

    Attributes:
        adapters: adapter name to its validated settings, one per installed
            adapter plugin (defaults for a table left out).
        responder: the settings of the responder ``[responder] kind`` names.
    """

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="SESSIONBOT_", env_nested_delimiter="__"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read environment variables as :mod:`bot.config` does: values are text."""
        if isinstance(env_settings, EnvSettingsSource):
            env_settings.env_vars = as_env_text(env_settings.env_vars)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    bot: BotSettings = Field(default_factory=BotSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    encryption: EncryptionSettings = Field(default_factory=EncryptionSettings)
    sessions: SessionsSettings = Field(default_factory=SessionsSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    responder: SerializeAsAny[ResponderSettings] = Field(
        default_factory=dict,  # validated into the model of the plugin kind names
        validate_default=True,
    )
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    adapters: dict[str, SerializeAsAny[AdapterSettings]] = Field(
        default_factory=dict, validate_default=True
    )
    api: SerializeAsAny[AdapterSettings] = Field(
        default_factory=dict,  # validated by the plugin that provides [api]
        validate_default=True,
    )

    @field_validator("adapters", mode="before")
    @classmethod
    def _adapter_tables(cls, tables: object) -> object:
        return adapter_tables(tables)

    @field_validator("api", mode="before")
    @classmethod
    def _api_table(cls, table: object) -> object:
        return own_table("api", table)

    @field_validator("responder", mode="before")
    @classmethod
    def _responder_table(cls, table: object) -> object:
        return responder_table(table)

    def enabled_adapters(self) -> list[str]:
        """Return the names of the enabled adapters, sorted (top-level tables too)."""
        names = [name for name, section in self.adapters.items() if section.enabled]
        for table in _TOP_LEVEL_TABLES:
            plugin = table_owner(table)
            if plugin is not None and getattr(self, table).enabled:
                names.append(plugin.name)
        return sorted(names)

    def adapter_settings(self, name: str) -> AdapterSettings:
        """Return the settings of the adapter ``name``, wherever its table is."""
        for table in _TOP_LEVEL_TABLES:
            plugin = table_owner(table)
            if plugin is not None and plugin.name == name:
                section: AdapterSettings = getattr(self, table)
                return section
        return self.adapters[name]


_TOP_LEVEL_TABLES = ("api",)
"""Top-level tables an adapter plugin may own (:attr:`adapters.base.AdapterPlugin.table`)."""
