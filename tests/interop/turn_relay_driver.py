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
import traceback
from typing import Any

from official_client_driver import Recorder, command_outcome, connect, counter_report, leave

MIN_FRAMES = 60
VALUE = 2718


def pair_facts(pair: Any) -> dict[str, Any]:
    fields = ("state", "nominated", "local_candidate_type", "local_relay_protocol", "bytes_received")
    return {name: getattr(pair, name, None) for name in fields}


async def scenario(url: str, rec: Recorder, result: dict[str, Any]) -> None:
    reactor = await connect(url, rec, result)
    t0 = time.monotonic()
    got = await rec.wait_for(lambda: len(rec.decoded_since(0)) >= MIN_FRAMES, 20)
    result["stream"] = {
        "reached_min": got,
        "seconds": round(time.monotonic() - t0, 3),
        "shape": rec.shape,
        **counter_report(rec.decoded_since(0)),
    }
    mark = rec.count()
    result["set_value"] = await command_outcome(reactor, "set_value", {"value": VALUE})
    result["set_value"]["value_seen"] = await rec.wait_for(
        lambda: any(v == VALUE for _, _, v in rec.decoded_since(mark)), 5
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


async def main(url: str) -> dict[str, Any]:
    rec = Recorder(asyncio.get_running_loop())
    result: dict[str, Any] = {}
    try:
        await scenario(url, rec, result)
    except Exception as exc:  # noqa: BLE001 - the result carries it to the test
        result["exception"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    result["statuses"] = [s for _, s in rec.statuses]
    result["errors"] = rec.errors
    return result


if __name__ == "__main__":
    out = asyncio.run(main(sys.argv[1]))
    print("@@RESULT " + json.dumps(out, default=repr), flush=True)
