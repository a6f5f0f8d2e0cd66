"""How much a file may make translate read before it is trusted: one size limit for every piece
of metadata (a safetensors header with its metadata, an exported model's ``translate.json``, a
TOML/JSON config, a run's ``log.jsonl`` and ``metrics.jsonl``), and bounds on what a weights file
may declare (tensors that share memory, absurd widths).

Metadata is parsed whole (JSON, TOML), and a parser takes several times the text's size in
memory, so the limit is checked on the bytes before any parser sees them: a file that says it is
larger is refused in one line naming the file and the limit. Run logs only grow by appending and
are read back for the run page, so an over-long one is read from its last ``MAX_METADATA_BYTES``
instead of refused (a long run must not stop because its log is long).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

from .errors import UserError

MAX_METADATA_BYTES = 64 * 1024 * 1024  # 64 MiB: ~100x the largest real one (a million-step log.jsonl is ~30 MB)
SAFETENSORS_LENGTH_BYTES = 8  # the header starts with its own length, a little-endian u64


def too_large(path: str | Path, size: int, what: str) -> UserError:
    return UserError(f"{path}: its {what} is {size:,} bytes, over translate's limit of {MAX_METADATA_BYTES:,} "
                     "bytes for metadata; the file is damaged or was made to exhaust memory")


def read_bounded(stream: BinaryIO, path: str | Path, what: str) -> bytes:
    """Everything left in ``stream``, or one line if it is over the limit (never more than the
    limit plus one byte is read, whatever the stream claims about its size)."""
    data = stream.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise UserError(f"{path}: its {what} is over translate's limit of {MAX_METADATA_BYTES:,} bytes for "
                        "metadata; the file is damaged or was made to exhaust memory")
    return data


def read_bytes(path: str | Path, what: str = "text") -> bytes:
    """A metadata file's bytes, refused in one line over the limit (checked on its size first,
    then on what is read, for files that grow or lie about their size, like /dev/zero)."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_METADATA_BYTES:
            raise too_large(path, size, what)
        return read_bounded(f, path, what)


def read_text(path: str | Path, what: str = "text") -> str:
    """A metadata file's text (UTF-8, undecodable bytes replaced), refused over the limit."""
    return read_bytes(path, what).decode("utf-8", errors="replace")


def safetensors_header_problem(path: str | Path) -> str:
    """Why a safetensors file must not be parsed ('' if it may): its header (tensor index and
    metadata, JSON) is longer than the file or over the limit. Checked before the safetensors
    library parses it, which accepts headers up to 100 MB. Callers put the reason in their own
    one-line error, with the fix that fits what the file should have been."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(SAFETENSORS_LENGTH_BYTES)
    if len(head) < SAFETENSORS_LENGTH_BYTES:
        return f"{size} bytes, shorter than a safetensors header"
    (length,) = struct.unpack("<Q", head)
    if length > size - SAFETENSORS_LENGTH_BYTES:
        return f"its header length says {length:,} bytes, more than the file holds: truncated, or another format"
    if length > MAX_METADATA_BYTES:
        return f"its header is {length:,} bytes, over translate's limit of {MAX_METADATA_BYTES:,} bytes for metadata"
    return ""


def tail_start(size: int) -> int:
    """Where to start reading a run log of ``size`` bytes so that at most the limit is read."""
    return max(0, size - MAX_METADATA_BYTES)
