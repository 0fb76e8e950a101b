"""A session's uploads (PROTOCOL.md §7): slots issued by ``POST``, filled by one ``PUT``.

Life of a slot::

    issue() --> PENDING --receive() starts--> RECEIVING --all bytes, exact size--> STORED
                   ^                              |
                   +------ body refused (size) ---+          (a command may now resolve it)

A PENDING slot is forgotten ``slot_ttl_s`` after it was issued. Every file lives in the session's
own folder, one sub-folder per upload id, under a sanitised name; the folder is removed when the
session ends. Errors are a small tree under :class:`UploadError`:

    UploadError
     ├── UnknownUploadError       no such slot here (never issued, expired, or the session ended)
     ├── UploadConflictError      the slot is already filled (or being filled)
     ├── UploadSizeError          the body is not exactly the declared size
     ├── UploadTooLargeError      over the server's upload limit
     ├── UploadStorageError       the server's disk is full (or over quota): try again later
     └── UnresolvedUploadError    a command's reference cannot be resolved (in time)

A body that cannot be stored leaves nothing behind: it is written to ``<name>.part`` and renamed
only once complete, and a failed write removes the part file and its empty folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openreactor.models.api import UploadedFile

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 128
REFERENCE_KEYS = frozenset({"upload_id", "name", "mime_type", "size"})
"""An inline FileRef in command data is an object with exactly these keys (PROTOCOL.md §7)."""


class UploadError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownUploadError(UploadError):
    pass


class UploadConflictError(UploadError):
    pass


class UploadSizeError(UploadError):
    pass


class UploadTooLargeError(UploadError):
    pass


class UnresolvedUploadError(UploadError):
    pass


class UploadStorageError(UploadError):
    """No room to store the body: the disk is full or the quota is spent (HTTP 507)."""


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""``OSError`` numbers that mean "no room here", not "something is broken"."""


def free_bytes(path: Path) -> int | None:
    """Free space on the file system that holds ``path`` (or would: its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return None


class SlotState(enum.Enum):
    PENDING = "pending"
    RECEIVING = "receiving"
    STORED = "stored"


_UNSAFE = re.compile(r"[^A-Za-z0-9._+\- ]")


def sanitize_file_name(name: str) -> str:
    """A file name that stays inside its folder: no separators, no NUL, no leading dots.

    ``../../etc/passwd`` → ``passwd``, ``C:\\x\\a b.png`` → ``a b.png``, ``\\0`` and other unsafe
    characters become ``_``; an empty result becomes ``upload``.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip().lstrip(".")
    if len(base) > MAX_NAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        base = base[: MAX_NAME_CHARS - len(keep) - 1] + ("." + keep if keep else "")
    return base or "upload"


