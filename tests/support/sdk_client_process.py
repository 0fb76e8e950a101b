"""A client in a process of its own, for tests that kill it (``tests/server/workers/test_faults.py``).

``python sdk_client_process.py URL MODEL``: connects with our SDK (local mode), uploads a file,
waits for video, prints ``READY <session id>`` and then streams until it is killed. It never says
goodbye: whoever runs it sends SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from reactor_sdk import Reactor

sys.path.append(str(Path(__file__).resolve().parents[1]))  # tests/, for the waiting helper
from support.waiting import eventually  # noqa: E402


async def main(url: str, model: str) -> None:
    frames: list[int] = []
    reactor = Reactor(model, api_url=url, local=True, ice_host_addresses=["127.0.0.1"])
    reactor.on_frame(lambda frame: frames.append(1))
    await reactor.connect()
    await reactor.upload_file(b"kept until the session ends" * 100, name="kept.bin")
    await eventually(lambda: len(frames) >= 5, what="5 frames")
    print("READY", reactor.session_id, flush=True)
    await asyncio.sleep(3600)  # stream until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
