"""The words every step uses for records: column names, column types, lineage fields, blank rows.

Names are normalized so that every output uses the same, query-friendly keys (``Order ID``
and ``order id`` both become ``order_id``) and never repeat (a repeated key would silently
drop a column). Fetch names the CSV header's columns with them, the transforms type and write
the records, and WriteParquet maps the column types onto Parquet's.
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


def is_blank_row(row: list[str]) -> bool:
    """A fully blank line: no field, or one whitespace-only field (a padded empty line).

    The CSV converter skips these wherever they are, as long as the file has more than one column
    (the same rule in C: ``classify_record`` in ``tasks/transform/_csvjson.c``).
    """
    return not row or (len(row) == 1 and row[0].strip() == "")