@dataclass(slots=True, eq=False)
class UploadSlot:
    """One issued upload: what the client declared, and where its bytes go."""

    upload_id: str
    name: str
    """The name the client declared (unsanitised; the stored file's name is ``path.name``)."""
    mime_type: str
    size: int
    path: Path
    issued_at: float
    state: SlotState = SlotState.PENDING
    notified: bool = False
    """The client sent ``file_uploaded`` for it."""
    stored: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the bytes are stored, or when the slot goes away (then ``state`` says which)."""

    @property
    def is_stored(self) -> bool:
        return self.state is SlotState.STORED

    def as_file(self) -> UploadedFile:
        return UploadedFile(self.upload_id, self.name, self.mime_type, self.size, self.path)


class UploadStore:
    """The uploads of one session, stored under ``folder`` (created on the first upload)."""

    def __init__(self, folder: Path, *, max_bytes: int, slot_ttl_s: float) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.slot_ttl_s = slot_ttl_s
        self._slots: dict[str, UploadSlot] = {}
        self._loop = asyncio.get_running_loop()
        self.closed = False

    # -- slots -------------------------------------------------------------------------------

    def issue(self, name: str, size: int, mime_type: str) -> UploadSlot:
        """A new slot for a file of exactly ``size`` bytes; raises :class:`UploadTooLargeError`."""
        if self.closed:
            raise UnknownUploadError("the session has ended")
        if size > self.max_bytes:
            raise UploadTooLargeError(f"upload of {size} bytes exceeds the limit of {self.max_bytes} bytes")
        self._expire()
        upload_id = uuid.uuid4().hex
        path = self.folder / upload_id / sanitize_file_name(name)
        slot = UploadSlot(upload_id, name, mime_type, size, path, self._loop.time())
        self._slots[upload_id] = slot
        return slot

    def get(self, upload_id: str) -> UploadSlot | None:
        self._expire()
        return self._slots.get(upload_id)

    def redact(self, text: str) -> str:
        """``text`` (an error for a client) without this server's file system paths: a stored
        file's path becomes the name its client gave it, anything else under the session's folder
        ``<uploads>/...``. Model errors quote paths (Pillow: "cannot identify image file '/tmp/...'")."""
        for slot in self._slots.values():
            text = text.replace(str(slot.path), slot.name)
        return text.replace(str(self.folder), "<uploads>")

    def _expire(self) -> None:
        horizon = self._loop.time() - self.slot_ttl_s
        for slot in list(self._slots.values()):
            if slot.state is SlotState.PENDING and slot.issued_at < horizon:
                del self._slots[slot.upload_id]
                slot.stored.set()  # wake waiters; they see the slot gone

    def mark_notified(self, upload_id: str) -> bool:
        slot = self.get(upload_id)
        if slot is None:
            return False
        slot.notified = True
        return True

    # -- the PUT -----------------------------------------------------------------------------

    async def receive(
        self, upload_id: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> UploadSlot:
        """Store a PUT body into the slot; never holds more than one chunk in memory.

        Raises :class:`UnknownUploadError`, :class:`UploadConflictError`, :class:`UploadSizeError`
        (the body is not exactly the declared size) or :class:`UploadTooLargeError`. A refused
        body leaves the slot pending, so the client may try again.
        """
        slot = self.get(upload_id)
        if slot is None:
            raise UnknownUploadError(f"no upload {upload_id}")
        if slot.state is not SlotState.PENDING:
            raise UploadConflictError(f"upload {upload_id} was already uploaded")
        if declared_length is not None:
            if declared_length > self.max_bytes:
                raise UploadTooLargeError(
                    f"body of {declared_length} bytes exceeds the limit of {self.max_bytes} bytes"
                )
            if declared_length != slot.size:
                raise UploadSizeError(f"body of {declared_length} bytes, but {slot.size} bytes were declared")
        slot.state = SlotState.RECEIVING
        part = slot.path.with_name(slot.path.name + ".part")
        try:
            free = await asyncio.to_thread(free_bytes, slot.path)
            if free is not None and free < slot.size:
                # Refuse before reading the body rather than fill the disk for nothing.
                raise UploadStorageError(
                    f"not enough space to store {slot.size} bytes ({free} bytes free); try again later"
                )
            await asyncio.to_thread(slot.path.parent.mkdir, parents=True, exist_ok=True)
            with open(part, "wb") as out:
                total = 0
                async for chunk in chunks:
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise UploadTooLargeError(f"body exceeds the limit of {self.max_bytes} bytes")
                    if total > slot.size:
                        raise UploadSizeError(f"body longer than the declared {slot.size} bytes")
                    if chunk:
                        await asyncio.to_thread(out.write, chunk)
            if total != slot.size:
                raise UploadSizeError(f"body of {total} bytes, but {slot.size} bytes were declared")
            if self.closed:
                raise UnknownUploadError("the session ended during the upload")
            os.replace(part, slot.path)
        except OSError as exc:
            self._discard(slot, part)
            if self.closed:  # the folder went away under us
                raise UnknownUploadError("the session ended during the upload") from exc
            if exc.errno in STORAGE_ERRNOS:
                log.warning("upload %s not stored: %s", upload_id, exc.strerror)
                raise UploadStorageError(
                    f"the server could not store the upload ({exc.strerror}); try again later"
                ) from exc
            raise
        except BaseException:
            self._discard(slot, part)
            raise
        slot.state = SlotState.STORED
        slot.stored.set()
        log.info("upload %s stored: %s (%d bytes)", upload_id, slot.path.name, slot.size)
        return slot

    def _discard(self, slot: UploadSlot, part: Path) -> None:
        part.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # its folder, unless missing or not empty
            part.parent.rmdir()
        if self.closed:
            # The session ended mid-upload: our mkdir may have recreated what close() removed.
            shutil.rmtree(self.folder, ignore_errors=True)
        elif slot.state is SlotState.RECEIVING:
            slot.state = SlotState.PENDING

    # -- resolving references ----------------------------------------------------------------

    def check_known(self, upload_ids: list[str]) -> None:
        """Raise :class:`UnresolvedUploadError` at once for an id this session never issued."""
        for upload_id in upload_ids:
            if self.get(upload_id) is None:
                raise UnresolvedUploadError(
                    f"unknown upload {upload_id!r}: not issued by this session, expired, or never created"
                )

    async def resolve(self, upload_id: str, deadline: float) -> UploadedFile:
        """The stored file, waiting until ``deadline`` (``loop.time()``) for its bytes to land."""
        slot = self.get(upload_id)
        if slot is None:
            raise UnresolvedUploadError(f"unknown upload {upload_id!r}")
        if slot.state is not SlotState.STORED:
            try:
                async with asyncio.timeout_at(deadline):
                    await slot.stored.wait()
            except TimeoutError:
                raise UnresolvedUploadError(
                    f"upload {upload_id!r} ({slot.name}) was not received in time"
                ) from None
            if not slot.is_stored or self._slots.get(upload_id) is not slot:
                raise UnresolvedUploadError(f"upload {upload_id!r} went away before its bytes arrived")
        return slot.as_file()

    # -- cleanup -----------------------------------------------------------------------------

    def close(self) -> None:
        """Forget every slot and delete the folder (blocking: call it off the event loop)."""
        self.closed = True
        for slot in self._slots.values():
            slot.stored.set()
        self._slots.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def file_count(self) -> int:
        if not self.folder.exists():
            return 0
        return sum(len(files) for _, _, files in os.walk(self.folder))


def find_references(value: Any) -> list[str]:
    """Upload ids of every inline FileRef (an object with exactly :data:`REFERENCE_KEYS`) in ``value``."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if is_reference(item):
                found.append(item["upload_id"])
                return
            for sub in item.values():
                walk(sub)
        elif isinstance(item, list):
            for sub in item:
                walk(sub)

    walk(value)
    return found


def is_reference(item: dict[str, Any]) -> bool:
    return set(item) == REFERENCE_KEYS and isinstance(item.get("upload_id"), str)


def replace_references(value: Any, files: dict[str, UploadedFile]) -> Any:
    """``value`` with every inline FileRef replaced by its :class:`UploadedFile`."""
    if isinstance(value, dict):
        if is_reference(value):
            return files[value["upload_id"]]
        return {key: replace_references(sub, files) for key, sub in value.items()}
    if isinstance(value, list):
        return [replace_references(sub, files) for sub in value]
    return value
