"""Reading what ``upload_file`` is given, and naming it (SDK-API §1.1.4)."""

from __future__ import annotations

import asyncio
import io
import mimetypes
import os
from typing import Any

DEFAULT_MIME_TYPE = "application/octet-stream"


def upload_mime_type(name: str) -> str:
    """The MIME type guessed from a file name, else ``application/octet-stream``."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_MIME_TYPE


def _read_path(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as f:
        return f.read()


async def read_upload(file: Any) -> tuple[bytes, str | None]:
    """``(bytes, inferred name)`` of a path, a bytes-like object or a binary file object.

    Raises ``TypeError`` for a text-mode file or anything else. Files are read off the loop.
    """
    if isinstance(file, str | os.PathLike):
        data = await asyncio.to_thread(_read_path, file)
        return data, os.path.basename(os.fspath(file)) or None
    if isinstance(file, bytes | bytearray):
        return bytes(file), None
    if isinstance(file, memoryview):
        return file.tobytes(), None
    if isinstance(file, io.TextIOBase):
        raise TypeError("upload_file needs a binary file object: open the file with 'rb', not 'r'")
    read = getattr(file, "read", None)
    if not callable(read):
        raise TypeError(
            "upload_file takes a path, bytes, bytearray, memoryview or a binary file object, "
            f"not {type(file).__name__}"
        )
    data = await asyncio.to_thread(read)
    if isinstance(data, str):
        raise TypeError("upload_file needs a binary file object: open the file with 'rb', not 'r'")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"the file object's read() returned {type(data).__name__}, not bytes")
    raw_name = getattr(file, "name", None)
    inferred = os.path.basename(os.fspath(raw_name)) if isinstance(raw_name, str | os.PathLike) else None
    return bytes(data), inferred or None
