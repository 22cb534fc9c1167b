"""Each package exports a sorted ``__all__``; an export that goes missing fails here."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "core": {
        "Answer",
        "ApiKey",
        "ArchiveReason",
        "Branch",
        "ChannelSettings",
        "Checkpoint",
        "Clock",
        "CommandError",
        "ConfigError",
        "ConflictError",
        "Context",
        "DEFAULT_SCOPE",
        "Deliveries",
        "DeliveryAnswer",
        "EchoResponder",
        "ExportFormat",
        "FirstDelivery",
        "HistoryPage",
        "ImportedSession",
        "Inbound",
        "InboundHandler",
        "LiveSessions",
        "ManualClock",
        "Message",
        "NewMessage",
        "NotFoundError",
        "PermissionDenied",
        "Placement",
        "ProactiveSender",
        "Reply",
        "ReplyFile",
        "Resolution",
        "Responder",
        "ResponderError",
        "Role",
        "Scope",
        "ScopeKey",
        "Session",
        "SessionFilter",
        "SessionManager",
        "SessionStatus",
        "SessionbotError",
        "StaleSessionError",
        "StorageError",
        "Store",
        "StreamingResponder",
        "SystemClock",
        "UsageError",
        "channel_key_for",
        "new_api_key",
        "next_resets",
        "parse_api_key",
        "parse_export",
        "render_export",
        "scope_key_for",
        "secret_matches",
        "stream_export",
    },
    "commands": {
        "CommandContext",
        "Registry",
        "Router",
        "RouterSettings",
        "default_registry",
        "discover_plugins",
        "parse_command",
    },
    "bot": {
        "Application",
        "Settings",
        "adapter_plugins",
        "check_secrets",
        "load_config",
        "responder_plugins",
        "secret_from_env",
    },
    "adapters": {
        "AdapterContext",
        "AdapterPlugin",
        "AdapterSettings",
        "BaseAdapter",
        "ConsoleAdapter",
    },
    # What plugin authors import; the names stay when modules move.
    "sessionbot": {
        "Adapter",
        "AdapterContext",
        "AdapterPlugin",
        "AdapterSettings",
        "Answer",
        "BaseAdapter",
        "CommandContext",
        "CommandError",
        "CommandRegistry",
        "CommandSpec",
        "EchoResponder",
        "FirstDelivery",
        "Inbound",
        "LiveMessage",
        "LiveReply",
        "MenuOption",
        "OptionKind",
        "Reply",
        "ReplyFile",
        "ReplyStream",
        "Responder",
        "ResponderPlugin",
        "ResponderSettings",
        "StreamingResponder",
        "UsageError",
    },
}


def isort_order(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions: the order ``ruff`` keeps ``__all__`` in."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_all_is_sorted_complete_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=isort_order)
    assert EXPECTED[package] <= set(exported)
    for name in exported:
        assert getattr(module, name) is not None


def test_the_sessionbot_package_holds_nothing_but_its_exports() -> None:
    import sessionbot

    public = {name for name in vars(sessionbot) if not name.startswith("_")}
    assert public == set(sessionbot.__all__)
