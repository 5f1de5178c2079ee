"""Errors raised by the task handlers.

Each class name is the error name the state machine sees (the Lambda runtime reports
``type(exc).__name__`` as ``errorType``), so the ASL ``Retry`` and ``Catch`` clauses match
on these names. Never rename one without changing ``workflow/pipeline.asl.json``; a test
keeps the two in step.

- ``BusinessError`` subclasses: the input can never succeed as it is. The workflow catches
  them, publishes the rejection and ends in the ``Rejected`` Fail state.
- ``TransientError``: a dependency was briefly unavailable (S3 throttling, timeouts). The
  workflow retries it with backoff and jitter.
- ``OutputSuperseded``: a later run of the same source version owns the output; caught, and the
  run ends without effect.
- Anything else is a system error: not caught, so the execution fails at that Task and can
  be redriven from it once the cause is fixed.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class BusinessError(PipelineError):
    """The request or the file is unusable; retrying or redriving cannot help."""


class ValidationError(BusinessError):
    """The request is malformed (missing or wrongly typed fields, a key outside ``incoming/``), or
    names an object the pipeline cannot read (a KMS or customer-provided key, an archive storage
    class) or whose outputs S3 would refuse (a key or user metadata over S3's limits)."""


class ObjectNotFound(BusinessError):
    """The object (or the pinned version of it) does not exist."""


class EmptyObject(BusinessError):
    """The object has zero bytes or holds no records."""


class ObjectTooLarge(BusinessError):
    """The object, or what it decompresses to, is over a configured limit (its stored size, its
    decompressed size or ratio), or too large to transform in the function's time. The message
    names the limit."""


class UnsupportedFormat(BusinessError):
    """The key's extension or the content is not CSV, a JSON array of objects or JSON Lines."""


class UnsupportedEncoding(BusinessError):
    """The content is not UTF-8 text."""


class MalformedInput(BusinessError):
    """The file cannot be parsed past a point (broken JSON array, truncated gzip)."""


class TooManyRejects(BusinessError):
    """More records were rejected than the configured threshold allows."""


class ParquetConversionFailed(PipelineError):
    """DuckDB could not write the staged records as Parquet exactly (a value it cannot represent, a
    row count that differs). A system error: the run fails at WriteParquet, redrivable once fixed."""


class StagedFormatMismatch(PipelineError):
    """The staged data object is not of the run's output format: a wiring bug in the workflow, not
    the input's fault. A system error: the run fails at WriteOutput, redrivable once fixed."""


class StagedOutputMissing(PipelineError):
    """An object an earlier step of the run staged under ``staging/`` is gone (expired or deleted).
    Not the input's fault, so a system error: the run fails at this step. A redrive would find it
    gone too; a new run of the source stages it again."""


class OutputSuperseded(PipelineError):
    """A run that started later has committed the output of this source version: this run's output
    must not replace it. Neither a business error (the input is fine) nor a system error (nothing to
    fix or redrive): the workflow records it and the run ends in its Superseded state."""


class TransientError(PipelineError):
    """A dependency failed in a way that is worth retrying (throttling, timeouts)."""


BUSINESS_ERRORS: tuple[type[BusinessError], ...] = (
    ValidationError,
    ObjectNotFound,
    EmptyObject,
    ObjectTooLarge,
    UnsupportedFormat,
    UnsupportedEncoding,
    MalformedInput,
    TooManyRejects,
)
# The same, as the ASL error names the workflow's Catch lists and the alerts' patterns use.
BUSINESS_ERROR_NAMES: tuple[str, ...] = tuple(error.__name__ for error in BUSINESS_ERRORS)
