"""Adapters: one module per platform, each turning platform events into ``core`` messages.

Only the console adapter is exported here because it needs nothing but the standard
library. Platform adapters import their platform library at module level, so they
are never imported from this package: ``bot.platforms`` imports each one only when
its ``[adapters.<name>]`` section is enabled.
"""

from adapters.console import ConsoleAdapter

__all__ = ["ConsoleAdapter"]
