"""The built-in ``world`` model on its own: prompts give different scenes, the scene moves, the
camera commands move it more, ``set_image`` brings a picture in, bad images are refused.

Render speed is not asserted here (``bench/bench_world.py`` measures it).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openreactor.models.api import CommandError, Frame, Message, UploadedFile
from openreactor.models.builtin import BUILTIN_MODELS
from openreactor.models.builtin.world import WorldModel
from openreactor.models.builtin.world.scene import scene_from_prompt
from openreactor.models.schema import CommandValidator

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

W, H = 320, 180  # small frames keep the tests quick; the scene is the same at any size
PROMPTS = ["a forest at dawn", "ocean at night", "a city in the snow"]
UNKNOWN = "zorblax quintessence mirage"


class FakeContext:
    """Just enough ModelContext for driving ``next_frame`` in a unit test."""

    def __init__(self) -> None:
        self.session_id = "s"
        self.frame_index = 0
        self.messages: list[Message] = []

    def broadcast(self, message: Message) -> None:
        self.messages.append(message)

    def input_frame(self, track: str) -> Frame | None:
        return None


def start(prompt: str | None = None, width: int = W, height: int = H) -> tuple[WorldModel, FakeContext]:
    model = WorldModel(width=width, height=height)
    ctx = FakeContext()
    model.on_session_start(ctx)  # type: ignore[arg-type]
    if prompt is not None:
        model.set_prompt(prompt)
        model.wait_for_scene()
    return model, ctx


def render(model: WorldModel, ctx: FakeContext, n: int) -> list[Frame]:
    frames = []
    for _ in range(n):
        frames.append(model.next_frame(ctx))  # type: ignore[arg-type]
        ctx.frame_index += 1
    return frames


def settled(prompt: str) -> Frame:
    """A frame of ``prompt`` after 1.5 s (past the cross-fade from the default scene)."""
    model, ctx = start(prompt)
    return render(model, ctx, 36)[-1]


def mean_rgb(frame: Frame) -> Any:
    return frame.reshape(-1, 3).astype(np.float64).mean(axis=0)


def structure(frame: Frame) -> Any:
    """Grey image averaged down to 32x18, as a vector."""
    g = frame.astype(np.float64).mean(axis=2)
    h, w = g.shape
    return g[: h - h % 18, : w - w % 32].reshape(18, h // 18, 32, w // 32).mean(axis=(1, 3)).ravel()


def motion(a: Frame, b: Frame) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def assert_distinct(a: Frame, b: Frame, label: str) -> None:
    colour = float(np.linalg.norm(mean_rgb(a) - mean_rgb(b)))
    corr = float(np.corrcoef(structure(a), structure(b))[0, 1])
    assert colour > 20.0, f"{label}: mean colours only {colour:.1f} apart"
    assert corr < 0.9, f"{label}: structure correlates at {corr:.2f}"


@pytest.fixture(scope="module")
def scenes() -> dict[str, Frame]:
    return {p: settled(p) for p in [*PROMPTS, UNKNOWN]}


def test_registered_and_described_as_procedural() -> None:
    assert BUILTIN_MODELS["world"] is WorldModel
    assert "procedural" in WorldModel.description.lower()
    assert "no neural network" in WorldModel.description.lower()
    assert [(t.name, t.kind, t.direction) for t in WorldModel.tracks] == [("main_video", "video", "out")]
    model = WorldModel()
    assert (model.width, model.height, model.fps) == (1280, 720, 24.0)
    assert set(WorldModel.command_specs()) == {"set_prompt", "move", "turn", "set_image", "reset"}


def test_schemas_bound_every_argument() -> None:
    validator = CommandValidator(WorldModel.command_specs())
    assert validator.validate("set_prompt", {"prompt": "a forest"}) == {"prompt": "a forest"}
    assert validator.validate("move", {"forward": 1, "strafe": -0.5})["strafe"] == -0.5
    assert validator.validate("turn", {"yaw": -180, "pitch": 45})["pitch"] == 45
    assert validator.validate("reset", {}) == {}
    bad: list[tuple[str, dict[str, Any]]] = [
        ("set_prompt", {"prompt": ""}),
        ("set_prompt", {"prompt": "x" * 501}),
        ("set_prompt", {"prompt": "   "}),
        ("set_prompt", {}),
        ("move", {"forward": 1.5}),
        ("move", {"strafe": "left"}),
        ("turn", {"yaw": 181}),
        ("turn", {"pitch": -46}),
        ("set_image", {"strength": 0.5}),
        (
            "set_image",
            {"image": {"upload_id": "u", "name": "a", "mime_type": "image/png", "size": 1}, "strength": 2},
        ),
        ("reset", {"now": True}),
    ]
    for name, data in bad:
        with pytest.raises(CommandError) as err:
            validator.validate(name, data)
        assert err.value.code == "invalid_command", (name, data)
    for spec in WorldModel.command_specs().values():
        assert spec.description
        for prop in spec.schema["properties"].values():
            assert prop.get("description"), spec.name


def test_prompts_are_read_by_keywords() -> None:
    forest, ocean, city = (scene_from_prompt(p) for p in PROMPTS)
    assert (forest.terrain, forest.time, forest.weather) == ("forest", "dawn", "clear")
    assert (ocean.terrain, ocean.time) == ("ocean", "night")
    assert (city.terrain, city.weather, city.snowy) == ("city", "snow", True)
    assert scene_from_prompt("rainy desert at sunset").weather == "rain"
    assert scene_from_prompt("golden mountains").accent is not None
    unknown = scene_from_prompt(UNKNOWN)
    assert unknown.accent is not None and unknown == scene_from_prompt(UNKNOWN), "stable"
    assert scene_from_prompt("blorp").seed != scene_from_prompt("blorq").seed


def test_the_three_prompts_give_clearly_different_scenes(scenes: dict[str, Frame]) -> None:
    for i, a in enumerate(PROMPTS):
        for b in PROMPTS[i + 1 :]:
            assert_distinct(scenes[a], scenes[b], f"{a!r} vs {b!r}")


def test_at_full_size_too() -> None:
    """The default 1280x720 (what the screenshots in docs/ show) differs just as clearly."""
    full = {}
    for prompt in PROMPTS:
        model, ctx = start(prompt, width=1280, height=720)
        full[prompt] = render(model, ctx, 30)[-1]
        assert full[prompt].shape == (720, 1280, 3)
    for i, a in enumerate(PROMPTS):
        for b in PROMPTS[i + 1 :]:
            assert_distinct(full[a], full[b], f"{a!r} vs {b!r} at 1280x720")


def test_an_unknown_prompt_gives_a_scene_of_its_own(scenes: dict[str, Frame]) -> None:
    for p in PROMPTS:
        assert_distinct(scenes[UNKNOWN], scenes[p], f"{UNKNOWN!r} vs {p!r}")


def test_scenes_show_what_was_asked(scenes: dict[str, Frame]) -> None:
    forest, ocean, city = (scenes[p].astype(np.float64) for p in PROMPTS)
    lower = slice(H * 2 // 3, H)
    r, g, b = forest[lower].reshape(-1, 3).mean(axis=0)
    assert g > r and g > b, "forest floor is green"
    assert ocean.mean() < 70 and ocean[lower, :, 2].mean() > ocean[lower, :, 0].mean() + 20, "dark blue sea"
    assert city[lower].mean() > 170, "snow on the ground"


def test_the_same_prompt_gives_the_same_frames() -> None:
    a, b = settled("a red desert at dusk"), settled("a red desert at dusk")
    assert np.array_equal(a, b)


def test_the_scene_keeps_moving_without_commands() -> None:
    for prompt in PROMPTS:
        model, ctx = start(prompt)
        frames = render(model, ctx, 24 + 25)[24:]  # one second after the cross-fade began
        steps = [motion(frames[i], frames[i + 1]) for i in range(24)]
        assert min(steps) > 0.1, (prompt, steps)
        assert motion(frames[0], frames[-1]) > 2.0, prompt


def test_moving_the_camera_moves_the_scene_more() -> None:
    model, ctx = start("a forest at dawn")
    idle = render(model, ctx, 48)[24:]
    model.move(forward=1.0, strafe=1.0)
    render(model, ctx, 24)  # speeds ease in
    walking = render(model, ctx, 24)
    idle_motion = np.mean([motion(idle[i], idle[i + 1]) for i in range(23)])
    walk_motion = np.mean([motion(walking[i], walking[i + 1]) for i in range(23)])
    assert walk_motion > 2.5 * idle_motion, (idle_motion, walk_motion)
    model.move()  # stop: still alive (clouds) but calmer than walking
    render(model, ctx, 36)
    still = render(model, ctx, 12)
    assert np.mean([motion(still[i], still[i + 1]) for i in range(11)]) < walk_motion / 2


def row_profile(frame: Frame) -> Any:
    return frame.astype(np.float64).mean(axis=(1, 2))


def best_shift(a: Any, b: Any, max_shift: int) -> int:
    """The vertical shift ``s`` for which ``b[y + s]`` best matches ``a[y]``."""
    errors = {}
    n = len(a)
    for s in range(-max_shift, max_shift + 1):
        lo, hi = max(0, -s), min(n, n - s)
        errors[s] = float(np.mean((a[lo:hi] - b[lo + s : hi + s]) ** 2))
    return min(errors, key=errors.__getitem__)


def test_turning_tilts_the_horizon_and_pans_the_view() -> None:
    model, ctx = start("mountains at noon")
    model.move()  # no drift, so that only the turn changes the view
    before = render(model, ctx, 30)[-1]
    y0 = model.horizon_y
    model.turn(pitch=10.0)  # look up: the horizon goes down
    after = render(model, ctx, 48)[-1]
    moved = model.horizon_y - y0
    assert moved > 0.15 * H, moved
    assert abs(best_shift(row_profile(before), row_profile(after), H // 2) - moved) < 0.05 * H
    model.turn(pitch=-10.0)
    level = render(model, ctx, 48)[-1]
    level_horizon = model.horizon_y
    model.turn(yaw=90.0)
    panned = render(model, ctx, 48)[-1]
    settled_motion = motion(panned, render(model, ctx, 1)[-1])
    assert motion(level, panned) > 8 and motion(level, panned) > 4 * settled_motion
    assert abs(model.horizon_y - level_horizon) < 1.0, "turning sideways keeps the horizon"


def test_extreme_angles_and_sizes_render() -> None:
    model, ctx = start("rainy city at night", width=130, height=97)
    for yaw, pitch in [(180, 45), (-180, 0), (37, -45), (-90, -45), (180, 45)]:
        model.turn(yaw=yaw, pitch=pitch)
        for frame in render(model, ctx, 10):
            assert frame.shape == (97, 130, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize(
    "prompt",
    [
        "space",
        "snowy mountains",
        "foggy plains",
        "desert",
        "neon city",
        "stormy ocean",
        "winter forest at dusk",
    ],
)
def test_every_terrain_and_weather_renders(prompt: str) -> None:
    model, ctx = start(prompt, width=160, height=90)
    model.move(forward=-1, strafe=-1)
    frames = render(model, ctx, 30)
    assert all(f.shape == (90, 160, 3) for f in frames)
    assert motion(frames[-2], frames[-1]) > 0


def upload(path: Path, mime: str = "image/png") -> UploadedFile:
    return UploadedFile("u1", path.name, mime, path.stat().st_size, path)


def test_set_image_brings_the_picture_into_the_scene(tmp_path: Path) -> None:
    magenta = (230, 20, 210)
    picture = Image.new("RGB", (240, 160), magenta)
    for x in range(0, 240, 40):  # some structure, still mostly magenta
        picture.paste((250, 250, 250), (x, 70, x + 12, 90))
    path = tmp_path / "poster.png"
    picture.save(path)
    model, ctx = start("a forest at dawn")
    model.move()
    before = render(model, ctx, 12)[-1]
    reply = model.set_image(upload(path), strength=0.8)
    assert isinstance(reply, Message) and reply.type == "image_set"
    assert reply.data is not None and reply.data["mean_rgb"][0] > 180
    model.wait_for_scene()
    after = render(model, ctx, 36)[-1]
    assert motion(before, after) > 5
    close = np.abs(after.astype(np.int16) - np.asarray(magenta, np.int16)).max(axis=2) < 30
    assert close.mean() > 0.03, f"only {close.mean():.3%} of the frame is the picture's magenta"
    assert close.mean() > 20 * (np.abs(before.astype(np.int16) - np.asarray(magenta)).max(axis=2) < 30).mean()
    # a new prompt keeps the picture
    model.set_prompt("ocean at night")
    model.wait_for_scene()
    later = render(model, ctx, 36)[-1]
    assert (np.abs(later.astype(np.int16) - np.asarray(magenta, np.int16)).max(axis=2) < 30).mean() > 0.03
    # reset removes it
    model.reset()
    model.wait_for_scene()
    gone = render(model, ctx, 36)[-1]
    assert (np.abs(gone.astype(np.int16) - np.asarray(magenta, np.int16)).max(axis=2) < 30).mean() < 0.005


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_bad_images_are_refused(tmp_path: Path) -> None:
    model, ctx = start()
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    truncated = tmp_path / "cut.png"
    buf = tmp_path / "full.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buf)
    truncated.write_bytes(buf.read_bytes()[:60])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(100_000, 100_000))
    big = tmp_path / "big.png"
    big.write_bytes(png_claiming(8000, 6000))  # 48 Mpx: under Pillow's own limit, over ours
    for path in (text, truncated, bomb, big):
        with pytest.raises(CommandError) as err:
            model.set_image(upload(path))
        assert err.value.code == "invalid_image", path.name
    assert model.renderer.billboard is None
    assert render(model, ctx, 2)[-1].shape == (H, W, 3)


def test_set_prompt_replies_with_how_it_was_read_and_reset_restarts() -> None:
    model, ctx = start()
    reply = model.set_prompt("a city in the snow")
    assert reply.type == "scene" and reply.data is not None
    assert (reply.data["terrain"], reply.data["weather"]) == ("city", "snow")
    with pytest.raises(CommandError):
        model.set_prompt("   ")
    model.wait_for_scene()
    model.turn(yaw=45, pitch=20)
    model.move(forward=1)
    render(model, ctx, 24)
    model.reset()
    assert (model.target_yaw, model.target_pitch, model.pos_x, model.pos_z) == (0.0, 0.0, 0.0, 0.0)
    model.wait_for_scene()
    assert model.renderer.spec.terrain == "forest"


def test_scene_changes_cross_fade_instead_of_cutting() -> None:
    model, ctx = start("a forest at dawn")
    last = render(model, ctx, 30)[-1]
    model.set_prompt("a city in the snow")
    model.wait_for_scene()
    fading = render(model, ctx, 30)
    steps = [motion(last, fading[0])] + [motion(fading[i], fading[i + 1]) for i in range(29)]
    total = motion(last, fading[-1])
    assert total > 40, total
    assert max(steps) < total / 4, (max(steps), total)


def test_background_build_keeps_frames_coming() -> None:
    model, ctx = start()
    render(model, ctx, 3)
    model.set_prompt("ocean at night")
    frames = render(model, ctx, 3)  # the old scene goes on while the new one is built
    assert all(f.shape == (H, W, 3) for f in frames)
    model.wait_for_scene()
    assert model.renderer.spec.terrain == "ocean"
    model.on_session_end(ctx)  # type: ignore[arg-type]
