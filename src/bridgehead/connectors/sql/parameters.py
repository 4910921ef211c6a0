"""Parameters of named queries and statements: their JSON Schema, SQL types and bound values.

A parameter is declared once in the config and used three ways: as a property of
the tool's input schema (so the model sees types, enums and bounds, and bad
arguments are refused before the handler runs), as a typed SQL bind parameter
(so PostgreSQL knows ``:region`` is text even in ``:region IS NULL``), and as the
value bound — always bound, never pasted into the SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, String, bindparam
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

ParameterType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
Scalar = str | int | float | bool

PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ParameterSpec(BaseModel):
    """One ``:name`` parameter of a named query or statement."""

    model_config = ConfigDict(extra="forbid")

    type: ParameterType = "string"
    description: str = ""
    enum: list[Scalar] | None = Field(default=None, min_length=1)
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    default: Scalar | None = Field(
        default=None, description="Bound when the argument is left out; makes the parameter optional."
    )
    required: bool | None = Field(
        default=None, description="Defaults to true unless a default is given; optional ones bind NULL."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ParameterSpec:
        numeric = self.type in ("integer", "number")
        if (self.minimum is not None or self.maximum is not None) and not numeric:
            raise ValueError("minimum/maximum apply to integer and number parameters only")
        textual = self.type == "string"
        if (self.min_length is not None or self.max_length is not None or self.pattern) and not textual:
            raise ValueError("min_length/max_length/pattern apply to string parameters only")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
        for value in [*(self.enum or []), *([] if self.default is None else [self.default])]:
            self.convert(value)  # raises ValueError naming the value
        if self.required and self.default is not None:
            raise ValueError("a parameter with a default cannot be required")
        return self

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None

    def json_schema(self) -> dict[str, Any]:
        """This parameter as a JSON Schema 2020-12 property."""
        schema: dict[str, Any] = {
            "string": {"type": "string"},
            "integer": {"type": "integer"},
            "number": {"type": "number"},
            "boolean": {"type": "boolean"},
            "date": {"type": "string", "format": "date"},
            "datetime": {"type": "string", "format": "date-time"},
        }[self.type]
        if self.description:
            schema["description"] = self.description
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("pattern", self.pattern),
        ):
            if value is not None:
                schema[key] = int(value) if self.type == "integer" and isinstance(value, float) else value
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def sql_type(self) -> TypeEngine[Any]:
        """The bind type; on PostgreSQL it becomes a cast (``$1::VARCHAR``) so every use is typed."""
        types: dict[str, TypeEngine[Any]] = {
            "string": String(),
            "integer": BigInteger(),
            "number": Float(),
            "boolean": Boolean(),
            "date": Date(),
            "datetime": DateTime(),
        }
        return types[self.type]

    def convert(self, value: Any) -> Any:
        """The Python value to bind for a JSON argument; ValueError when it does not fit the type."""
        if value is None:
            return None
        kind = self.type
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{value!r} is not a boolean")
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
                raise ValueError(f"{value!r} is not an integer")
            return int(value)
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{value!r} is not a number")
            return float(value)
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string")
        if kind == "date":
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
        if kind == "datetime":
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not a date-time (ISO 8601)") from None
            # Bound as a plain timestamp: an offset, when given, is turned into UTC.
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
            return moment
        return value


def input_schema(parameters: Mapping[str, ParameterSpec]) -> dict[str, Any]:
    """The tool input schema for these parameters: closed, with the required ones listed."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: spec.json_schema() for name, spec in parameters.items()},
        "additionalProperties": False,
    }
    required = [name for name, spec in parameters.items() if spec.is_required]
    if required:
        schema["required"] = required
    return schema


def bind_parameters(parameters: Mapping[str, ParameterSpec]) -> list[BindParameter[Any]]:
    """Typed bind parameters for ``text(sql).bindparams(...)``."""
    return [bindparam(name, type_=spec.sql_type()) for name, spec in parameters.items()]


def bound_values(parameters: Mapping[str, ParameterSpec], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The value of every declared parameter: the argument, else its default, else NULL.

    Raises ValueError naming the parameter whose argument does not fit its type.
    """
    values: dict[str, Any] = {}
    for name, spec in parameters.items():
        raw = arguments.get(name, spec.default)
        try:
            values[name] = spec.convert(raw)
        except ValueError as exc:
            raise ValueError(f"argument '{name}': {exc}") from None
    return values
