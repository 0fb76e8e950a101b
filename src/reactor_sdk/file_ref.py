"""``FileRef``: a file uploaded into a session (SDK-API §1.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reactor_protocol.messages import UploadRef


@dataclass(frozen=True, slots=True)
class FileRef:
    """A stored upload, valid in the session it was uploaded to. Created by ``upload_file()``."""

    upload_id: str
    """Server-issued id of the stored upload."""
    name: str
    """File name."""
    mime_type: str
    """MIME type, e.g. ``image/jpeg``."""
    size: int
    """Size in bytes."""

    def to_wire(self) -> dict[str, Any]:
        """``{"upload_id", "name", "mime_type", "size"}``: the form used for nested references."""
        return {
            "upload_id": self.upload_id,
            "name": self.name,
            "mime_type": self.mime_type,
            "size": self.size,
        }

    def to_upload_ref(self) -> UploadRef:
        """The wire message for a top-level file argument (``Command.uploads``)."""
        return UploadRef(self.upload_id, self.name, self.mime_type, self.size)
