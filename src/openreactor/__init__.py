"""openreactor: an open, self-hostable server for real-time interactive video models."""

from openreactor.models.api import CommandError, Message, Model, ModelContext, TrackSpec, command
from openreactor.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "CommandError",
    "Message",
    "Model",
    "ModelContext",
    "Settings",
    "TrackSpec",
    "__version__",
    "command",
]
