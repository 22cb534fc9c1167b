"""The Slack app manifest: what an operator pastes into "Create New App → From a manifest".

It is generated from the command registry and the settings, so it always lists the
commands the bot answers, the bot scopes they need, the events the adapter reads,
and Socket Mode or the request URL of HTTP mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from adapters.base import CommandSpec

# chat:write.public: slash commands are answered in public channels the bot has
# not joined, as Slack users expect of a slash command.
_BASE_SCOPES = (
    "app_mentions:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:write",
    "im:history",
)
_CHANNEL_SCOPES = ("channels:history", "groups:history", "mpim:history")
_BASE_EVENTS = ("app_mention", "message.im")
_CHANNEL_EVENTS = ("message.channels", "message.groups", "message.mpim")
_DESCRIPTION_LIMIT = 2000
_HINT_LIMIT = 1000


def app_manifest(
    bot_name: str,
    commands: Sequence[tuple[str, CommandSpec]],
    *,
    socket_mode: bool,
    request_url: str,
    channel_messages: bool,
) -> str:
    """Return the manifest as YAML.

    Args:
        bot_name: the app's and the bot user's name.
        commands: each command's Slack name (``/new``) and the command.
        socket_mode: Socket Mode on; otherwise Slack posts to ``request_url``.
        request_url: HTTP mode: where Slack posts events and commands.
        channel_messages: the bot reads every message in its channels.
    """
    url = {} if socket_mode else {"url": request_url}
    slash_commands = [_slash_command(slack_name, command, url) for slack_name, command in commands]
    events: dict[str, Any] = {} if socket_mode else {"request_url": request_url}
    events["bot_events"] = list(_BASE_EVENTS + (_CHANNEL_EVENTS if channel_messages else ()))
    manifest = {
        "display_information": {
            "name": bot_name,
            "description": "Conversations with sessions, checkpoints and history.",
        },
        "features": {
            "app_home": {"messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": bot_name, "always_online": True},
            "slash_commands": slash_commands,
        },
        "oauth_config": {
            "scopes": {"bot": sorted(_BASE_SCOPES + (_CHANNEL_SCOPES if channel_messages else ()))}
        },
        "settings": {
            "event_subscriptions": events,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=1000)


def _slash_command(slack_name: str, command: CommandSpec, url: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "command": slack_name,
        "description": command.summary[:_DESCRIPTION_LIMIT] or slack_name,
    }
    hint = usage_hint(command)[:_HINT_LIMIT]
    if hint:
        entry["usage_hint"] = hint
    entry["should_escape"] = False
    return entry | url


def usage_hint(command: CommandSpec) -> str:
    """Return what follows the command in its usage line (``[title]`` for ``/new [title]``).

    A usage with alternatives (``/history [N] or /history export|clear …``) keeps
    them, each without the command's own name.
    """
    prefix = f"/{command.name}"
    hints = []
    for alternative in command.usage.split(" or "):
        hint = alternative.strip().removeprefix(prefix).strip()
        if hint:
            hints.append(hint)
    bare_allowed = len(hints) < len(command.usage.split(" or "))
    joined = " | ".join(hints)
    return f"[{joined}]" if bare_allowed and joined else joined
