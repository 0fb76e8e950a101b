"""Start Reactor's runtime with the probe model, drive one session with OUR SDK, report as JSON.

Meant to run *inside* ``shared/tools/netns-run`` (the runtime's libwebrtc ignores interfaces
flagged LOOPBACK, so it and our aiortc client meet on the veth address 127.0.0.2), with the
interpreter of ``.venv`` (which has ``reactor_sdk`` and ``openreactor`` installed)::

    ../shared/tools/netns-run .venv/bin/python tests/runtime_interop/runtime_session.py \\
        --runtime-python .runtime-venv/bin/python

Steps, each bounded in time:

1. write a ``reactor.yaml`` naming ``runtime_probe_model:ProbeApp`` into a temporary folder and
   start ``RUNTIME_PYTHON -m reactor_runtime.serve`` there (``HOST``/``PORT`` and the probe's
   ``PROBE_WIDTH``/``PROBE_HEIGHT``/``PROBE_FPS`` from the environment, this folder on
   ``PYTHONPATH``); wait for ``GET /health`` and for ``GET /session`` to say ``ready`` (the
   model is loaded);
2. ``Reactor("probe", local=True, api_url=URL, ice_host_addresses=[HOST])``: ``connect()``,
   collect RGB frames and decode their probe code, ``send_command("set_value", {"value": V})``,
   wait for ``V`` in the frames, send an out-of-range ``set_value`` (the runtime refuses it),
   ``disconnect()``;
3. ``GET /session`` until the runtime no longer holds a session;
4. SIGTERM the runtime and wait for it to exit.

The last stdout line is ``@@RESULT <json>``; everything the checks need is in it, including
the tail of the runtime log and the client's log (``reactor_sdk`` at DEBUG).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.append(str(HERE.parent))  # tests/, for the waiting helper
from support.waiting import eventually, wait_until  # noqa: E402

MANIFEST = """\
model:
  name: probe
runtime:
  import: runtime_probe_model:ProbeApp
"""


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return int(exc.code), None
    except (OSError, ValueError):
        return -1, None


SDP_KEEP = (
    "m=",
    "a=mid",
    "a=rtpmap",
    "a=setup",
    "a=sendonly",
    "a=recvonly",
    "a=sendrecv",
    "a=inactive",
    "a=candidate",
    "a=sctp",
    "a=max-message-size",
    "a=group",
)


def sdp_digest(sdp: str) -> list[str]:
    """The lines of an SDP that say what was negotiated (media, mids, codecs, directions, candidates)."""
    return [line for line in sdp.splitlines() if line.startswith(SDP_KEEP)]


def answer_video_codec(sdp: str) -> str | None:
    """The codec the answer's first ``m=video`` section puts first (what the runtime will send)."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("m=video"):
            fields = line.split()
            if len(fields) < 4 or fields[1] == "0":
                continue
            first = fields[3]
            for other in lines[i + 1 :]:
                if other.startswith("m="):
                    break
                if other.startswith(f"a=rtpmap:{first} "):
                    return other.split(" ", 1)[1]
    return None


def record_http(log: list[dict[str, Any]]) -> None:
    """Record every HTTP exchange of this process (our SDK uses httpx), SDPs as digests."""
    import httpx

    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        entry: dict[str, Any] = {"request": f"{request.method} {request.url.path}"}
        version = request.headers.get("reactor-webrtc-version")
        if version:
            entry["Reactor-WebRTC-Version"] = version
        body = _json_or_none(request.content)
        if isinstance(body, dict) and isinstance(body.get("sdp_offer"), str):
            entry["offer_sdp"] = sdp_digest(body["sdp_offer"])
            entry["offer_other"] = {k: v for k, v in body.items() if k != "sdp_offer"}
        elif body is not None:
            entry["body"] = body
        log.append(entry)
        response = await original(self, request, **kwargs)
        await response.aread()
        entry["status"] = response.status_code
        reply = _json_or_none(response.content)
        if isinstance(reply, dict) and isinstance(reply.get("sdp_answer"), str):
            entry["answer_sdp"] = sdp_digest(reply["sdp_answer"])
            entry["answer_video_codec"] = answer_video_codec(reply["sdp_answer"])
            entry["answer_other"] = {k: v for k, v in reply.items() if k != "sdp_answer"}
        elif reply is not None and request.url.path.endswith(("/connections", "/sdp_params", "/ice_servers")):
            entry["reply"] = reply
        return response

    httpx.AsyncClient.send = send  # type: ignore[method-assign]


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def load_decoder() -> Any:
    from openreactor.models.builtin.probe_pattern import decode_probe

    return decode_probe


