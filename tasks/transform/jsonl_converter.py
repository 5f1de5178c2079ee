"""JSON Lines to JSON Lines with lineage: validate in bulk, copy each line as it is.

Each line's JSON is already what the output needs, so it is never decoded into Python objects:
``_csvjson.jsonl_lines`` copies each line with the lineage fields added before its closing
brace, and one msgspec call validates the whole buffer's lines (as the elements of one array).
Only a buffer holding a bad line is checked line by line, to reject exactly the bad ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from tasks.common.records import LINEAGE_FIELDS
from tasks.transform import _csvjson
from tasks.transform.output import ByteSink, Lineage, Reject, json_type, truncate_raw, without_lineage_clash
from tasks.transform.readers import FILE_START, ByteStream, Position, Utf8Chunks

CHUNK_BYTES = 4 * 1024 * 1024

_LINEAGE_KEYS = tuple(msgspec.json.encode(name) for name in LINEAGE_FIELDS)
_VALUES = msgspec.json.Decoder(list[msgspec.Raw])
_VALUE = msgspec.json.Decoder(msgspec.Raw)
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])


@dataclass(frozen=True, slots=True)
class _Converted:
    output: bytes
    records: int
    rejects: list[Reject]


def convert_jsonl(
    source: ByteStream,
    *,
    encoding: str,
    lineage: Lineage,
    data: ByteSink,
    rejects: ByteSink,
    position: Position = FILE_START,
) -> tuple[int, int]:
    """Stream ``source`` (decompressed bytes) into JSON Lines and reject lines; return both counts.

    ``position`` says where ``source`` starts in its file (a part of a split file).
    """
    chunks = Utf8Chunks(source, encoding=encoding, first_line=position.newline_line)
    encoder = msgspec.json.Encoder()
    suffix = lineage.suffix()
    buffer = b""
    line = position.line
    records = rejected = 0
    read_size = CHUNK_BYTES
    while True:
        chunk = chunks.read(read_size)
        final = not chunk
        buffer += chunk
        cut = len(buffer) if final else buffer.rfind(b"\n") + 1
        if cut == 0 and not final:
            # A line longer than the buffer: read more at once, so a huge line costs a few reads.
            read_size *= 2
            continue
        read_size = CHUNK_BYTES
        block, buffer = buffer[:cut], buffer[cut:]
        converted = _convert_lines(block, line, suffix)
        line += block.count(b"\n")
        data.write(converted.output)
        records += converted.records
        rejected += len(converted.rejects)
        rejects.write(b"".join(encoder.encode(reject) + b"\n" for reject in converted.rejects))
        if final:
            return records, rejected


def _convert_lines(block: bytes, first_line: int, suffix: bytes) -> _Converted:
    """Convert a block of whole lines: at C speed when every line is a valid object, else line by line."""
    shaped = _csvjson.jsonl_lines(block, suffix, first_line)
    if shaped is not None:
        output, array, count = shaped
        # A line holding a lineage key needs its key renamed: rare, so only looked for by its prefix.
        clash = b'"_' in block and any(key in block for key in _LINEAGE_KEYS)
        if not clash and _elements(array) == count:
            return _Converted(output, count, [])
    return _convert_each_line(enumerate(block.split(b"\n"), start=first_line), suffix)


def _elements(array: bytes) -> int:
    """How many values the JSON array holds; -1 if it is not valid JSON.

    A line holding two values separated by a comma makes more elements than lines.
    """
    try:
        return len(_VALUES.decode(array))
    except (msgspec.DecodeError, RecursionError):
        return -1


def _convert_each_line(numbered: Iterable[tuple[int, bytes]], suffix: bytes) -> _Converted:
    """The careful path, for a block with a bad line, an empty object or a lineage key in it."""
    output: list[bytes] = []
    rejects: list[Reject] = []
    for number, line in numbered:
        text = line.strip()
        if not text:
            continue
        problem = _line_problem(text)
        if problem is None and not text.startswith(b"{"):
            problem = f"expected an object, found {json_type(msgspec.json.decode(text))}"
        if problem is not None:
            rejects.append(Reject(number, problem, truncate_raw(line.rstrip(b"\r"))))
            continue
        record = text
        if any(key in text for key in _LINEAGE_KEYS):
            record = msgspec.json.encode(without_lineage_clash(_FIELDS.decode(text)))
        body = record[:-1].rstrip()
        output.append((body + suffix if body != b"{" else body + suffix[1:]) + b"%d}\n" % number)
    return _Converted(b"".join(output), len(output), rejects)


def _line_problem(text: bytes) -> str | None:
    """Why one line is not valid JSON, or ``None`` if it is."""
    try:
        _VALUE.decode(text)
    except msgspec.DecodeError as exc:
        return f"invalid JSON: {exc}"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    return None
