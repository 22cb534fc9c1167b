"""Option types that are strict in the TOML file and read text from the environment.

TOML values are typed: ``idle_reset_minutes = true`` or ``keep_checkpointed = "yes"``
is a mistake, and pydantic's lax mode would quietly take the first as 1 and the
second as ``True``. Environment variables, on the other hand, are only ever text:
``SESSIONBOT_SESSIONS__IDLE_RESET_MINUTES=30`` must read as 30. The environment
source of :mod:`bot.config` wraps every value it reads in :class:`EnvText`, so
:data:`ConfigInt` and :data:`ConfigBool` can tell the two apart: text from the
environment is read the lax way, and anything else must already have the type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

__all__ = ["ConfigBool", "ConfigFloat", "ConfigInt", "EnvText", "as_env_text"]


class EnvText(str):
    """A value as read from an environment variable, where every value is text."""

    __slots__ = ()


def as_env_text(variables: Mapping[str, str | None]) -> dict[str, str | None]:
    """Return environment variables, names lower-cased, their values marked as EnvText.

    Names are lower-cased as pydantic-settings' environment source keeps them when it
    is not case-sensitive.
    """
    return {
        name.lower(): None if value is None else EnvText(value) for name, value in variables.items()
    }


def _typed(kind: type, error_type: str, message: str) -> WrapValidator:
    """Return a validator that takes ``kind`` itself, or text from the environment."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # ``type(...) is``, not isinstance: True is an int to Python, not to an operator.
        if type(value) is kind or isinstance(value, EnvText):
            return handler(value)
        raise PydanticCustomError(error_type, message)

    return WrapValidator(validate)


ConfigInt = Annotated[
    int, _typed(int, "int_type", "Input should be an integer (not text, a boolean or a float)")
]
"""An integer: a TOML integer (not a boolean, a float or a string), or environment text
such as ``"30"``."""

ConfigBool = Annotated[
    bool, _typed(bool, "bool_type", "Input should be true or false (not text or a number)")
]
"""A boolean: a TOML ``true``/``false`` (not a string or a number), or environment text
such as ``"false"``, ``"no"`` or ``"0"``."""


def _number(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # ``type(...) in``, not isinstance: True is an int to Python, not to an operator.
    if type(value) in (int, float) or isinstance(value, EnvText):
        return handler(value)
    raise PydanticCustomError("float_type", "Input should be a number (not text or a boolean)")


ConfigFloat = Annotated[float, WrapValidator(_number)]
"""A number: a TOML integer or float (not a boolean or a string), or environment text
such as ``"0.7"``."""
