"""A dataset's schema contract, applied to every output record on its way to the data object.

The converters write JSON Lines to a sink; with a contract, that sink is a ``ContractGate``
which checks each record against the dataset's JSON Schema (lineage fields aside, as the
dataset's producers never write them) and sends a failing record to the rejects instead,
naming the field and the rule it breaks. Records are checked after type inference, so a
schema says ``"type": "integer"`` for a CSV column of whole numbers.

jsonschema is imported here only, and this module only when a dataset has a schema: the other
runs do not pay for the import.
"""

from __future__ import annotations

from typing import Any

import msgspec
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.exceptions import best_match

from tasks.common.records import LINEAGE_FIELDS
from tasks.transform.output import ByteSink, Reject, truncate_raw


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ``jsonschema.SchemaError`` if ``schema`` is not a valid draft 2020-12 schema."""
    Draft202012Validator.check_schema(schema)


def violation_reason(error: SchemaViolation) -> str:
    """``contract: field 'amount': -1 is less than the minimum of 0 (rule minimum)``."""
    path = "/".join(str(part) for part in error.absolute_path)
    where = f"field '{path}'" if path else "record"
    return f"contract: {where}: {error.message} (rule {error.validator})"


class ContractGate:
    """A ``ByteSink`` passing on the JSON lines that satisfy ``schema``, rejecting the others."""

    def __init__(self, schema: dict[str, Any], *, data: ByteSink, rejects: ByteSink) -> None:
        self._validator = Draft202012Validator(schema)
        self._data = data
        self._rejects = rejects
        self._decoder = msgspec.json.Decoder()
        self._encoder = msgspec.json.Encoder()
        self.rejected = 0

    def write(self, data: bytes, /) -> None:
        kept: list[bytes] = []
        refused: list[bytes] = []
        for line in data.splitlines():
            record = self._decoder.decode(line)
            fields = {key: value for key, value in record.items() if key not in LINEAGE_FIELDS}
            error = best_match(self._validator.iter_errors(fields))
            if error is None:
                kept.append(line)
            else:
                reject = Reject(record["_line"], violation_reason(error), truncate_raw(line))
                refused.append(self._encoder.encode(reject))
        if kept:
            self._data.write(b"\n".join(kept) + b"\n")
        if refused:
            self._rejects.write(b"\n".join(refused) + b"\n")
            self.rejected += len(refused)
