"""Callback types shared between the layers.

Adapters only know :data:`InboundHandler`: ``bot`` hands them the router's
``handle`` method under this type, so adapters never import ``commands``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.models import Inbound, Reply

InboundHandler = Callable[[Inbound], Awaitable[list[Reply]]]
"""Takes one normalised inbound message and returns the replies to send back."""

ProactiveSender = Callable[[str, str], Awaitable[None]]
"""Sends ``text`` (second argument) to a channel key (first argument) unprompted."""

FirstDelivery = Callable[[str, str], Awaitable[bool]]
"""Records a platform event's id (source, then id); ``False`` if it was seen before.

Adapters of platforms that redeliver events (Slack) drop an event it says was seen.
"""
