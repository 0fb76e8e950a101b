"""A client's input track -> the session's newest-frame store, one reader task per remote track."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)


async def drain_input_track(track: MediaStreamTrack, deliver: Callable[[Any], None] | None) -> int:
    """Read ``track`` until it ends, handing every frame to ``deliver`` (``None``: discard).

    aiortc queues decoded frames without a bound, so the track is read continuously and the
    dropping happens downstream, where only the newest frame is kept. Frames stay
    ``av.VideoFrame``s here: converting to RGB is left to the model, for the frames it looks at.
    Returns the number of frames read.
    """
    count = 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return count
        count += 1
        if deliver is not None:
            try:
                deliver(frame)
            except Exception:  # a consumer bug must not stop the draining
                log.exception("delivering an input frame failed")
