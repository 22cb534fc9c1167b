"""Posting to Slack: messages, ephemeral messages and files, and what to do on errors.

Replies are split to :data:`TEXT_LIMIT` by the adapter's base class before they
get here, counted as escaped text. What fails is handled by kind:

* rate limited (429): slack_sdk's retry handler waits as long as ``Retry-After``
  says, then tries again; connection errors and 5xx answers are retried with
  exponential backoff the same way (:func:`retry_handlers`);
* the bot is not in the channel any more (``not_in_channel``,
  ``channel_not_found``, ``is_archived``): logged once per channel, the rest of
  the reply dropped (:class:`adapters.base.Undeliverable`);
* anything else Slack refuses: logged with Slack's error code, that message
  skipped, the rest of the reply still sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from pathlib import PurePath

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import Undeliverable
from adapters.slack_events import SlackTarget, escape
from core import ReplyFile

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4000
"""The longest message text posted, escaped: Slack advises staying under 4,000
characters (it truncates at 40,000, and clients show long texts poorly)."""

GONE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "account_inactive"})
"""Slack's errors for a channel the bot can no longer post in."""


def retry_handlers(attempts: int = 5) -> list[AsyncRetryHandler]:
    """Return retry handlers for rate limits, connection errors and server errors."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=attempts),
        AsyncConnectionErrorRetryHandler(max_retry_count=attempts),
        AsyncServerErrorRetryHandler(max_retry_count=attempts),
    ]


class SlackSender:
    """Posts through a Web API client, as the module docstring describes.

    Args:
        client: the bot's Web API client (its retry handlers do the waiting).
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._gone: set[str] = set()

    async def post_text(self, target: SlackTarget, text: str) -> None:
        """Post ``text`` (escaped here) to the channel or thread, or to one user only.

        Raises:
            Undeliverable: the bot can no longer post in the channel.
        """
        escaped = escape(text)
        if target.private_to is not None:
            await self._call(
                target,
                "a message",
                self._client.chat_postEphemeral(
                    channel=target.channel,
                    user=target.private_to,
                    text=escaped,
                    thread_ts=target.thread_ts,
                ),
            )
            return
        await self._call(
            target,
            "a message",
            self._client.chat_postMessage(
                channel=target.channel, text=escaped, thread_ts=target.thread_ts
            ),
        )

    async def post_file(self, target: SlackTarget, file: ReplyFile) -> None:
        """Upload ``file`` into the channel or thread under its own name.

        Raises:
            Undeliverable: the bot can no longer post in the channel.
        """
        name = PurePath(file.name).name or "file"
        await self._call(
            target,
            f"the file {name!r}",
            self._client.files_upload_v2(
                channel=target.channel,
                thread_ts=target.thread_ts,
                content=file.content,
                filename=name,
                title=name,
            ),
        )

    async def _call(self, target: SlackTarget, what: str, call: Awaitable[object]) -> None:
        try:
            await call
            self._gone.discard(target.channel)  # the bot may have been invited back
        except SlackApiError as error:
            code = error_code(error)
            if code in GONE:
                self._went(target.channel, code)
                raise Undeliverable(f"channel {target.channel}: {code}") from None
            logger.error("slack: Slack refused %s for channel %s: %s", what, target.channel, code)
        except (ClientError, TimeoutError) as error:
            # The retry handlers gave up; a reply lost is logged, never silent.
            logger.error("slack: sending %s to channel %s failed: %s", what, target.channel, error)

    def _went(self, channel: str, code: str) -> None:
        if channel in self._gone:
            logger.debug("slack: channel %s still unreachable (%s)", channel, code)
            return
        self._gone.add(channel)
        logger.warning("slack: channel %s cannot be reached (%s); skipping it", channel, code)


def error_code(error: SlackApiError) -> str:
    """Return Slack's error code, or the HTTP status of an answer that was not JSON."""
    data = error.response.data
    if isinstance(data, dict):
        return str(data.get("error", "unknown"))
    return f"HTTP {error.response.status_code}"
