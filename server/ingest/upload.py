"""Uploads streamed to a spool file, so a gigabyte feed never sits in memory.

The request body arrives in small pieces; they are written to a ``SpooledTemporaryFile`` (in
memory up to ``SPOOL_MEMORY``, then on disk under the data directory) while the size is
counted against the limit, and ingestion then reads the file back a megabyte at a time. The
batch's transaction (and its source lock) starts only once the whole upload has arrived, so
a slow sender holds no lock.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["SPOOL_MEMORY", "UploadTooLarge", "iter_spool", "spool"]

SPOOL_MEMORY = 8 << 20  # uploads up to 8 MiB stay in memory
READ_CHUNK = 1 << 20


class UploadTooLarge(ValueError):
    """The body is larger than the limit."""


async def spool(body: AsyncIterable[bytes], limit: int, directory: Path) -> IO[bytes]:
    """The whole body in a temporary file (positioned at its start); the caller closes it,
    which deletes it. Raises ``UploadTooLarge`` as soon as more than ``limit`` bytes came.
    The file's ``sha256`` attribute is the body's SHA-256 (hex): a batch's fingerprint."""
    directory.mkdir(parents=True, exist_ok=True)
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=directory, prefix="upload-")
    size = 0
    digest = hashlib.sha256()
    try:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(f"the upload is larger than {limit:,} bytes")
            out.write(chunk)
            digest.update(chunk)
        out.seek(0)
        out.sha256 = digest.hexdigest()  # type: ignore[attr-defined]
    except BaseException:
        out.close()
        raise
    return out  # type: ignore[return-value]


def iter_spool(fh: IO[bytes], size: int = READ_CHUNK) -> Iterator[bytes]:
    """Read a spooled upload back in chunks of ``size`` bytes."""
    while chunk := fh.read(size):
        yield chunk
