from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bot.option_types import ConfigBool, ConfigInt, EnvText, as_env_text


class Options(BaseModel):
    count: ConfigInt = 0
    flag: ConfigBool = False


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"count": 30}, (30, False)),
        ({"flag": True}, (0, True)),
        ({"count": EnvText("30"), "flag": EnvText("false")}, (30, False)),
        ({"count": EnvText(" 7 "), "flag": EnvText("on")}, (7, True)),
    ],
)
def test_typed_values_and_environment_text_are_accepted(
    data: dict[str, Any], expected: tuple[int, bool]
) -> None:
    options = Options.model_validate(data)
    assert (options.count, options.flag) == expected


@pytest.mark.parametrize(
    ("data", "error_type"),
    [
        ({"count": True}, "int_type"),
        ({"count": "30"}, "int_type"),
        ({"count": 30.0}, "int_type"),
        ({"count": EnvText("thirty")}, "int_parsing"),
        ({"flag": "yes"}, "bool_type"),
        ({"flag": 1}, "bool_type"),
        ({"flag": EnvText("maybe")}, "bool_parsing"),
    ],
)
def test_other_types_are_refused(data: dict[str, Any], error_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Options.model_validate(data)
    assert [error["type"] for error in caught.value.errors()] == [error_type]


def test_as_env_text_marks_values_and_lowers_names() -> None:
    marked = as_env_text({"SESSIONBOT_BOT__NAME": "x", "UNSET": None})
    assert marked == {"sessionbot_bot__name": "x", "unset": None}
    assert isinstance(marked["sessionbot_bot__name"], EnvText)
