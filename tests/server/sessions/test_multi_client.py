"""Several connections on one session (PROTOCOL.md §8.3), with two raw clients over real WebRTC."""

from __future__ import annotations

import numpy as np

from reactor_protocol.messages import (
    Channel,
    Command,
    Envelope,
    ErrorMessage,
    Kind,
    ModelMessage,
    Ping,
    PublishTrack,
    PublishTrackResponse,
    ResumeTrack,
)
from support.rtc_client import RawClient, raw_client
from support.servers import ServerFactory
from support.waiting import eventually

CHATTY = {"model": "session_models:Chatty", "width": 320, "height": 180, "fps": 10}


def is_broadcast(env: Envelope) -> bool:
    return env.kind is Kind.NOTIFICATION and isinstance(env.payload, ModelMessage)


async def start(c: RawClient) -> None:
    c.send(Envelope.notification(Channel.CONTROL, Ping()))
    c.send(Envelope.notification(Channel.CONTROL, ResumeTrack("main_video")))


async def test_two_clients_share_one_session(server_factory: ServerFactory) -> None:
    with server_factory(**CHATTY) as server:
        async with raw_client(server.url) as first:
            async with raw_client(server.url, start=False) as second:
                assert second.session_id == first.session_id
                assert second.connection_id != first.connection_id
                await start(first)
                await start(second)
                # Output media reaches every connection that resumed.
                for c in (first, second):
                    assert np.abs((await c.frame()).astype(int) - 120).max() < 30
                # A broadcast reaches both; the reply only the sender.
                reply = await first.request(Channel.DATA, Command("announce", {"text": "hi"}), "data_1")
                assert reply.payload == ModelMessage("announced", {"text": "hi"})
                for c in (first, second):
                    note = next((e for e in c.others if is_broadcast(e)), None) or await c.receive_until(
                        is_broadcast
                    )
                    assert note.payload == ModelMessage("announcement", {"text": "hi"})
                # The second client's own request ids are independent; it never saw the first's reply.
                own = await second.request(Channel.DATA, Command("announce", {"text": "yo"}), "data_1")
                assert own.payload == ModelMessage("announced", {"text": "yo"})
                assert not [e for e in second.others if e.kind is Kind.RESPONSE], second.others
                # One input publisher at a time.
                claim = await first.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_1")
                assert claim.payload == PublishTrackResponse("webcam")
                refused = await second.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_1")
                assert isinstance(refused.payload, ErrorMessage) and refused.payload.code == "publish_refused"
            # The second client left: the first still streams and is answered.
            state = (await first.http.get("/session")).json()["state"]
            assert state == "active"
            await first.frame()
            reply = await first.request(Channel.DATA, Command("announce", {"text": "still"}), "data_2")
            assert reply.payload == ModelMessage("announced", {"text": "still"})


async def test_leaving_publisher_frees_the_slot(server_factory: ServerFactory) -> None:
    with server_factory(**CHATTY) as server:
        async with raw_client(server.url) as stayer:
            stayer.send(Envelope.notification(Channel.CONTROL, Ping()))
            async with raw_client(server.url, start=False) as leaver:
                leaver.send(Envelope.notification(Channel.CONTROL, Ping()))
                claim = await leaver.request(Channel.CONTROL, PublishTrack("webcam"), "ctrl_1")
                assert claim.payload == PublishTrackResponse("webcam")
            # The leaver's peer connection closed; its slot is freed once the server notices.
            attempts = iter(range(1, 10**6))

            async def claimed() -> bool:
                reply = await stayer.request(
                    Channel.CONTROL, PublishTrack("webcam"), f"ctrl_{next(attempts)}"
                )
                return reply.payload == PublishTrackResponse("webcam")

            await eventually(claimed, interval=0.2, what="the slot of the disconnected publisher to be freed")
            assert (await stayer.http.get("/session")).json()["state"] == "active"
