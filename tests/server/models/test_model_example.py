"""The model of docs/writing-a-model.md (examples/models/paint.py): tested, then served for real."""

from __future__ import annotations

import sys
import threading
from typing import Any

import httpx
import numpy as np
import pytest

from openreactor.testing import ModelHarness, run_model
from reactor_sdk import Reactor, ReactorError
from support.paths import REPO
from support.servers import ServerFactory
from support.waiting import eventually

EXAMPLES = REPO / "examples" / "models"
sys.path.insert(0, str(EXAMPLES))
from paint import Paint  # noqa: E402

sys.path.remove(str(EXAMPLES))

pytestmark = pytest.mark.timeout(90)


def test_paint_through_the_harness() -> None:
    run = run_model(Paint(), frames=4, commands=[(2, "paint", {"color": "blue", "brightness": 0.5})])
    assert [tuple(f[2, 2]) for f in run.frames] == [(255, 0, 0)] * 2 + [(0, 0, 128)] * 2
    assert run.replies[0].message is not None and run.replies[0].message.data == {"rgb": [0, 0, 128]}
    assert run.messages[0].type == "welcome" and run.messages[0].data == {"clients": 1, "color": "red"}
    with ModelHarness(Paint()) as h:
        h.command("set_speed", speed=0)
        a, b = h.frames(2)
        assert np.array_equal(a, b)  # the square stands still
        with pytest.raises(Exception, match="speed: 41 is greater than the maximum of 40"):
            h.command("set_speed", speed=41)


async def test_paint_served_and_driven_by_our_sdk(server_factory: ServerFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    with server_factory(model="paint:Paint", width=320, height=180, fps=30) as server:
        schema = httpx.get(f"{server.url}/schema").json()
        paint = schema["paths"]["/events/paint"]["post"]
        props = paint["requestBody"]["content"]["application/json"]["schema"]["properties"]
        assert props["color"] == {"type": "string", "enum": ["red", "green", "blue"]}
        assert props["brightness"]["maximum"] == 1.0 and props["brightness"]["default"] == 1.0
        assert paint["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Painted")
        assert set(schema["webhooks"]) == {"welcome", "painted"}

        corners: list[tuple[int, int, int]] = []
        messages: list[dict[str, Any]] = []
        lock = threading.Lock()
        reactor = Reactor("paint", local=True, api_url=server.url, ice_host_addresses=["127.0.0.1"])

        @reactor.on_frame
        def on_frame(frame: np.ndarray) -> None:
            with lock:
                r, g, b = (int(c) for c in frame[10, 10])
                corners.append((r, g, b))

        reactor.on_message(messages.append)

        async def seen(predicate: Any, what: str) -> None:
            def check() -> bool:
                with lock:
                    return bool(predicate())

            try:
                await eventually(check, what=what)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; last corners {corners[-3:]}") from None

        def near(rgb: tuple[int, int, int]) -> bool:
            return bool(corners) and all(abs(a - b) < 40 for a, b in zip(corners[-1], rgb, strict=True))

        async with reactor:
            await seen(lambda: near((255, 0, 0)), "red frames")
            reply = await reactor.send_command("paint", {"color": "green", "brightness": 0.5})
            assert reply == {"type": "painted", "data": {"rgb": [0, 128, 0]}}
            await seen(lambda: near((0, 128, 0)), "half-green frames")
            assert await reactor.send_command("set_speed", {"speed": 10}) is None
            with pytest.raises(ReactorError) as info:
                await reactor.send_command("paint", {"color": "purple"})
            assert info.value.code == "invalid_command" and "color" in info.value.message
            await seen(lambda: any(m.get("type") == "welcome" for m in messages), "the welcome message")
        welcome = next(m for m in messages if m["type"] == "welcome")
        assert welcome["data"] == {"clients": 1, "color": "red"}
