"""``reactor_sdk``: the Python client of Reactor-compatible real-time model servers.

::

    from reactor_sdk import Reactor, ReactorStatus

    async with Reactor("your-model-name", local=True) as reactor:
        @reactor.on_frame
        def on_frame(frame):  # RGB (H, W, 3) uint8
            print(frame.shape)

        await reactor.send_command("set_prompt", {"prompt": "a forest at dawn"})
"""

from reactor_sdk.client import Reactor
from reactor_sdk.defaults import DEFAULT_API_URL, LOCAL_API_URL, __version__
from reactor_sdk.errors import (
    AbortedError,
    AuthError,
    BadRequestError,
    ConflictError,
    DataChannelChunkingRequiredError,
    DecodeError,
    DisconnectedError,
    GenerationModeMismatchError,
    InvalidStateError,
    MessageTooLargeError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ReactorError,
    RecorderDisabledError,
    RequestTimeoutError,
    ServerError,
    SessionTerminalError,
    StepCommandFailedError,
    StepNotReadyError,
    StepRefusedError,
    StepResultTooLargeError,
    StepSessionEndedError,
    TransportError,
    UnauthorizedError,
    UnsupportedFrameEncodingError,
    VersionMismatchError,
)
from reactor_sdk.file_ref import FileRef
from reactor_sdk.frame_reader import FrameStream, StuckFrameHandler
from reactor_sdk.stats import CandidatePair, ConnectionStats, InboundStream, OutboundStream
from reactor_sdk.status import ReactorStatus
from reactor_sdk.tracks import Track, TrackDirection, TrackKind, TrackList

__all__ = [
    "AbortedError",
    "AuthError",
    "BadRequestError",
    "CandidatePair",
    "ConflictError",
    "ConnectionStats",
    "DEFAULT_API_URL",
    "DataChannelChunkingRequiredError",
    "DecodeError",
    "DisconnectedError",
    "FileRef",
    "FrameStream",
    "GenerationModeMismatchError",
    "InboundStream",
    "InvalidStateError",
    "LOCAL_API_URL",
    "MessageTooLargeError",
    "NetworkError",
    "NotFoundError",
    "OutboundStream",
    "RateLimitedError",
    "Reactor",
    "ReactorError",
    "ReactorStatus",
    "RecorderDisabledError",
    "RequestTimeoutError",
    "ServerError",
    "SessionTerminalError",
    "StepCommandFailedError",
    "StepNotReadyError",
    "StepRefusedError",
    "StepResultTooLargeError",
    "StepSessionEndedError",
    "StuckFrameHandler",
    "Track",
    "TrackDirection",
    "TrackKind",
    "TrackList",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedFrameEncodingError",
    "VersionMismatchError",
    "__version__",
]
