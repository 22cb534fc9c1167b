"""``[responder]`` for ``kind = "openai"``: any OpenAI-compatible chat-completions endpoint.

Three lines are enough for a model served on the same machine::

    [responder]
    kind = "openai"
    base_url = "http://127.0.0.1:11434/v1"
    model = "llama3.2"

``[[responder.overrides]]`` picks another model, prompt or temperature for some
sessions, chosen like ``[[sessions.overrides]]``: by platform, channel and
whether the chat is one-to-one; the first that matches wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.option_types import ConfigBool, ConfigFloat, ConfigInt
from bot.responders import ResponderSettings
from core.models import Session

MAX_OUTPUT_TOKENS = 1_000_000
MAX_TIMEOUT_SECONDS = 3600
MAX_RETRIES = 10
MAX_PROMPT_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What one session is answered with.

    Attributes:
        model: the model's name at the endpoint.
        system_prompt: the system message put first, or ``""`` for none.
        temperature: the sampling temperature, or ``None`` for the endpoint's default.
    """

    model: str
    system_prompt: str
    temperature: float | None


def _read_prompt(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.__class__.__name__}") from None
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"{str(path)!r} is over {MAX_PROMPT_CHARS:,} characters")
    return text.strip()


class ResponderOverride(BaseModel):
    """One ``[[responder.overrides]]`` table: another model or prompt for some sessions.

    Attributes:
        platform: only sessions on this platform.
        channel_id: only sessions of this channel.
        is_direct: only one-to-one chats (``true``) or only groups (``false``).
        model: the model for them.
        system_prompt: the system prompt for them.
        system_prompt_file: a UTF-8 file holding it (read at start-up).
        temperature: the temperature for them (0 to 2).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str | None = None
    channel_id: str | None = None
    is_direct: ConfigBool | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    system_prompt_file: Path | None = None
    temperature: ConfigFloat | None = Field(default=None, ge=0, le=2)

    @model_validator(mode="after")
    def _one_prompt(self) -> ResponderOverride:
        if self.system_prompt is not None and self.system_prompt_file is not None:
            raise ValueError("set system_prompt or system_prompt_file, not both")
        prompt = _read_prompt(self.system_prompt_file)
        if prompt is not None:
            object.__setattr__(self, "system_prompt", prompt)
        if (self.model, self.system_prompt, self.temperature) == (None, None, None):
            raise ValueError("sets none of model, system_prompt, system_prompt_file, temperature")
        return self

    def matches(self, session: Session) -> bool:
        """Tell whether the override applies to ``session``."""
        return (
            (self.platform is None or self.platform == session.platform)
            and (self.channel_id is None or self.channel_id == session.channel_id)
            and (self.is_direct is None or self.is_direct == session.is_direct)
        )


class OpenAISettings(ResponderSettings):
    """``[responder]`` with ``kind = "openai"``.

    Attributes:
        base_url: the endpoint's base URL, up to ``/v1``; unset: OpenAI's own.
        api_key_env: the environment variable holding the API key. Needed for
            OpenAI itself; a self-hosted endpoint (``base_url`` set) may go without.
        model: the model's name at the endpoint.
        system_prompt: the system message put before the history.
        system_prompt_file: a UTF-8 file holding it instead (read at start-up).
        temperature: sampling temperature, 0 to 2; unset: the endpoint's default.
        max_output_tokens: the longest answer, in tokens (1 to 1,000,000); unset:
            the endpoint's default.
        timeout_seconds: how long one request may take (1 to 3,600).
        max_retries: how often a timeout, 429 or 5xx is retried, with backoff and
            the endpoint's ``Retry-After`` (0 to 10).
        stream: ask for the answer as a stream and show it as it is written where
            the platform can.
        overrides: another model or prompt for some sessions.
    """

    kind: Literal["openai"] = "openai"
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    model: str = Field(min_length=1, max_length=200)
    system_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    system_prompt_file: Path | None = None
    temperature: ConfigFloat | None = Field(default=None, ge=0, le=2)
    max_output_tokens: ConfigInt | None = Field(default=None, ge=1, le=MAX_OUTPUT_TOKENS)
    timeout_seconds: ConfigFloat = Field(default=60.0, ge=1, le=MAX_TIMEOUT_SECONDS)
    max_retries: ConfigInt = Field(default=2, ge=0, le=MAX_RETRIES)
    stream: ConfigBool = True
    overrides: tuple[ResponderOverride, ...] = ()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url

    @model_validator(mode="after")
    def _one_prompt(self) -> OpenAISettings:
        if self.system_prompt and self.system_prompt_file is not None:
            raise ValueError("set system_prompt or system_prompt_file, not both")
        prompt = _read_prompt(self.system_prompt_file)
        if prompt is not None:
            object.__setattr__(self, "system_prompt", prompt)
        return self

    def choice_for(self, session: Session) -> ModelChoice:
        """Return the model, prompt and temperature ``session`` is answered with."""
        override = next((o for o in self.overrides if o.matches(session)), None)
        if override is None:
            return ModelChoice(self.model, self.system_prompt, self.temperature)
        return ModelChoice(
            override.model or self.model,
            self.system_prompt if override.system_prompt is None else override.system_prompt,
            self.temperature if override.temperature is None else override.temperature,
        )

    def counted_model(self) -> str:
        """Return ``model``: its tokenizer counts (overrides' models are calibrated per session)."""
        return self.model
