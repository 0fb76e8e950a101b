"""Golden fixtures: the data-channel messages of the official Python client's captures.

The transcripts live in the steering repository's ``shared/reference/captures`` (beside this repo's
checkout). Each data-channel line reads::

    +  1.935s  DC C->S [control] len=17 hex=10038a010c0a0a6d61696e5f766964656f
            decoded={"kind": "MESSAGE_KIND_NOTIFICATION", "resume_track": {"name": "main_video"}}

Long messages are cut: the hex then holds only a prefix (fewer than ``len`` bytes), and the decoded
form may be cut too, or abbreviate bytes as ``...(b64 len N)``. A missing captures folder fails the
run: these tests are never skipped.

Any test taking a ``captured`` argument runs once per data-channel line of every transcript.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from reactor_protocol import Channel, Origin

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "reference" / "captures"

_LINE = re.compile(r"\bDC (C->S|S->C) \[(data|control)\] len=(\d+) hex=([0-9a-f]*)\s*$")
_DECODED = re.compile(r"^\s*decoded=(.*)$")
_B64_ELIDED = re.compile(r"([A-Za-z0-9+/]+)\.\.\.\(b64 len (\d+)\)")


def _expand_b64(match: re.Match[str]) -> str:
    """``BwcHBwcH...(b64 len 96)`` -> the 96 characters, where the shown prefix repeats one 4-char unit
    (a frame of one byte value); anything else stays abbreviated."""
    shown, total = match.group(1), int(match.group(2))
    unit = shown[:4]
    if len(unit) == 4 and total % 4 == 0 and unit * (len(shown) // 4) == shown[: len(shown) // 4 * 4]:
        return unit * (total // 4)
    return match.group(0)


@dataclass(frozen=True)
class CapturedMessage:
    """One data-channel message of a transcript."""

    file: str
    line: int
    origin: Origin
    channel: Channel
    length: int
    prefix: bytes
    """The captured bytes: all of them when :attr:`complete`, else a prefix."""
    decoded_text: str | None

    @property
    def complete(self) -> bool:
        return len(self.prefix) == self.length

    @property
    def decoded(self) -> dict[str, Any] | None:
        """The transcript's decoded form (abbreviated repetitive bytes restored), or ``None`` where it
        was cut or cannot be restored."""
        if self.decoded_text is None:
            return None
        text = _B64_ELIDED.sub(_expand_b64, self.decoded_text)
        if "...(b64 len" in text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _transcripts() -> list[Path]:
    if not CAPTURES.is_dir():
        raise RuntimeError(f"captures not found at {CAPTURES}: shared/ must sit beside the repository")
    files = sorted(CAPTURES.glob("transcript_*.txt"))
    if not files:
        raise RuntimeError(f"no transcript_*.txt in {CAPTURES}")
    return files


@cache
def captured_messages() -> tuple[CapturedMessage, ...]:
    """Every data-channel message of every transcript, in file and line order."""
    out: list[CapturedMessage] = []
    for path in _transcripts():
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, text in enumerate(lines):
            match = _LINE.search(text)
            if match is None:
                if " DC " in text:
                    raise RuntimeError(f"{path.name}:{index + 1}: unparsed data-channel line: {text[:120]}")
                continue
            direction, channel, length, hex_text = match.groups()
            decoded = None
            if index + 1 < len(lines):
                follow = _DECODED.match(lines[index + 1])
                decoded = follow.group(1) if follow else None
            out.append(
                CapturedMessage(
                    file=path.name,
                    line=index + 1,
                    origin="client" if direction == "C->S" else "server",
                    channel=Channel(channel),
                    length=int(length),
                    prefix=bytes.fromhex(hex_text),
                    decoded_text=decoded,
                )
            )
    if not out:
        raise RuntimeError(f"no data-channel lines in the transcripts of {CAPTURES}")
    return tuple(out)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "captured" in metafunc.fixturenames:
        messages = captured_messages()
        metafunc.parametrize("captured", messages, ids=[m.id for m in messages])
