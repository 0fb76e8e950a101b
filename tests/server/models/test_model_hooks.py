"""A session calls the model's hooks in order: start → connected → command → upload → disconnected → end.

Pure asyncio (STYLE.md §7, layer 2): a real :class:`Session` and upload store, fake client links.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from openreactor import Frame, Model, ModelContext, UploadedFile, command
from openreactor.sessions.session import Session
from openreactor.settings import Settings
from reactor_protocol.messages import Channel, Command, Envelope, FileUploaded, Kind
from support.waiting import eventually


class FakeLink:
    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.last_inbound = asyncio.get_running_loop().time()
        self.sent: list[Envelope] = []
        self.closed: str | None = None

    def send(self, envelope: Envelope) -> None:
        self.sent.append(envelope)

    def set_output_paused(self, track: str, paused: bool) -> bool:
        return True

    async def close(self, reason: str) -> None:
        self.closed = reason


class HookLog(Model):
    fps = 50.0

    def __init__(self) -> None:
        self.log: list[str] = []

    def on_session_start(self, ctx: ModelContext) -> None:
        self.log.append("session_start")

    def on_client_connected(self, ctx: ModelContext, connection_id: int) -> None:
        self.log.append(f"connected {connection_id} ({ctx.client_count})")

    @command
    def poke(self, n: int) -> None:
        self.log.append(f"poke {n}")

    def on_file_uploaded(self, ctx: ModelContext, file: UploadedFile) -> None:
        self.log.append(f"file {file.name} {file.read_bytes()!r}")

    def on_client_disconnected(self, ctx: ModelContext, connection_id: int) -> None:
        self.log.append(f"disconnected {connection_id} ({ctx.client_count})")

    def on_session_end(self, ctx: ModelContext) -> None:
        self.log.append("session_end")

    def next_frame(self, ctx: ModelContext) -> Frame:
        return np.zeros((4, 4, 3), np.uint8)


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_hooks_fire_in_order(tmp_path: Path) -> None:
    model = HookLog()
    session = Session("s1", model, Settings(state_dir=tmp_path), uploads_dir=tmp_path / "up")
    session.start()
    first, second = FakeLink(1), FakeLink(2)
    session.attach(first)
    session.attach(first)  # a re-offer on the same connection is not a new client
    session.attach(second)
    session.handle(first, Envelope(Channel.DATA, Kind.REQUEST, Command("poke", {"n": 1.0}), "data_1"))
    await eventually(lambda: any(e.request_id == "data_1" for e in first.sent), what="the reply to poke")
    slot = session.uploads.issue("a.txt", 3, "text/plain")
    await session.uploads.receive(slot.upload_id, body(b"abc"), 3)
    note = FileUploaded(slot.upload_id, "a.txt", "text/plain", 3)
    session.handle(first, Envelope.notification(Channel.CONTROL, note))
    session.handle(first, Envelope.notification(Channel.CONTROL, note))  # once per upload
    await eventually(lambda: any(line.startswith("file") for line in model.log), what="on_file_uploaded")
    session.detach(second)
    await session.end("client_ended")
    assert model.log == [
        "session_start",
        "connected 1 (1)",
        "connected 2 (2)",
        "poke 1",
        "file a.txt b'abc'",
        "disconnected 2 (1)",
        "disconnected 1 (0)",  # still attached when the session ended
        "session_end",
    ]
