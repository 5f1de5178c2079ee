"""CommitRanges: the parts' outputs become the run's one staged output, checked as one pass checks it.

The parts' results are summed (records, rejects, each column's non-conforming values), the first
business error in file order is raised as one pass would have raised it, and the reject ratio
and "no records" are checked once, on the whole file. Then the parts' data objects, in order,
become the run's staged ``data.jsonl`` and their rejects its ``rejects.jsonl``: the keys the
single-pass transform stages, which WriteParquet and WriteOutput commit from unchanged.

Joining is one multipart upload per object, parts copied by S3 (``tasks.split.parts`` says how
small parts are handled), ``COPY_CONCURRENCY`` at once (``tasks.common.multipart``). The keys
are the run's, so a retried or redriven commit uploads the same bytes to the same keys again; a
failed upload is aborted (and the bucket's lifecycle rule removes any left behind).
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import BoundedSemaphore
from typing import Any

from tasks.common.aws import staged_errors
from tasks.common.datasets import DatasetSettings, dataset_settings
from tasks.common.errors import StagedOutputMissing
from tasks.common.layout import COLUMNS_FILE, staging_key, staging_keys
from tasks.common.models import ColumnSummary, StagedOutput
from tasks.common.multipart import send_parts
from tasks.common.staging import put_document
from tasks.split.layout import part_keys
from tasks.split.models import CommitRangesEvent, CsvSchema, PartResult
from tasks.split.parts import Part, plan_parts
from tasks.split.plan import max_reject_ratio_of
from tasks.split.staging import get_json, get_many
from tasks.transform.logic import TransformSettings
from tasks.transform.output import check_counts

UPLOADERS = 8
"""Parts uploaded again at once (of the ``COPY_CONCURRENCY`` parts in flight, the rest copied by
S3): an uploaded part holds at most 5 MiB in memory, so the function's 512 MB keeps its margin."""

CONTENT_TYPE = "application/x-ndjson"


def commit_ranges(s3: Any, event: CommitRangesEvent, settings: TransformSettings) -> StagedOutput:
    plan = event.plan
    split = plan.split
    keys = [part_keys(event.execution_arn, index) for index in range(plan.parts)]
    results = get_many(s3, bucket=split.bucket, keys=[key.result for key in keys], model=PartResult)
    dataset = dataset_settings(split.dataset) or DatasetSettings()
    schema = None
    if split.schema_key is not None:
        schema = get_json(s3, bucket=split.bucket, key=split.schema_key, model=CsvSchema)
    records, rejected, columns = merge_results(results, schema, max_reject_ratio=max_reject_ratio_of(settings, dataset))
    data_key, rejects_key = staging_keys(event.execution_arn)
    join_objects(
        s3,
        bucket=split.bucket,
        key=data_key,
        pieces=[(k.data, r.data_bytes) for k, r in zip(keys, results, strict=True)],
    )
    join_objects(
        s3,
        bucket=split.bucket,
        key=rejects_key,
        pieces=[(k.rejects, r.rejects_bytes) for k, r in zip(keys, results, strict=True)],
    )
    columns_key = None
    if schema is not None:
        # As the single-pass transform stages them: one entry per column, kept out of the state.
        columns_key = staging_key(event.execution_arn, COLUMNS_FILE)
        put_document(s3, bucket=split.bucket, key=columns_key, document=columns)
    return StagedOutput(
        bucket=split.bucket,
        data_key=data_key,
        rejects_key=rejects_key,
        records=records,
        rejected=rejected,
        columns_key=columns_key,
    )


def merge_results(
    results: Sequence[PartResult], schema: CsvSchema | None, *, max_reject_ratio: float
) -> tuple[int, int, list[ColumnSummary]]:
    """The whole file's records, rejects and column summary, checked as one pass checks them."""
    raise_first_error(results)
    records = sum(result.records for result in results)
    rejected = sum(result.rejected for result in results)
    check_counts(records, rejected, max_reject_ratio=max_reject_ratio)
    if schema is None:
        return records, rejected, []
    non_conforming = [0] * len(schema.names)
    for result in results:
        non_conforming = [total + more for total, more in zip(non_conforming, result.non_conforming, strict=True)]
    columns = [
        ColumnSummary(name=name, type=kind, non_conforming=count)
        for name, kind, count in zip(schema.names, schema.types, non_conforming, strict=True)
    ]
    return records, rejected, columns


def raise_first_error(results: Sequence[PartResult]) -> None:
    """Raise the business error of the first part (in file order) that met one."""
    for index, result in enumerate(results):
        if result.index != index:
            raise StagedOutputMissing(f"the result staged for part {index} is part {result.index}'s")
        if result.error is not None:
            raise result.error.exception()


def join_objects(s3: Any, *, bucket: str, key: str, pieces: Sequence[tuple[str, int]]) -> None:
    """Write ``key`` as the objects ``pieces`` (key, size) put end to end, in order."""
    join = _Join(s3, bucket, key, pieces)
    parts = plan_parts([size for _, size in pieces])
    with staged_errors(f"the parts staged for s3://{bucket}/{key}"):
        if not parts or (len(parts) == 1 and not parts[0].copied):
            body = join.read(parts[0]) if parts else b""
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPE, ServerSideEncryption="AES256")
            return
        send_parts(
            s3,
            bucket=bucket,
            key=key,
            create={"ContentType": CONTENT_TYPE, "ServerSideEncryption": "AES256"},
            parts=len(parts),
            send=lambda upload_id, number: join.upload(upload_id, number, parts[number - 1]),
        )


class _Join:
    """The S3 calls of one join: copy or upload each part, read re-uploaded bytes."""

    def __init__(self, s3: Any, bucket: str, key: str, pieces: Sequence[tuple[str, int]]) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._pieces = pieces
        self._uploaders = BoundedSemaphore(UPLOADERS)

    def upload(self, upload_id: str, number: int, part: Part) -> str:
        """Copy or upload ``part`` as part ``number``; its ETag."""
        if part.copied:
            (segment,) = part.segments
            copied = self._s3.upload_part_copy(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._bucket, "Key": self._pieces[segment.piece][0]},
                CopySourceRange=f"bytes={segment.start}-{segment.end - 1}",
            )
            copy_etag: str = copied["CopyPartResult"]["ETag"]
            return copy_etag
        with self._uploaders:
            uploaded = self._s3.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=upload_id, PartNumber=number, Body=self.read(part)
            )
        upload_etag: str = uploaded["ETag"]
        return upload_etag

    def read(self, part: Part) -> bytes:
        return b"".join(
            self._s3.get_object(
                Bucket=self._bucket,
                Key=self._pieces[segment.piece][0],
                Range=f"bytes={segment.start}-{segment.end - 1}",
            )["Body"].read()
            for segment in part.segments
        )
