"""Adapters: the contract (:mod:`adapters.base`) and one module per platform.

Each platform module holds its settings model and its plugin, named by an entry
point of the ``sessionbot.adapters`` group, and imports no platform library: the
plugin's ``build`` imports it (Telegram's is in :mod:`adapters.telegram_adapter`),
only when the adapter is enabled. The console needs nothing but the standard
library, so it is exported here.
"""

from adapters.base import AdapterContext, AdapterPlugin, AdapterSettings, BaseAdapter
from adapters.console import ConsoleAdapter

__all__ = ["AdapterContext", "AdapterPlugin", "AdapterSettings", "BaseAdapter", "ConsoleAdapter"]
