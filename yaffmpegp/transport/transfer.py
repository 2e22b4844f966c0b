"""The transfer check and progress of SSH file transfers.

A file moved to or from a host counts only once its size and digest, computed on both ends,
agree. It guards against truncated or damaged files; SSH itself already authenticates every
byte in transit. coreutils' sha1sum ran at 680 MB/s here, sha256sum at 340 MB/s, and the
remote digest is on the critical path of every upload, so SHA-1.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import TransferError
from .base import ByteCallback

DIGEST, DIGEST_TOOL = "sha1", "sha1sum"  # hashlib's name, the remote tool


def local_digest(path: Path) -> tuple[int, str]:
    """(size, digest) of a local file; run in a thread."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, DIGEST).hexdigest()
        return os.fstat(f.fileno()).st_size, digest


def verify(name: str, want: tuple[int, str], got: tuple[int, str], host: str) -> None:
    if want[0] != got[0]:
        raise TransferError(f"{name}: size mismatch after transfer ({got[0]} bytes, expected {want[0]})",
                            host=host)
    if want[1] != got[1]:
        raise TransferError(f"{name}: {DIGEST} mismatch after transfer", host=host)


def progress_handler(on_bytes: ByteCallback | None):  # type: ignore[no-untyped-def]
    """An asyncssh progress handler (cumulative counts) that passes NEW bytes to `on_bytes`."""
    if on_bytes is None:
        return None
    last = 0

    def handler(_src: bytes, _dst: bytes, copied: int, _total: int) -> None:
        nonlocal last
        if copied > last:
            on_bytes(copied - last)
            last = copied

    return handler