async def drive(url: str, host: str, value: int, hold: float, result: dict[str, Any]) -> None:
    """The client half: everything our SDK does against the runtime, each step bounded."""
    from reactor_sdk import Reactor

    decode_probe = load_decoder()
    t0 = time.monotonic()
    frames: list[tuple[float, int | None, int | None, tuple[int, ...]]] = []
    lock = threading.Lock()
    statuses: list[str] = []
    errors: list[str] = []

    reactor = Reactor("probe", local=True, api_url=url, ice_host_addresses=[host])

    @reactor.on_frame
    def on_frame(frame: Any) -> None:
        code = decode_probe(frame)
        entry = (
            round(time.monotonic() - t0, 4),
            None if code is None else code.counter,
            None if code is None else code.value,
            tuple(int(d) for d in getattr(frame, "shape", ())),
        )
        with lock:
            frames.append(entry)

    @reactor.on_status
    def on_status(status: Any) -> None:
        statuses.append(f"{round(time.monotonic() - t0, 3)} {getattr(status, 'value', status)}")

    @reactor.on_error
    def on_error(error: Any) -> None:
        errors.append(f"{round(time.monotonic() - t0, 3)} {type(error).__name__}: {error}")

    def decoded() -> list[tuple[float, int, int]]:
        with lock:
            return [(t, c, v) for t, c, v, _ in frames if c is not None and v is not None]

    result["statuses"] = statuses
    result["errors"] = errors
    step = "connect"
    try:
        await asyncio.wait_for(reactor.connect(), 30)
        result["connect_s"] = round(time.monotonic() - t0, 3)
        result["session_id"] = reactor.session_id
        result["capabilities"] = reactor.get_capabilities()

        step = "frames"
        await eventually(lambda: len(decoded()) >= 30, what="30 decodable frames")
        result["frames_before_command"] = len(decoded())

        step = "send_command"
        t_cmd = time.monotonic()
        ack = await asyncio.wait_for(reactor.send_command("set_value", {"value": value}, timeout=10), 15)
        result["ack"] = {"returned": True, "reply": ack, "seconds": round(time.monotonic() - t_cmd, 4)}

        step = "value in frames"
        await eventually(lambda: any(v == value for _, _, v in decoded()), what=f"value {value} in a frame")
        first = next(t for t, _, v in decoded() if v == value)
        result["command_to_frame_s"] = round(first - (t_cmd - t0), 4)
        seen = len(decoded())
        await eventually(lambda: len(decoded()) >= seen + 15, what="15 more frames after the value")

        if hold > 0:  # keep-alive: the runtime drops a connection that has not pinged for 20 s
            step = "hold"
            t_hold = time.monotonic()
            await asyncio.sleep(hold)
            with lock:
                late = [f for f in frames if f[0] >= t_hold - t0 + hold - 1.0]
            result["hold"] = {
                "seconds": hold,
                "frames_in_last_second": len(late),
                "status": reactor.status.value,
            }

        step = "refused command"
        try:
            reply = await asyncio.wait_for(
                reactor.send_command("set_value", {"value": 70000}, timeout=10), 15
            )
            result["refused_command"] = {"raised": None, "reply": reply}
        except Exception as exc:
            result["refused_command"] = {
                "raised": type(exc).__name__,
                "code": str(getattr(exc, "code", None)),
                "message": str(exc),
            }

        step = "disconnect"
        t_disc = time.monotonic()
        await asyncio.wait_for(reactor.disconnect(), 15)
        result["disconnect_s"] = round(time.monotonic() - t_disc, 3)
        result["status_after_disconnect"] = getattr(reactor.status, "value", str(reactor.status))
        result["session_id_after_disconnect"] = reactor.session_id
        result["ok"] = True
    except BaseException as exc:  # report, never hang: the caller asserts on "ok"
        result["failed_step"] = step
        result["exception"] = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(reactor.disconnect(), 10)
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(reactor.aclose(), 10)
        with lock:
            result["frames_total"] = len(frames)
            result["frames_undecodable"] = sum(1 for f in frames if f[1] is None)
            result["frame_shapes"] = sorted({f[3] for f in frames})
            result["decoded"] = [list(f[:3]) for f in frames if f[1] is not None]
            # Every frame before the first decodable one (the runtime's black placeholder, sized
            # 1280x720 until it has seen a real frame), then the shapes of all the later ones.
            lead = next((i for i, f in enumerate(frames) if f[1] is not None), len(frames))
            result["leading_frames"] = [[f[0], list(f[3])] for f in frames[:lead]]
            result["later_undecodable"] = sum(1 for f in frames[lead:] if f[1] is None)
            result["later_shapes"] = sorted({f[3] for f in frames[lead:]})


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runtime-python", required=True, help="interpreter of .runtime-venv")
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--value", type=int, default=4321)
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to stay connected after the command")
    parser.add_argument("--runtime-log-level", default="INFO", help="REACTOR_LOG_LEVEL for the runtime")
    parser.add_argument(
        "--video-codecs", default="", help="WEBRTC_VIDEO_CODECS for the runtime ('' = its default)"
    )
    args = parser.parse_args()
    # Absolute, but not resolved: a venv's python is a symlink that must stay one.
    runtime_python = os.path.abspath(args.runtime_python)

    sdk_log = io.StringIO()
    handler = logging.StreamHandler(sdk_log)
    handler.setFormatter(logging.Formatter("%(relativeCreated)8.0f %(name)s %(levelname)s %(message)s"))
    logging.getLogger("reactor_sdk").addHandler(handler)
    logging.getLogger("reactor_sdk").setLevel(logging.DEBUG)

    report: dict[str, Any] = {"client": {}, "http": []}
    record_http(report["http"])
    port = free_port(args.host)
    url = f"http://{args.host}:{port}"
    report["url"] = url
    workdir = Path(tempfile.mkdtemp(prefix="runtime-probe-"))
    (workdir / "reactor.yaml").write_text(MANIFEST)
    env = dict(os.environ)
    env.update(
        HOST=args.host,
        PORT=str(port),
        PYTHONPATH=str(HERE),
        PROBE_WIDTH=str(args.width),
        PROBE_HEIGHT=str(args.height),
        PROBE_FPS=str(args.fps),
        REACTOR_LOG_LEVEL=args.runtime_log_level,
        PYTHONUNBUFFERED="1",
    )
    if args.video_codecs:
        env["WEBRTC_VIDEO_CODECS"] = args.video_codecs
    log_path = workdir / "runtime.log"
    try:
        with open(log_path, "wb") as log:
            runtime = subprocess.Popen(
                [runtime_python, "-m", "reactor_runtime.serve"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
    except OSError as exc:
        report["error"] = f"cannot start the runtime: {exc}"
        for path in (log_path, workdir / "reactor.yaml"):
            path.unlink(missing_ok=True)
        workdir.rmdir()
        print("@@RESULT " + json.dumps(report, default=str), flush=True)
        return 0
    report["runtime_pid"] = runtime.pid
    try:

        def ready() -> bool:
            # /health answers 200 while the model still loads; wait for the model (session "ready").
            if runtime.poll() is not None:
                raise RuntimeError(f"the runtime exited (status {runtime.returncode})")
            return (
                get_json(f"{url}/health", 1)[0] == 200
                and (get_json(f"{url}/session", 1)[1] or {}).get("state") == "ready"
            )

        try:
            wait_until(ready, timeout=90, what="the runtime's model to load")
        except (AssertionError, RuntimeError) as exc:
            report["error"] = f"runtime not ready: {exc}"
            return finish(report, runtime, log_path, sdk_log)
        report["session_before"] = get_json(f"{url}/session")[1]

        asyncio.run(
            asyncio.wait_for(drive(url, args.host, args.value, args.hold, report["client"]), 120 + args.hold)
        )

        # The runtime ends the session asynchronously after /stop_session; wait for "ready".
        def session_ended() -> bool:
            status, body = get_json(f"{url}/session")
            report["session_after"] = {"status": status, "body": body}
            return (body or {}).get("state") == "ready"

        with contextlib.suppress(AssertionError):  # the test asserts on report["session_after"]
            wait_until(session_ended, interval=0.1, what="the runtime to end the session")
    except BaseException as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        t0 = time.monotonic()
        if runtime.poll() is None:
            runtime.send_signal(signal.SIGTERM)
        try:
            report["sigterm"] = {"exit_status": runtime.wait(timeout=30)}
        except subprocess.TimeoutExpired:
            report["sigterm"] = {"exit_status": None}
        report["sigterm"]["exit_seconds"] = round(time.monotonic() - t0, 3)
    return finish(report, runtime, log_path, sdk_log)


def finish(
    report: dict[str, Any], runtime: subprocess.Popen[bytes], log_path: Path, sdk_log: io.StringIO
) -> int:
    if runtime.poll() is None:
        runtime.kill()
        runtime.wait()
    report["runtime_exit_status"] = runtime.returncode
    report["runtime_log"] = log_path.read_text(errors="replace")[-40000:]
    report["sdk_log"] = sdk_log.getvalue()[-12000:]
    with contextlib.suppress(OSError):
        log_path.unlink()
        (log_path.parent / "reactor.yaml").unlink()
        log_path.parent.rmdir()
    print("@@RESULT " + json.dumps(report, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
