"""Function configuration read from environment variables, validated once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec


class ConfigurationError(Exception):
    """An environment variable is missing or malformed: the deployment is wrong, not the input."""


S = TypeVar("S", bound=msgspec.Struct)


def from_environ(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Build ``model`` from the variables named like its fields in UPPER_SNAKE_CASE."""
    source = os.environ if environ is None else environ
    values = {field: source[field.upper()] for field in model.__struct_fields__ if field.upper() in source}
    try:
        return msgspec.convert(values, model, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"{model.__name__}: {exc}") from None
