"""Uploads (SDK-API §1.1.4, PROTOCOL.md §7): reading what ``upload_file`` is given, naming it,
and storing the bytes (an upload slot of the session, then a raw ``PUT``)."""

from __future__ import annotations

import asyncio
import io
import mimetypes
import os
from typing import Any

import httpx

from reactor_sdk.file_ref import FileRef
from reactor_sdk.http_api import ApiClient

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


def upload_target(url: str, api_url: str, local: bool) -> str:
    """Where the bytes go: a relative presigned URL is made absolute against ``api_url``; in local
    mode the URL's origin is replaced by ``api_url``'s (port forwarding, proxies)."""
    parsed = httpx.URL(url)
    base = httpx.URL(api_url)
    if not parsed.is_absolute_url:
        return str(base.join(url))
    if local:
        return str(parsed.copy_with(scheme=base.scheme, host=base.host, port=base.port))
    return url


async def store_upload(
    api: ApiClient, session_id: str, data: bytes, name: str, mime_type: str, *, local: bool, operation: str
) -> FileRef:
    """Ask the session for an upload slot and ``PUT`` the bytes there; the stored file's ref."""
    upload_id, url = await api.create_upload(
        session_id, {"name": name, "size": len(data), "mime_type": mime_type}, operation=operation
    )
    await api.put_upload(upload_target(url, api.base_url, local), data, mime_type, operation=operation)
    return FileRef(upload_id, name, mime_type, len(data))
