"""openreactor: an open, self-hostable server for real-time interactive video models."""

from openreactor.models.api import (
    Arg,
    Chunk,
    CommandError,
    Frame,
    Message,
    Model,
    ModelContext,
    TrackSpec,
    UploadedFile,
    command,
    state,
)
from openreactor.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Arg",
    "Chunk",
    "CommandError",
    "Frame",
    "Message",
    "Model",
    "ModelContext",
    "Settings",
    "TrackSpec",
    "UploadedFile",
    "__version__",
    "command",
    "state",
]
