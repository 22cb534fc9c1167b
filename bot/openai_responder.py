"""The ``openai`` responder: any OpenAI-compatible chat-completions endpoint.

OpenAI itself, vLLM, Ollama, llama.cpp's server, LM Studio or a proxy such as
LiteLLM, through the official ``openai`` SDK's ``AsyncOpenAI`` with ``base_url``.
The SDK retries a timeout, 429 or 5xx ``max_retries`` times with backoff, waiting
what the endpoint's ``Retry-After`` asks (up to a minute); after that the responder
raises :class:`core.ResponderError` with one line saying why (never the prompt or
the answer), and the router tells the user their message is kept.

Settings are in :mod:`bot.openai_settings`; the key is read only from the
environment variable ``api_key_env`` names and never logged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from adapters.base import secret_from_env
from bot.openai_settings import ModelChoice, OpenAISettings
from bot.responders import ResponderPlugin
from core import Answer, Message, Responder, ResponderError, Role, Session
from core.sessions.responders import TextSink
from core.tokens import Context

if TYPE_CHECKING:
    from openai import AsyncOpenAI

NO_KEY = "no-key"
"""Sent as the key to a self-hosted endpoint when ``api_key_env`` is not set: the SDK
needs one, and such servers ignore it."""

_ROLES = {Role.USER: "user", Role.ASSISTANT: "assistant", Role.SYSTEM: "system"}


def api_key(settings: OpenAISettings) -> str:
    """Return the API key from the environment variable ``api_key_env`` names.

    Raises:
        ConfigError: the variable is unset and the endpoint is OpenAI's own (no
            ``base_url``); a self-hosted endpoint gets :data:`NO_KEY` instead.
    """
    if settings.base_url is not None and not os.environ.get(settings.api_key_env, "").strip():
        return NO_KEY
    return secret_from_env(settings.api_key_env, key="responder.api_key_env")


def check_secrets(settings: OpenAISettings) -> None:
    """Stop start-up when OpenAI's own endpoint has no key."""
    api_key(settings)


class OpenAIResponder:
    """Answers with one chat-completions request per message.

    Args:
        settings: ``[responder]``.
        client: the SDK client, with the endpoint, key, timeout and retries set.
    """

    name = "openai"

    def __init__(self, settings: OpenAISettings, client: AsyncOpenAI) -> None:
        self._settings = settings
        self._client = client

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        """Answer the conversation with the session's model; see :class:`core.Responder`."""
        choice = self._settings.choice_for(session)
        with _as_responder_error(choice):
            completion = await self._client.chat.completions.create(
                **self._request(choice, context)
            )
        text = completion.choices[0].message.content if completion.choices else None
        usage = completion.usage
        return _answer(text or "", choice, context, usage)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.close()

    def _request(self, choice: ModelChoice, context: Sequence[Message]) -> dict[str, Any]:
        messages = (
            [{"role": "system", "content": choice.system_prompt}] if choice.system_prompt else []
        )
        messages += [{"role": _ROLES[m.role], "content": m.content} for m in context]
        request: dict[str, Any] = {"model": choice.model, "messages": messages}
        if choice.temperature is not None:
            request["temperature"] = choice.temperature
        if self._settings.max_output_tokens is not None:
            request["max_tokens"] = self._settings.max_output_tokens
        return request


class StreamingOpenAIResponder(OpenAIResponder):
    """An :class:`OpenAIResponder` that can also ask for the answer as a stream."""

    async def respond_streaming(
        self, session: Session, context: Sequence[Message], on_text: TextSink
    ) -> Answer:
        """Answer as a stream of server-sent events, handing ``on_text`` the text so far."""
        choice = self._settings.choice_for(session)
        text = ""
        usage: Any = None
        with _as_responder_error(choice):
            stream = await self._client.chat.completions.create(
                **self._request(choice, context),
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for chunk in stream:
                    usage = chunk.usage or usage
                    delta = "".join(c.delta.content or "" for c in chunk.choices)
                    if delta:
                        text += delta
                        await on_text(text)
        return _answer(text, choice, context, usage)


def _answer(text: str, choice: ModelChoice, context: Sequence[Message], usage: Any) -> Answer:
    """The answer with the usage the endpoint reported, or an estimate marked as one."""
    if usage is not None and usage.prompt_tokens is not None:
        return Answer(text, tokens_in=usage.prompt_tokens, tokens_out=usage.completion_tokens or 0)
    counted = context if isinstance(context, Context) else Context(context)
    count = counted.counter.count
    prompt = count(choice.system_prompt) if choice.system_prompt else 0
    return Answer(text, tokens_in=counted.tokens + prompt, tokens_out=count(text), estimated=True)


@contextlib.contextmanager
def _as_responder_error(choice: ModelChoice) -> Iterator[None]:
    """Turn the SDK's errors into one line: what failed, never what was said."""
    import httpx
    import openai

    try:
        yield
    except openai.APITimeoutError:
        raise ResponderError(f"model {choice.model!r}: the request timed out") from None
    except openai.APIConnectionError:
        raise ResponderError(f"model {choice.model!r}: could not reach the endpoint") from None
    except openai.APIStatusError as error:
        raise ResponderError(
            f"model {choice.model!r}: the endpoint answered HTTP {error.status_code}"
        ) from None
    except openai.OpenAIError as error:
        raise ResponderError(
            f"model {choice.model!r}: {error.__class__.__name__} from the endpoint"
        ) from None
    except httpx.HTTPError as error:
        # A stream cut short surfaces from httpx itself, past the SDK's retries.
        raise ResponderError(
            f"model {choice.model!r}: the answer was cut short ({error.__class__.__name__})"
        ) from None


def build(settings: OpenAISettings) -> Responder:
    """Return the responder for ``[responder]``, streaming unless ``stream = false``."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(
        api_key=api_key(settings),
        base_url=settings.base_url,
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
    )
    kind = StreamingOpenAIResponder if settings.stream else OpenAIResponder
    return kind(settings, client)


plugin = ResponderPlugin(
    kind="openai", settings_model=OpenAISettings, build=build, check_secrets=check_secrets
)
"""Any OpenAI-compatible chat-completions endpoint, through the ``openai`` SDK."""
