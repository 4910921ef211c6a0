"""Plain str/int/float/bool parameters skip the pydantic model only when it would change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field, ValidationError

from bridgehead.connectors.base import CallContext
from bridgehead.connectors.functions import _plain_arguments, _plain_parameters, _schema_model, tool


@tool
def plain(text: str, count: int, ctx: CallContext, ratio: float = 0.5, loud: bool = False) -> str:
    return text


@tool
def constrained(text: str = Field(max_length=3)) -> str:
    return text


@tool
def optional(text: str | None = None) -> str:
    return text or ""


def through_model(arguments: dict[str, Any]) -> dict[str, Any] | None:
    model, _ = _schema_model(plain)
    try:
        parsed = model.model_validate(arguments)
    except ValidationError:
        return None
    return {key: getattr(parsed, key) for key in type(parsed).model_fields}


@pytest.mark.parametrize(
    "arguments",
    [
        {"text": "a", "count": 2},
        {"text": "a", "count": 2, "ratio": 0.25, "loud": True},
        {"text": "", "count": -7, "ratio": 1e300},
    ],
)
def test_exact_types_give_what_the_model_gives(arguments: dict[str, Any]) -> None:
    parameters = _plain_parameters(plain)
    assert parameters is not None
    shortcut = _plain_arguments(arguments, parameters)
    expected = through_model(arguments)
    assert shortcut == expected
    assert shortcut is not None and expected is not None
    assert [type(v) for v in shortcut.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    "arguments",
    [
        {"text": "a", "count": 2.0},  # the model turns 2.0 into 2
        {"text": "a", "count": 2, "ratio": 1},  # and 1 into 1.0
        {"text": "a", "count": True},  # a bool is not an int here
        {"text": "a", "count": 1, "loud": 1},
        {"text": "a"},  # missing a required argument: the model words the error
        {"text": "a", "count": 1, "other": 1},  # an unknown argument
    ],
)
def test_anything_else_goes_through_the_model(arguments: dict[str, Any]) -> None:
    parameters = _plain_parameters(plain)
    assert parameters is not None
    assert _plain_arguments(arguments, parameters) is None


def test_parameters_with_constraints_or_other_types_always_use_the_model() -> None:
    assert _plain_parameters(constrained) is None
    assert _plain_parameters(optional) is None
