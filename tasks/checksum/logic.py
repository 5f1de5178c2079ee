"""Checksum: the SHA-256 of the pinned version's bytes, for datasets that skip unchanged content.

The ledger compares it with the last succeeded version's to skip a re-upload of the same content
(``skipUnchangedContent`` in ``tasks/datasets/<dataset>.json``). Not the ETag: a multipart upload's
ETag depends on its part size, so the same bytes uploaded by two clients differ. Not S3's own
checksums: which one an object has depends on its uploader (CRC32, CRC64NVME, SHA-256, full-object
or composite), an object uploaded before 2025 may have none, and a CRC is no proof that content is
unchanged (collisions are easy to make on purpose). A SHA-256 computed here is the same for the same
bytes, whoever uploaded them, at the cost of reading the object once more.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tasks.common.aws import s3_errors
from tasks.common.models import ContentChecksum, SourceObject

CHUNK = 1024 * 1024


def checksum(s3: Any, source: SourceObject) -> ContentChecksum:
    """Read the pinned version once, streaming, and return its SHA-256."""
    digest = hashlib.sha256()
    where = f"s3://{source.bucket}/{source.key} (version {source.version_id})"
    with s3_errors(where):
        body = s3.get_object(Bucket=source.bucket, Key=source.key, VersionId=source.version_id)["Body"]
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
    return ContentChecksum(checksum=f"sha256:{digest.hexdigest()}")
