"""Fuzz the two data-channel codecs: every input must decode or raise ``DecodeError`` with a code.

Inputs come from three sources, all seeded (reproducible):

* hypothesis strategies (random bytes, random text, random JSON, protobuf-ish byte soup, and
  structural mutations of the golden messages) driven through ``@given``;
* a fast mutation loop over the golden corpus (bit flips, byte insertions/deletions, truncation,
  splicing, varint blow-ups; JSON value swaps and key drops on their v0 forms);
* the golden corpus itself: every data-channel message of the reference captures
  (``shared/reference/captures``, parsed by ``tests/protocol/conftest.py``), plus its v0 JSON form.

Each input is fed to ``codec_v1_protobuf.decode`` and ``codec_v0_json.decode`` for both channels
and both origins (8 calls per input). Prints one JSON object::

    {"inputs": ..., "decode_calls": ..., "decoded": ..., "decode_errors_by_code": {...},
     "other_exceptions": 0, "seconds": ...}

and exits 1 when any call raised something other than ``DecodeError`` (or a code-less one).

    .venv/bin/python bench/fuzz_codecs.py [--inputs 100000] [--seconds 120] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.protocol.conftest import captured_messages  # noqa: E402

from reactor_protocol import Channel  # noqa: E402
from reactor_protocol import codec_v0_json as v0  # noqa: E402
from reactor_protocol import codec_v1_protobuf as v1  # noqa: E402
from reactor_protocol.errors import DecodeError  # noqa: E402

Decoder = Callable[[Any, Channel, Any], object]
DECODERS: tuple[tuple[str, Decoder], ...] = (("v1", v1.decode), ("v0", v0.decode))
TARGETS = [(ch, origin) for ch in (Channel.DATA, Channel.CONTROL) for origin in ("client", "server")]


def golden_corpus() -> tuple[list[bytes], list[str]]:
    """The captured v1 bytes, and the v0 JSON text of every complete one that has a v0 form."""
    binary: list[bytes] = []
    texts: list[str] = []
    for m in captured_messages():
        binary.append(m.prefix)
        if not m.complete:
            continue
        try:
            env = v1.decode(m.prefix, m.channel, m.origin)
        except DecodeError:
            continue
        if v0.has_wire_form(env, m.origin):
            texts.append(v0.encode(env, m.origin))
    return binary, texts


class Stats:
    def __init__(self) -> None:
        self.inputs = 0
        self.calls = 0
        self.decoded = 0
        self.codes: Counter[str] = Counter()
        self.other: list[str] = []

    def feed(self, raw: bytes | str) -> None:
        self.inputs += 1
        for _name, decode in DECODERS:
            for channel, origin in TARGETS:
                self.calls += 1
                try:
                    decode(raw, channel, origin)
                except DecodeError as exc:
                    if not isinstance(exc.code, str) or not exc.code:
                        self.other.append(f"DecodeError without a code for {raw!r:.200}")
                    self.codes[str(exc.code)] += 1
                except Exception:
                    self.other.append(f"{raw!r:.200}\n{traceback.format_exc()}")
                else:
                    self.decoded += 1


# -- mutations -------------------------------------------------------------------------------------

INTERESTING_VARINTS = [
    b"\x00",
    b"\x7f",
    b"\x80\x01",
    b"\xff\xff\xff\xff\x0f",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\xff" * 11,
]


def mutate_bytes(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and buf:  # bit flip
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # random byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:  # insert bytes
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and buf:  # delete a run
            i = rng.randrange(len(buf))
            del buf[i : i + rng.randint(1, 8)]
        elif op == 4 and buf:  # truncate
            del buf[rng.randrange(len(buf)) :]
        elif op == 5 and corpus:  # splice with another golden message
            other = rng.choice(corpus)
            i, j = rng.randrange(len(buf) + 1), rng.randrange(len(other) + 1)
            buf = buf[:i] + other[j:]
        elif op == 6:  # a hostile varint (huge lengths, over-long encodings)
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = rng.choice(INTERESTING_VARINTS)
        elif buf:  # duplicate a chunk (repeated fields, nested lengths)
            i = rng.randrange(len(buf))
            chunk = buf[i : i + rng.randint(1, 16)]
            buf[i:i] = chunk * rng.randint(1, 4)
    return bytes(buf)


JSON_ODDITIES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    -(2**63) - 1,
    1.5,
    1e308,
    -0.0,
    "",
    "x" * 300,
    "\u0000",
    "\ud800",
    [],
    {},
    [1, [2, [3]]],
    {"type": "request"},
    {"scope": "application"},
]


def mutate_json_value(rng: random.Random, value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and value and depth < 6:
        value = dict(value)
        key = rng.choice(list(value))
        op = rng.randrange(4)
        if op == 0:
            del value[key]
        elif op == 1:
            value[key] = rng.choice(JSON_ODDITIES)
        elif op == 2:
            value[rng.choice(["type", "scope", "data", "request_id", "id", key + "_"])] = rng.choice(
                JSON_ODDITIES
            )
        else:
            value[key] = mutate_json_value(rng, value[key], depth + 1)
        return value
    if isinstance(value, list) and value and depth < 6:
        value = list(value)
        i = rng.randrange(len(value))
        value[i] = mutate_json_value(rng, value[i], depth + 1)
        return value
    return rng.choice(JSON_ODDITIES)


def mutate_text(rng: random.Random, text: str) -> str:
    op = rng.randrange(4)
    if op <= 1:
        try:
            value = json.loads(text)
        except ValueError:
            value = {}
        for _ in range(rng.randint(1, 3)):
            value = mutate_json_value(rng, value)
        try:
            return json.dumps(value, ensure_ascii=rng.random() < 0.5)
        except ValueError:
            return text
    if op == 2 and text:  # textual cut
        return text[: rng.randrange(len(text))]
    chars = list(text)  # character noise
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(chars) + 1)
        chars[i:i] = rng.choice(['"', "{", "}", "[", "]", ",", ":", "\\", "\x00", "NaN", "Infinity", "é"])
    return "".join(chars)


def random_input(rng: random.Random) -> bytes | str:
    op = rng.randrange(4)
    if op == 0:
        return rng.randbytes(rng.randint(0, 64))
    if op == 1:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randint(0, 32)))
    if op == 2:
        return json.dumps({"type": rng.choice(["request", "response", "notification", "x"]), "data": {}})
    return bytes([rng.randrange(256)]) + rng.randbytes(rng.randint(0, 8))


# -- hypothesis phase -------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def hypothesis_inputs(binary: list[bytes], texts: list[str]) -> st.SearchStrategy[bytes | str]:
    """Strategies for one input: random values plus structural edits of the golden messages."""
    golden_bytes = st.sampled_from(binary)
    golden_text = st.sampled_from(texts) if texts else st.just("{}")
    keyed = st.fixed_dictionaries(
        {"type": st.sampled_from(["request", "response", "notification"]) | st.text(max_size=8)},
        optional={
            "scope": st.sampled_from(["application", "runtime", "x"]) | JSON_VALUES,
            "data": JSON_VALUES,
            "request_id": JSON_VALUES,
            "id": JSON_VALUES,
        },
    )
    return st.one_of(
        st.binary(max_size=256),
        st.text(max_size=128),
        JSON_VALUES.map(json.dumps),
        keyed.map(json.dumps),
        st.tuples(golden_bytes, st.integers(0, 300), st.binary(max_size=16)).map(
            lambda t: t[0][: t[1]] + t[2]
        ),
        st.tuples(golden_bytes, st.binary(min_size=1, max_size=16)).map(lambda t: t[1] + t[0]),
        st.tuples(golden_text, st.integers(0, 500)).map(lambda t: t[0][: t[1]]),
        st.tuples(golden_text, JSON_VALUES).map(lambda t: _swap_json(t[0], t[1])),
    )


def _swap_json(text: str, value: Any) -> str:
    obj = json.loads(text)
    if isinstance(obj, dict) and obj:
        obj[sorted(obj)[len(str(value)) % len(obj)]] = value
    return json.dumps(obj)


def run_hypothesis(
    stats: Stats, strategy: st.SearchStrategy[bytes | str], examples: int, rng_seed: int
) -> None:
    @seed(rng_seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(raw: bytes | str) -> None:
        stats.feed(raw)

    run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inputs", type=int, default=100_000, help="inputs to generate (each decoded 8 times)"
    )
    parser.add_argument("--hypothesis", type=int, default=20_000, help="of which hypothesis generates")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop the mutation loop after this")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    start = time.monotonic()
    stats = Stats()
    binary, texts = golden_corpus()
    for raw in [*binary, *texts]:
        stats.feed(raw)
    run_hypothesis(stats, hypothesis_inputs(binary, texts), args.hypothesis, args.seed)
    hypothesis_done = stats.inputs

    rng = random.Random(args.seed)
    deadline = start + args.seconds
    while stats.inputs < args.inputs and time.monotonic() < deadline:
        pick = rng.random()
        if pick < 0.55:
            stats.feed(mutate_bytes(rng, rng.choice(binary), binary))
        elif pick < 0.9 and texts:
            raw = mutate_text(rng, rng.choice(texts))
            stats.feed(raw if rng.random() < 0.5 else raw.encode("utf-8", "surrogatepass"))
        else:
            stats.feed(random_input(rng))

    report = {
        "inputs": stats.inputs,
        "decode_calls": stats.calls,
        "golden": len(binary) + len(texts),
        "hypothesis_inputs": hypothesis_done - len(binary) - len(texts),
        "decoded": stats.decoded,
        "decode_errors_by_code": dict(stats.codes),
        "other_exceptions": len(stats.other),
        "seconds": round(time.monotonic() - start, 2),
        "seed": args.seed,
    }
    print(json.dumps(report, indent=2))
    for failure in stats.other[:5]:
        print(failure, file=sys.stderr)
    return 1 if stats.other else 0


if __name__ == "__main__":
    sys.exit(main())
