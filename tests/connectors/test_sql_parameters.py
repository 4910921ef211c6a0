"""Named-query parameters: their JSON Schema, their validation and the values they bind."""

from __future__ import annotations

import datetime as dt

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from bridgehead.connectors.sql.parameters import ParameterSpec, bound_values, input_schema


def test_parameters_become_a_closed_2020_12_schema() -> None:
    parameters = {
        "region": ParameterSpec(type="string", description="Region", enum=["emea", "amer"]),
        "limit": ParameterSpec(type="integer", minimum=1, maximum=50, default=10),
        "since": ParameterSpec(type="date", required=False),
        "code": ParameterSpec(type="string", pattern="^[A-Z]{3}$", min_length=3, max_length=3),
        "paid": ParameterSpec(type="boolean"),
        "at": ParameterSpec(type="datetime", required=False),
        "ratio": ParameterSpec(type="number", required=False),
    }
    schema = input_schema(parameters)
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["region", "code", "paid"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["limit"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    assert schema["properties"]["since"] == {"type": "string", "format": "date"}
    assert schema["properties"]["code"] == {
        "type": "string",
        "minLength": 3,
        "maxLength": 3,
        "pattern": "^[A-Z]{3}$",
    }
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"region": "emea", "code": "ABC", "paid": True})
    assert not validator.is_valid({"region": "apac", "code": "ABC", "paid": True})
    assert not validator.is_valid({"region": "emea", "code": "ABC", "paid": True, "extra": 1})


def test_values_are_converted_defaulted_or_null() -> None:
    parameters = {
        "limit": ParameterSpec(type="integer", default=10),
        "since": ParameterSpec(type="date", required=False),
        "at": ParameterSpec(type="datetime", required=False),
        "ratio": ParameterSpec(type="number", required=False),
    }
    assert bound_values(parameters, {}) == {"limit": 10, "since": None, "at": None, "ratio": None}
    values = bound_values(
        parameters, {"limit": 3.0, "since": "2025-02-01", "at": "2025-02-01T10:00:00+02:00", "ratio": 1}
    )
    assert values == {
        "limit": 3,
        "since": dt.date(2025, 2, 1),
        "at": dt.datetime(2025, 2, 1, 8, 0),  # offsets become UTC
        "ratio": 1.0,
    }
    with pytest.raises(ValueError, match="argument 'since': 'soon' is not a date"):
        bound_values(parameters, {"since": "soon"})


def test_inconsistent_declarations_are_config_errors() -> None:
    with pytest.raises(ValidationError, match="minimum/maximum apply to integer and number"):
        ParameterSpec(type="string", minimum=1)
    with pytest.raises(ValidationError, match="apply to string parameters only"):
        ParameterSpec(type="integer", pattern="x")
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        ParameterSpec(type="string", pattern="(")
    with pytest.raises(ValidationError, match="is not a date"):
        ParameterSpec(type="date", default="tomorrow")
    with pytest.raises(ValidationError, match="cannot be required"):
        ParameterSpec(type="integer", default=1, required=True)
    with pytest.raises(ValidationError, match="is not a boolean"):
        ParameterSpec(type="boolean", enum=["yes"])
