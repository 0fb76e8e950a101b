"""The official ``reactor-sdk`` 1.13.0 client through a TURN relay; prints one ``@@RESULT`` line.

Runs in the official client's venv, in the client namespace of ``turn_relay_launcher.py``::

    python turn_relay_driver.py BASE_URL

Connects in local mode (the client fetches ``ice_servers``, so it gets our minted TURN
credentials), waits for probe frames, sends ``set_value`` and reads the connection statistics:
the candidate pair carrying the media and the type of its local candidate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from official_client_driver import SCENARIOS, Recorder, command_outcome, connect, counter_report, leave, main

MIN_FRAMES = 60
VALUE = 2718


def pair_facts(pair: Any) -> dict[str, Any]:
    fields = ("state", "nominated", "local_candidate_type", "local_relay_protocol", "bytes_received")
    return {name: getattr(pair, name, None) for name in fields}


async def scenario(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)
    t0 = time.monotonic()
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= MIN_FRAMES)
    result["stream"] = {
        "reached_min": got,
        "seconds": round(time.monotonic() - t0, 3),
        "shape": rec.shape,
        **counter_report(rec.decoded_since(0)),
    }
    mark = rec.count()
    result["set_value"] = await command_outcome(reactor, "set_value", {"value": VALUE})
    result["set_value"]["value_seen"] = await rec.wait_for(
        lambda: any(v == VALUE for _, _, v in rec.decoded_since(mark))
    )
    stats = await asyncio.wait_for(reactor.get_stats(), 10)
    result["stats"] = {
        "candidate_type": stats.candidate_type,
        "relay_protocol": stats.relay_protocol,
        "bytes_received": stats.bytes_received,
        "nominated_pairs": [pair_facts(p) for p in stats.candidate_pairs if p.nominated],
        "pairs": [pair_facts(p) for p in stats.candidate_pairs],
    }
    result["disconnect"] = await leave(reactor)


if __name__ == "__main__":
    SCENARIOS["turn"] = scenario  # run by the official driver's harness (result, errors, statuses)
    out = asyncio.run(main("turn", sys.argv[1]))
    print("@@RESULT " + json.dumps(out, default=repr), flush=True)
