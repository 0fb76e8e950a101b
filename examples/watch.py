"""Watch a model's video with our Python SDK: save the newest frame as a PNG once a second.

python examples/watch.py --url http://127.0.0.1:8080 --out frame.png [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from PIL import Image

from reactor_sdk import Reactor, ReactorStatus


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--model", default="world", help="the model the server runs")
    parser.add_argument(
        "--prompt", default="a forest at dawn", help="sent as set_prompt when the model has it"
    )
    parser.add_argument("--out", default="frame.png")
    parser.add_argument("--ice-host", action="append", help="host address(es) our ICE may use (default: all but loopback)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    args = parser.parse_args()

    latest = {}
    reactor = Reactor(args.model, local=True, api_url=args.url, ice_host_addresses=args.ice_host)

    @reactor.on_frame
    def on_frame(frame):  # type: ignore[no-untyped-def]
        latest["frame"] = frame
        latest["count"] = latest.get("count", 0) + 1

    @reactor.on_status
    def on_status(status: ReactorStatus) -> None:
        print(f"status: {status.value}")

    async with reactor:
        if args.model == "world":
            await reactor.send_command("set_prompt", {"prompt": args.prompt})
        started = time.monotonic()
        while not args.seconds or time.monotonic() - started < args.seconds:
            await asyncio.sleep(1)
            frame = latest.get("frame")
            if frame is not None:
                Image.fromarray(frame).save(args.out)
                print(
                    f"{latest['count']} frames, newest {frame.shape[1]}x{frame.shape[0]} saved to {args.out}"
                )


if __name__ == "__main__":
    asyncio.run(main())
