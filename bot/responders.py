"""The responder plugin contract, and the built-in ``echo`` responder's plugin.

A responder answers plain (non-command) messages. ``[responder] kind`` names the one
a bot uses; each kind is a :class:`ResponderPlugin` named by an entry point of the
``sessionbot.responders`` group, and brings the settings model of the whole
``[responder]`` table::

    [project.entry-points."sessionbot.responders"]
    openai = "sessionbot_openai:plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from core import EchoResponder, Responder

ENTRY_POINT_GROUP = "sessionbot.responders"
"""The entry-point group responder plugins are found in."""

DEFAULT_KIND = "echo"
"""The responder used when ``[responder] kind`` is not set."""


class ResponderSettings(BaseModel):
    """The base of every responder's settings model: the ``[responder]`` table.

    A plugin adds its own options (``model``, ``base_url``, ``api_key_env``…).
    Unknown keys are errors, so a typo fails loudly.

    Attributes:
        kind: which responder answers; the name of its plugin.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = DEFAULT_KIND

    def counted_model(self) -> str | None:
        """Return the model whose tokenizer counts tokens (``[context] tokenizer = "auto"``).

        ``None`` (the default, and echo's): the built-in estimate counts.
        """
        return None


SettingsT = TypeVar("SettingsT", bound=ResponderSettings)


def no_secrets(settings: ResponderSettings) -> None:
    """Check nothing: for responders that need no secret."""


@dataclass(frozen=True, slots=True)
class ResponderPlugin(Generic[SettingsT]):
    """A responder as an entry point of the ``sessionbot.responders`` group names it.

    The module holding the plugin is imported whenever the configuration is read,
    so it should import heavy libraries (an LLM client) inside :attr:`build`.

    Attributes:
        kind: the value of ``[responder] kind`` that selects it.
        settings_model: validates the ``[responder]`` table.
        build: builds the responder from its validated settings.
        check_secrets: reads the secrets the settings name, so a missing one stops
            start-up before the database is opened. Raises
            :class:`core.ConfigError` naming the option and the variable.
    """

    kind: str
    settings_model: type[SettingsT]
    build: Callable[[SettingsT], Responder]
    check_secrets: Callable[[SettingsT], None] = no_secrets


def _echo(settings: ResponderSettings) -> Responder:
    return EchoResponder()


echo = ResponderPlugin(kind="echo", settings_model=ResponderSettings, build=_echo)
"""The built-in responder: repeats each message; needs no network."""
