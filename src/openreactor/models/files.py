"""Files clients upload, as models receive them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file a client uploaded, as a command handler receives it (in place of the FileRef).

    The bytes are stored by the server in the session's upload folder and stay readable until
    the session ends.
    """

    upload_id: str
    name: str
    mime_type: str
    size: int
    path: Path

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()
