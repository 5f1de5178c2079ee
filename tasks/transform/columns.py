"""Column names and column types: what a CSV header and a sample of its values become.

Names are normalized so that every output uses the same, query-friendly keys (``Order ID``
and ``order id`` both become ``order_id``) and never repeat (a repeated key would silently
drop a column). Types are inferred from the first records, by the same checks the converter
applies to every value afterwards (``_csvjson.survey`` and ``_csvjson.convert``).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence

LINEAGE_FIELDS = ("_source_key", "_source_version", "_line")
"""Added to every output record: where it came from. A column can never take these names."""

_NOT_NAME_CHARACTERS = re.compile(r"[\W_]+")


class ColumnType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


# The converter's one-letter codes: the kind of a single value ("n" for an empty one).
KIND_CODES: dict[ColumnType, str] = {
    ColumnType.STRING: "s",
    ColumnType.INTEGER: "i",
    ColumnType.FLOAT: "f",
    ColumnType.BOOLEAN: "b",
    ColumnType.DATE: "d",
    ColumnType.TIMESTAMP: "t",
}
_TYPE_OF_KIND = {code: column_type for column_type, code in KIND_CODES.items()}


def normalize_name(raw: str) -> str:
    """``" Order ID (€)"`` → ``order_id``: NFKC, lower case, runs of other characters (``_`` too) as one ``_``.

    Letters and digits of any script are kept (a Japanese header stays readable); the result
    may be empty, which ``unique_column_names`` replaces by the column's position.
    """
    folded = unicodedata.normalize("NFKC", raw).strip().lower()
    return _NOT_NAME_CHARACTERS.sub("_", folded).strip("_")


def unique_column_names(raw: Sequence[str]) -> list[str]:
    """Normalized header names, never empty, never repeated, never a lineage field's name.

    An empty name becomes ``column_<position>``; a repeated one gets ``_2``, ``_3``... skipping
    any suffix already taken by another column.
    """
    normalized = [normalize_name(name) or f"column_{position}" for position, name in enumerate(raw, start=1)]
    taken = set(normalized) | set(LINEAGE_FIELDS)
    seen: set[str] = set(LINEAGE_FIELDS)
    names: list[str] = []
    for name in normalized:
        unique = name
        if name in seen:
            suffix = 2
            while f"{name}_{suffix}" in taken:
                suffix += 1
            unique = f"{name}_{suffix}"
            taken.add(unique)
        seen.add(name)
        names.append(unique)
    return names


def column_type(kinds: str) -> ColumnType:
    """The narrowest type every non-null value fits, from the kind letters ``_csvjson.survey`` saw.

    Integers and floats together make a float column. Dates and timestamps are not mixed: a
    column of both is a string column, as no single type describes it. A column with no value
    to go by is a string column.
    """
    letters = set(kinds) - {"n"}
    if not letters:
        return ColumnType.STRING
    if letters == {"i", "f"}:
        return ColumnType.FLOAT
    if len(letters) == 1:
        return _TYPE_OF_KIND[letters.pop()]
    return ColumnType.STRING
